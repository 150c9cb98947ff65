# Pester 5: image files as a pwsh user meets them (issue 9): non-regular files, patterns, -LiteralPath, blank
# names, directories, the image pipeline, damaged set headers, and SIGTERM during a save.

BeforeAll {
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }

    # A child pwsh running $Script with the module: the same runtime as this one (a dotnet tool or an installed pwsh).
    function script:Start-ChildPwsh([string] $Script, [string[]] $Through = @()) {
        $exe = (Get-Process -Id $PID).Path
        $psi = [System.Diagnostics.ProcessStartInfo]::new($(if ($Through) { $Through[0] } else { $exe }))
        if ($Through) { foreach ($a in @($Through | Select-Object -Skip 1) + $exe) { $psi.ArgumentList.Add($a) } }
        if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "Import-Module '$script:Manifest'; $Script") { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardError = $true
        $psi.RedirectStandardOutput = $true
        [System.Diagnostics.Process]::Start($psi)
    }
}

AfterAll {
    Remove-Module VfioMigration -ErrorAction SilentlyContinue
}

Describe 'Image files' {
    BeforeEach {
        Import-Module $script:Manifest -Force
        $script:Dir = Join-Path ([System.IO.Path]::GetTempPath()) "vfio-pester-$([guid]::NewGuid().ToString('N'))"
        $null = New-Item -ItemType Directory -Path $script:Dir
    }
    AfterEach {
        Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'refuses to save onto a FIFO, even with -Force, and leaves it a FIFO' {
        $fifo = Join-Path $script:Dir 'pipe'
        mkfifo $fifo
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path $fifo -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImageNotRegularFile,*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        stat -c %F $fifo | Should -Be 'fifo'
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Running'
    }

    It 'answers at once for a FIFO given as an image and still lists the next file' {
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'good.vfiostate') -KeepRunning
        mkfifo (Join-Path $script:Dir 'pipe.vfiostate')
        $images = Get-VfioStateImage -LiteralPath (Join-Path $script:Dir 'pipe.vfiostate'), (Join-Path $script:Dir 'good.vfiostate') -ErrorVariable err -ErrorAction SilentlyContinue
        @($images).Count | Should -Be 1
        $images.IsValid | Should -BeTrue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImageNotRegularFile,*'
    }

    It 'says ImageNotFound for a pattern that matches nothing, and touches no device' {
        Get-VfioStateImage (Join-Path $script:Dir 'none-*.vfiostate') -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImageNotFound,*'
        Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'none-*.vfiostate') -Force -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -BeLike 'ImageNotFound,*'
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Running'
    }

    It 'names a file with brackets through -LiteralPath' {
        $name = Join-Path $script:Dir 'vm[7].vfiostate'
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath $name
        Test-Path -LiteralPath $name | Should -BeTrue
        (Get-VfioStateImage -LiteralPath $name).IsValid | Should -BeTrue
        (Get-ChildItem -LiteralPath $script:Dir | Get-VfioStateImage).IsValid | Should -BeTrue
        Restore-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath $name -Force
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
    }

    It 'refuses a blank file name' {
        Push-Location -LiteralPath $script:Dir
        try {
            Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path ' ' -ErrorVariable err -ErrorAction SilentlyContinue
        } finally { Pop-Location }
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImagePathInvalid,*'
        @(Get-ChildItem -LiteralPath $script:Dir -Force).Count | Should -Be 0
    }

    It 'says a directory is a directory' {
        Get-VfioStateImage $script:Dir -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImagePathIsDirectory,*'
        $err[0].Exception.Message | Should -BeLike '*is a directory*'
    }

    It 'restores images piped from Get-VfioStateImage by their path' {
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'qat.vfiostate')
        Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Running
        $dev = Get-VfioStateImage (Join-Path $script:Dir 'qat.vfiostate') | Restore-VfioDeviceState -Simulated -Force -PassThru
        $dev.Name | Should -Be '0000:5e:00.1'
        $dev.State | Should -Be 'Stop'
    }

    It 'reports a set image with a damaged header as an error for that file and lists the other' {
        Get-VfioDevice -Simulated '0000:3b:*' | Save-VfioDeviceState -Path $script:Dir -Together
        $first = Join-Path $script:Dir '0000-3b-00.2.vfiostate'
        $bytes = [System.IO.File]::ReadAllBytes($first)
        $at = [System.Text.Encoding]::ASCII.GetString($bytes, 0, 1024).IndexOf('"members"')
        $bytes[$at + 2] = $bytes[$at + 2] -bxor 0x20
        [System.IO.File]::WriteAllBytes($first, $bytes)
        $images = Get-VfioStateImage (Join-Path $script:Dir '*.vfiostate') -ErrorVariable err -ErrorAction SilentlyContinue
        @($images).Count | Should -Be 2
        @($images | Where-Object IsValid).Count | Should -Be 1
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
    }

    It 'reports an unreadable image as PermissionDenied for that file and still lists the next one' {
        $setpriv = Get-Command setpriv -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if (-not $setpriv) { Set-ItResult -Skipped -Because 'setpriv (util-linux) is not installed'; return }
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'locked.vfiostate') -KeepRunning
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'open.vfiostate') -KeepRunning
        chmod 000 (Join-Path $script:Dir 'locked.vfiostate')
        # Root reads any file; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it is held to the mode bits like anyone.
        $child = Start-ChildPwsh "Get-VfioStateImage '$script:Dir/locked.vfiostate', '$script:Dir/open.vfiostate' -ErrorVariable e -ErrorAction SilentlyContinue | ForEach-Object { 'image ' + `$_.FileName }; `$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId }" -Through $setpriv.Source, '--bounding-set', '-dac_override,-dac_read_search'
        $child.WaitForExit(120000) | Should -BeTrue
        $out = $child.StandardOutput.ReadToEnd() -split "`n" | ForEach-Object Trim | Where-Object { $_ }
        $out | Should -Contain 'image open.vfiostate'
        $out | Should -Contain 'error PermissionDenied,VfioMigration.PowerShell.Commands.GetVfioStateImageCommand'
        $child.StandardError.ReadToEnd() | Should -Not -BeLike '*UnauthorizedAccessException*'
    }

    It 'treats SIGTERM during a save like Ctrl+C: no temporary file is left and the process exits 143' {
        $target = Join-Path $script:Dir 'big.vfiostate'
        $child = Start-ChildPwsh "`$null = New-VfioSimulatedDevice -Address 0000:90:00.0 -MemorySize 2GB; Save-VfioDeviceState -Simulated 0000:90:00.0 -Path '$target'"
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while (-not (Get-ChildItem -LiteralPath $script:Dir -Force -Filter '*.partial') -and -not $child.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        $child.HasExited | Should -BeFalse -Because 'the save must still be running when SIGTERM comes'
        kill -TERM $child.Id
        $child.WaitForExit(60000) | Should -BeTrue
        $stderr = $child.StandardError.ReadToEnd()
        $child.ExitCode | Should -Be 143
        $stderr | Should -BeLike '*terminated by SIGTERM after cleaning up*'
        $stderr | Should -BeLike '*is in Running*'
        @(Get-ChildItem -LiteralPath $script:Dir -Force).Name | Should -BeNullOrEmpty
    }
}
