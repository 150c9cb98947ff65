# Pester 5: QEMU migration streams and libvirt save files as a pwsh user meets them (issue 18): listing a stream
# QEMU wrote, writing saved state into a template QEMU's layout, restoring from it through Restore-VfioDeviceState,
# refusals, and the 80-column view.

BeforeAll {
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    $script:Fixtures = Join-Path $PSScriptRoot 'fixtures' 'qemu'
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
        $written = Export-VfioQemuStream -Path $image -Template $script:Template -Destination $out
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
}
