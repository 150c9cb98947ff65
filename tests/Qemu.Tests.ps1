# Pester 5: QEMU migration streams and libvirt save files as a pwsh user meets them (issue 18): listing a stream
# QEMU wrote, writing saved state into a template QEMU's layout, restoring from it through Restore-VfioDeviceState,
# refusals, and the 80-column view.

BeforeAll {
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    $script:Fixtures = Join-Path $PSScriptRoot 'fixtures' 'qemu'

    # A child pwsh running $Script with the module: the same runtime as this one, started directly (not through
    # the dotnet tool's muxer and shim), so a signal sent to it reaches pwsh itself.
    function script:Start-ChildPwsh([string] $Script) {
        $exe = (Get-Process -Id $PID).Path
        $psi = [System.Diagnostics.ProcessStartInfo]::new($exe)
        if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "`$PSStyle.OutputRendering = 'PlainText'; Import-Module '$script:Manifest'; $Script") { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardError = $true
        $psi.RedirectStandardOutput = $true
        [System.Diagnostics.Process]::Start($psi)
    }
}

AfterAll {
    Remove-Module VfioMigration -ErrorAction SilentlyContinue
}

Describe 'QEMU streams' {
    BeforeEach {
        Import-Module $script:Manifest -Force
        $script:Dir = Join-Path ([System.IO.Path]::GetTempPath()) "vfio-qemu-pester-$([guid]::NewGuid().ToString('N'))"
        $null = New-Item -ItemType Directory -Path $script:Dir
        $script:Template = Join-Path $script:Fixtures 'template-8086-4941.mig'
    }
    AfterEach {
        Reset-VfioDevice -Simulated 0000:5e:00.1 -Force -Confirm:$false -ErrorAction SilentlyContinue
        Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'walks a stream QEMU 10.0.2 wrote, which holds no VFIO section, without an error' {
        $list = @(Get-VfioStateImage -LiteralPath (Join-Path $script:Fixtures 'qemu-10.0.2-q35-32m.mig') -ErrorVariable err)
        $err | Should -BeNullOrEmpty
        $list.Count | Should -Be 0
    }

    It 'writes saved state into a template and restores it from the new stream' {
        $image = Join-Path $script:Dir 'qat.vfiostate'
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path $image -KeepRunning
        $saved = Get-VfioStateImage $image
        $out = Join-Path $script:Dir 'vm.mig'
        $written = Export-VfioQemuStream -Path $image -Template $script:Template -Destination $out -PassThru
        $written.SourceFormat | Should -Be 'QemuStream'
        $written.Section | Should -Be '0000:00:04.0/vfio'
        $written.DataBytes | Should -Be $saved.DataBytes
        $listed = Get-VfioStateImage $out
        $listed.VendorId | Should -Be '8086'
        $listed.DeviceId | Should -Be '4941'
        $listed.IsComplete | Should -BeTrue
        $listed.IsValid | Should -BeTrue
        Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path $out -Force
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
    }

    It 'refuses a template of another device and writes nothing' {
        $image = Join-Path $script:Dir 'cx7.vfiostate'
        Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path $image -KeepRunning
        $out = Join-Path $script:Dir 'vm.mig'
        Export-VfioQemuStream -Path $image -Template $script:Template -Destination $out -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'QemuTemplateMismatch*'
        $err[0].Exception.Message | Should -BeLike "*vendorId is '8086'*"
        Test-Path -LiteralPath $out | Should -BeFalse
    }

    It 'refuses a damaged stream, naming the file, and touches no device' {
        $bad = Join-Path $script:Dir 'bad.mig'
        $bytes = [System.IO.File]::ReadAllBytes($script:Template)
        $bytes[8] = 0x09
        [System.IO.File]::WriteAllBytes($bad, $bytes)
        Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path $bad -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'Qemu*'
        $err[0].Exception.Message | Should -BeLike "*bad.mig*"
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Running'
    }

    It 'names the sections there are when -Section names one that is not' {
        Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path $script:Template -Section 0000:00:09.0 -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'QemuSectionNotFound*'
        $err[0].Exception.Message | Should -BeLike '*0000:00:04.0*'
    }

    It 'shows a section in 80 columns' {
        $text = Get-VfioStateImage $script:Template | Out-String -Width 80
        $text | Should -Match '0000:00:04.0'
        ($text -split "`n" | Where-Object { $_.TrimEnd().Length -gt 80 }) | Should -BeNullOrEmpty
    }

    # newuser finding 7: action cmdlets write nothing unless -PassThru.
    It 'writes nothing to the pipeline without -PassThru' {
        $image = Join-Path $script:Dir 'qat.vfiostate'
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path $image -KeepRunning
        $out = Join-Path $script:Dir 'vm.mig'
        $written = @(Export-VfioQemuStream -Path $image -Template $script:Template -Destination $out -ErrorAction Stop)
        $written.Count | Should -Be 0
        (Get-VfioStateImage -LiteralPath $out).IsValid | Should -BeTrue
    }

    # Attack finding 6: a pattern was narrowed to its first match, and a literal name with brackets matched another file.
    It 'refuses a -Path pattern that matches more than one file, naming them, and writes nothing' {
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'a.vfiostate') -KeepRunning
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'b.vfiostate') -KeepRunning
        $out = Join-Path $script:Dir 'vm.mig'
        Export-VfioQemuStream -Path (Join-Path $script:Dir '*.vfiostate') -Template $script:Template -Destination $out -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImagePathAmbiguous,*'
        $err[0].Exception.Message | Should -BeLike '*matches 2 files*a.vfiostate*b.vfiostate*'
        Test-Path -LiteralPath $out | Should -BeFalse
        Export-VfioQemuStream -Path (Join-Path $script:Dir 'a.*') -Template $script:Template -Destination $out -ErrorAction Stop
        (Get-VfioStateImage -LiteralPath $out).IsValid | Should -BeTrue
    }

    It 'takes -Template and -LiteralPath as they are: brackets name that file, never another one they match' {
        $image = Join-Path $script:Dir 'qat[1].vfiostate'
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath $image -KeepRunning
        Copy-Item -LiteralPath $script:Template -Destination (Join-Path $script:Dir 'vm[1].mig')
        # vm1.mig is what the pattern vm[1].mig matches: a stream of another device, which must stay untouched.
        $other = Join-Path $script:Dir 'vm1.mig'
        Copy-Item -LiteralPath (Join-Path $script:Fixtures 'qemu-10.0.2-mtty-scr77-lcr03-ABCXYZ.mig') -Destination $other
        $out = Join-Path $script:Dir 'out.mig'
        $written = Export-VfioQemuStream -LiteralPath $image -Template (Join-Path $script:Dir 'vm[1].mig') -Destination $out -PassThru -ErrorAction Stop
        $written.Section | Should -Be '0000:00:04.0/vfio'
        $written.VendorId | Should -Be '8086'
        (Get-ChildItem -LiteralPath $image | Export-VfioQemuStream -Template (Join-Path $script:Dir 'vm[1].mig') -Destination $out -Force -PassThru -ErrorAction Stop).IsValid | Should -BeTrue
        (Get-VfioStateImage -LiteralPath $image | Export-VfioQemuStream -Template (Join-Path $script:Dir 'vm[1].mig') -Destination $out -Force -PassThru -ErrorAction Stop).IsValid | Should -BeTrue
    }

    # Attack finding 1: Export ran outside RunTerminable, so SIGTERM ended pwsh mid-write, leaving gigabytes and the lock.
    It 'cleans up after <Signal> during an export: no temporary or lock file is left and the process exits <Code>' -ForEach @(
        @{ Signal = 'TERM'; Code = 143 }
        @{ Signal = 'HUP'; Code = 129 }
    ) {
        $src = Join-Path $script:Dir 'src'
        $dst = Join-Path $script:Dir 'dst'
        $null = New-Item -ItemType Directory -Path $src, $dst
        $target = Join-Path $dst 'vm.mig'
        $child = Start-ChildPwsh "`$null = New-VfioSimulatedDevice -Address 0000:91:00.0 -VendorId 8086 -DeviceId 4941 -MemorySize 1GB; Save-VfioDeviceState -Simulated 0000:91:00.0 -Path '$src/big.vfiostate' -KeepRunning -ErrorAction Stop; Export-VfioQemuStream -Path '$src/big.vfiostate' -Template '$script:Template' -Destination '$target'; 'not reached'"
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        while (-not (Get-ChildItem -LiteralPath $dst -Force -Filter '*.partial') -and -not $child.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        $child.HasExited | Should -BeFalse -Because 'the export must still be running when the signal comes'
        kill "-$Signal" $child.Id
        $child.WaitForExit(60000) | Should -BeTrue
        $stderr = $child.StandardError.ReadToEnd()
        $child.StandardOutput.ReadToEnd() | Should -Not -BeLike '*not reached*'
        $child.ExitCode | Should -Be $Code
        $stderr | Should -BeLike "*Export-VfioQemuStream: terminated by SIG$Signal after cleaning up*"
        @(Get-ChildItem -LiteralPath $dst -Force).Name | Should -BeNullOrEmpty
    }

    # Attack finding 5e: a typed -Section went into the error raw, where typed device names are escaped.
    It 'shows a typed -Section with its escapes written out' {
        Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path $script:Template -Section "`e]0;PWN`a`e[2J" -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'QemuSectionNotFound*'
        $err[0].Exception.Message.Contains("no VFIO section '\u001B]0;PWN\u0007\u001B[2J'") | Should -BeTrue -Because $err[0].Exception.Message
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Running'
    }
}

