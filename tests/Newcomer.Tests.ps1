# Pester 5: what a new user sees in a terminal (issue 17 item 11), in real pwsh: the help's related links, the
# conformance suite's file, a damaged image's row. The objects behind them are checked by NewcomerReportTests.cs.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'tools' 'ChildPwsh.psm1') -Force
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    Import-Module $script:Manifest -Force
    $script:Dir = [IO.Directory]::CreateTempSubdirectory('vfio-newcomer-').FullName
}

AfterAll {
    Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Module VfioMigration, ChildPwsh -ErrorAction SilentlyContinue
}

Describe 'What a new user sees' {
    It 'Get-Help <_> -Full lists the online version and the related commands' -ForEach @(
        'Get-VfioDevice', 'Set-VfioDeviceState', 'Reset-VfioDevice', 'Save-VfioDeviceState', 'Restore-VfioDeviceState', 'Get-VfioStateImage',
        'Test-VfioMigration', 'Test-VfioMigrationConformance', 'Get-VfioConformanceSuite', 'New-VfioSimulatedDevice', 'Remove-VfioSimulatedDevice',
        'Add-VfioSimulatedFault', 'Clear-VfioSimulatedFault') {
        $text = (Get-Help $_ -Full | Out-String -Width 200) -replace '\r', ''
        $related = $text.Substring($text.IndexOf('RELATED LINKS'))
        $project = (Get-Module VfioMigration).PrivateData.PSData.ProjectUri
        $related | Should -Match ([regex]::Escape("Online Version: $project"))
        $related | Should -Match 'about_VfioMigration'
        ($related -split "`n" | Where-Object { $_ -match '\S' }).Count | Should -BeGreaterOrEqual 4
    }

    It 'Get-VfioConformanceSuite shows the file as Get-Item does, not a blank row' {
        $suite = Get-VfioConformanceSuite
        $shown = Get-VfioConformanceSuite | Out-String -Width 150
        $shown | Should -Be (Get-Item -LiteralPath $suite.FullName | Out-String -Width 150)
        $shown | Should -Match ([regex]::Escape("Directory: $($suite.DirectoryName)"))
        $shown | Should -Match "\b$($suite.Length)\b"
    }

    It 'a damaged image shows its problem and nothing that was not read' {
        $path = Join-Path $script:Dir 'damaged.vfiostate'
        [IO.File]::WriteAllBytes($path, [byte[]](1..8))
        $row = (Get-VfioStateImage -LiteralPath $path -ErrorAction SilentlyContinue | Out-String -Width 150) -split "`n" | Where-Object { $_ -like 'damaged.vfiostate*' }
        $row | Should -Not -BeNullOrEmpty
        $row | Should -Not -Match '\b0 B\b'
        $row | Should -Not -Match '0\.0 ms'
        $list = Get-VfioStateImage -LiteralPath $path -ErrorAction SilentlyContinue | Format-List * | Out-String -Width 150
        $list | Should -Not -Match '0001'
        $list | Should -Not -Match 'Kind\s*: Pci'
        $list | Should -Match 'Problem\s*: \S'
    }

    It 'an image damaged after its header shows no data size it could not verify' {
        # One flipped byte in the data: the row read 'Data 0 B' though the image holds its data.
        $path = Join-Path $script:Dir 'flipped.vfiostate'
        New-VfioSimulatedDevice -Address 0000:61:00.0 -MemorySize 16KB -Confirm:$false | Out-Null
        try {
            Save-VfioDeviceState -Simulated 0000:61:00.0 -Path $path -KeepRunning -Confirm:$false
            $bytes = [IO.File]::ReadAllBytes($path); $bytes[$bytes.Length - 200] = $bytes[$bytes.Length - 200] -bxor 0xFF; [IO.File]::WriteAllBytes($path, $bytes)
            $i = Get-VfioStateImage -LiteralPath $path -ErrorAction SilentlyContinue
            $i.IsValid | Should -BeFalse
            $i.DeviceName | Should -Be '0000:61:00.0' -Because 'the header was read'
            $i.DataBytes | Should -BeNullOrEmpty
            $row = ($i | Out-String -Width 150) -split "`n" | Where-Object { $_ -like 'flipped.vfiostate*' }
            $row | Should -Match '^flipped\.vfiostate +False +0000:61:00\.0 +-?$'
        } finally { Remove-VfioSimulatedDevice -Address 0000:61:00.0 -Confirm:$false }
    }

    It 'a QEMU stream shows no Created time it did not read' {
        # Created was the file's mtime, which reads like the time of the save.
        $copy = Join-Path $script:Dir 'template.mig'
        Copy-Item -LiteralPath (Join-Path $PSScriptRoot 'fixtures' 'qemu' 'template-8086-4941.mig') -Destination $copy
        (Get-Item -LiteralPath $copy).LastWriteTime = [datetime]'2020-01-01'
        $i = Get-VfioStateImage -LiteralPath $copy
        $i.IsValid | Should -BeTrue
        $i.Created | Should -BeNullOrEmpty
    }

    It 'README''s <Name> sample is what real pwsh prints at 80 columns' -ForEach @(
        @{ Name = 'conformance'; First = 'PS> Test-VfioMigrationConformance -Simulated -Address 0000:5e:00.1'; Directory = '.' }
        @{ Name = 'QEMU template'; First = 'PS> Get-VfioStateImage ./template-8086-4941.mig'; Directory = 'tests/fixtures/qemu' }
    ) {
        # The README showed counts and rows of an older suite and view (58 checks where the suite runs 63).
        $root = Join-Path $PSScriptRoot '..'
        $readme = (Get-Content -Raw -LiteralPath (Join-Path $root 'README.md')) -replace '\r', ''
        $blocks = @(); $inside = $false
        foreach ($line in $readme -split "`n") {
            if ($line.StartsWith('```')) { $inside = -not $inside; if ($inside) { $blocks += , [Collections.Generic.List[string]]::new() } }
            elseif ($inside) { $blocks[-1].Add($line) }
        }
        $block = $blocks | ForEach-Object { $_ -join "`n" } | Where-Object { $_.StartsWith($First) } | Select-Object -First 1
        $block | Should -Not -BeNullOrEmpty -Because "README.md has a sample starting with '$First'"
        # Each PS> line with the lines after it, blank lines aside (the README keeps pwsh's, a test need not).
        $expected = @(); $commands = @()
        foreach ($line in $block -split "`n") {
            if ($line.StartsWith('PS> ')) { $commands += $line.Substring(4); $expected += , [Collections.Generic.List[string]]::new() }
            elseif ($line.Trim()) { $expected[-1].Add($line.TrimEnd()) }
        }
        # Statement by statement, each formatted on its own as at a prompt (an assignment prints only its host lines).
        $script = "`$ProgressPreference = 'SilentlyContinue'; Import-Module '$((Resolve-Path -LiteralPath $script:Manifest).ProviderPath)'`n" + (($commands | ForEach-Object {
            "Write-Host '@@@'`n" + $(if ($_ -match '^\$\w+ = ') { $_ } else { "$_ | Out-Host" }) }) -join "`n")
        $run = Invoke-ChildPwsh -Command $script -WorkingDirectory (Join-Path $root $Directory)
        $run.ExitCode | Should -Be 0 -Because $run.Errors
        $actual = @(($run.Output -replace '\r', '') -split '@@@\n' | Select-Object -Skip 1)
        $actual.Count | Should -Be $commands.Count
        for ($i = 0; $i -lt $commands.Count; $i++) {
            $got = @($actual[$i] -split "`n" | Where-Object { $_.Trim() } | ForEach-Object TrimEnd)
            ($got -join "`n") | Should -Be ($expected[$i] -join "`n") -Because "README.md shows what 'PS> $($commands[$i])' prints"
        }
    }

    It 'about_VfioMigration names every cmdlet under SEE ALSO, and QEMU streams and the conformance suite in its text' {
        # It lacked Export-VfioQemuStream, QEMU streams and the conformance suite.
        $about = (Get-Help about_VfioMigration | Out-String -Width 200) -replace '\r', ''
        $seeAlso = ($about -split 'SEE ALSO')[-1]
        foreach ($name in (Get-Command -Module VfioMigration -CommandType Cmdlet).Name) { $seeAlso | Should -Match "\b$name\b" -Because "SEE ALSO names $name" }
        $about | Should -Match 'QEMU MIGRATION STREAMS AND LIBVIRT SAVE FILES'
        $about | Should -Match 'Test-VfioMigrationConformance checks a device'
        $help = Get-Help Get-VfioStateImage -Full
        ($help.description.Text -join ' ') | Should -Match 'one object per VFIO device section'
        ($help.alertSet.alert.Text -join ' ') | Should -Not -Match 'stays open for the life of the runspace' -Because 'Get-VfioStateImage opens no device'
    }

    It 'Remove-Module -WarningAction SilentlyContinue prints no warning; without it the warning is printed' {
        $manifest = (Resolve-Path -LiteralPath $script:Manifest).ProviderPath
        $stop = "Import-Module '$manifest'; Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop -Confirm:`$false"
        $quiet = Invoke-ChildPwsh -Command "$stop; Remove-Module VfioMigration -WarningAction SilentlyContinue; 'removed'"
        $quiet.ExitCode | Should -Be 0 -Because $quiet.Errors
        $quiet.Output | Should -Match 'removed'
        "$($quiet.Output)$($quiet.Errors)" | Should -Not -Match 'Closing simulated device'
        $loud = Invoke-ChildPwsh -Command "$stop; Remove-Module VfioMigration; 'removed'"
        "$($loud.Output)$($loud.Errors)" | Should -Match 'WARNING: Closing simulated device 0000:5e:00\.1'
    }
}
