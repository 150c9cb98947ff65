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
