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

    # Issue 17 item 12: every open of an image is the checked one, also the single restore's look-up of its set.
    It 'refuses a FIFO or a socket given to Restore at once, alone and with -Together, and touches no device' {
        $fifo = Join-Path $script:Dir 'pipe.vfiostate'
        mkfifo $fifo
        $sockPath = Join-Path $script:Dir 'sock.vfiostate'
        $socket = [System.Net.Sockets.Socket]::new([System.Net.Sockets.AddressFamily]::Unix, [System.Net.Sockets.SocketType]::Stream, [System.Net.Sockets.ProtocolType]::Unspecified)
        try {
            $socket.Bind([System.Net.Sockets.UnixDomainSocketEndPoint]::new($sockPath))
            foreach ($case in @("-Path '$fifo'", "-Path '$fifo' -Together", "-LiteralPath '$sockPath'", "-LiteralPath '$sockPath' -Together")) {
                $child = Start-ChildPwsh "Restore-VfioDeviceState -Simulated 0000:5e:00.1 $case -Force -Confirm:`$false -ErrorVariable e -ErrorAction SilentlyContinue; `$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId }; 'state ' + (Get-VfioDevice -Simulated 0000:5e:00.1).State"
                $exited = $child.WaitForExit(60000)
                if (-not $exited) { $child.Kill($true) }
                $exited | Should -BeTrue -Because "Restore $case must not wait on what is not a regular file"
                $out = $child.StandardOutput.ReadToEnd() -split "`n" | ForEach-Object Trim | Where-Object { $_ }
                $out | Should -Contain 'error ImageNotRegularFile,VfioMigration.PowerShell.Commands.RestoreVfioDeviceStateCommand' -Because "Restore $case"
                $out | Should -Contain 'state Running'
                $child.StandardError.ReadToEnd() | Should -Not -BeLike '*Exception*'
            }
        }
        finally { $socket.Dispose() }
    }

    It 'reports an unreadable image given to Restore as PermissionDenied' {
        $setpriv = Get-Command setpriv -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if (-not $setpriv) { Set-ItResult -Skipped -Because 'setpriv (util-linux) is not installed'; return }
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'locked.vfiostate') -KeepRunning
        chmod 000 (Join-Path $script:Dir 'locked.vfiostate')
        $child = Start-ChildPwsh "Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '$script:Dir/locked.vfiostate' -Force -Confirm:`$false -ErrorVariable e -ErrorAction SilentlyContinue; `$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId }" -Through $setpriv.Source, '--bounding-set', '-dac_override,-dac_read_search'
        $child.WaitForExit(120000) | Should -BeTrue
        $out = $child.StandardOutput.ReadToEnd() -split "`n" | ForEach-Object Trim | Where-Object { $_ }
        $out | Should -Contain 'error PermissionDenied,VfioMigration.PowerShell.Commands.RestoreVfioDeviceStateCommand'
        $child.StandardError.ReadToEnd() | Should -Not -BeLike '*Exception*'
    }

    # Issue 17 item 14: device addresses contain colons, and so do the file names people give them.
    It 'saves, lists and restores an image whose relative name has a colon' {
        Push-Location -LiteralPath $script:Dir
        try {
            Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '0000:5e:00.1.vfiostate' -KeepRunning -ErrorAction Stop
            Test-Path -LiteralPath (Join-Path $script:Dir '0000:5e:00.1.vfiostate') | Should -BeTrue
            (Get-VfioStateImage -Path '0000:5e:00.1.vfiostate' -ErrorAction Stop).IsValid | Should -BeTrue
            (Get-VfioStateImage -LiteralPath '0000:5e:00.1.vfiostate' -ErrorAction Stop).IsValid | Should -BeTrue
            @(Get-VfioStateImage -Path '0000:5e:00.1.*' -ErrorAction Stop).Count | Should -Be 1
            Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '0000:5e:00.1.vfiostate' -Force -Confirm:$false -ErrorAction Stop
            (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
        }
        finally { Pop-Location }
    }

    It 'refuses one device named twice in a -Together save with a module error and leaves nothing behind' {
        $a = Join-Path $script:Dir 'a.vfiostate'
        $b = Join-Path $script:Dir 'b.vfiostate'
        Save-VfioDeviceState -Simulated 0000:5e:00.1, 0000:5e:00.1 -Path $a, $b -Together -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -BeGreaterThan 0
        $err | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'DeviceListedTwice,*' }
        @(Get-ChildItem -LiteralPath $script:Dir -Force).Name | Should -BeNullOrEmpty
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path $a -KeepRunning -ErrorAction Stop
        (Get-VfioStateImage -LiteralPath $a).IsValid | Should -BeTrue
    }

    # Issue 17 item 13: a signal that comes after the commit point (the rename) cannot undo the save, so it is reported done.
    It 'reports a save that SIGTERM reached during the rename as done, not as cleaned up' {
        $target = Join-Path $script:Dir 'late.vfiostate'
        $hook = @'
$core = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'VfioMigration.Core' } | Select-Object -First 1
$field = $core.GetType('VfioMigration.Images.AtomicFile').GetField('FailForTests', [System.Reflection.BindingFlags]'Static,NonPublic')
# C#, not a script block: the image's writes run on pool threads, where no runspace can run a script block.
Add-Type -TypeDefinition 'public static class LateSignal {
    public static System.Func<string, int> Create() => step => {
        if (step == "rename") { System.Diagnostics.Process.Start("kill", "-TERM " + System.Environment.ProcessId).WaitForExit(); System.Threading.Thread.Sleep(500); }
        return 0;
    };
}'
$field.GetValue($null).Value = [LateSignal]::Create()
'@
        $child = Start-ChildPwsh "$hook; Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '$target'; 'not reached'"
        $child.WaitForExit(120000) | Should -BeTrue
        $stdout = $child.StandardOutput.ReadToEnd()
        $stderr = $child.StandardError.ReadToEnd()
        $child.ExitCode | Should -Be 143
        $stdout | Should -Not -BeLike '*not reached*'
        $stderr | Should -Not -BeLike '*after cleaning up*'
        $stderr | Should -BeLike "*0000:5e:00.1*saved to $target*"
        $stderr | Should -BeLike '*already complete*'
        Test-Path -LiteralPath $target | Should -BeTrue
        (Get-VfioStateImage -LiteralPath $target).IsValid | Should -BeTrue
        @(Get-ChildItem -LiteralPath $script:Dir -Force).Name | Should -Be @('late.vfiostate')
    }

    It 'reports a save that Ctrl+C (SIGINT) reached during the rename as complete' {
        $target = Join-Path $script:Dir 'late.vfiostate'
        $hook = @'
$core = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'VfioMigration.Core' } | Select-Object -First 1
$field = $core.GetType('VfioMigration.Images.AtomicFile').GetField('FailForTests', [System.Reflection.BindingFlags]'Static,NonPublic')
Add-Type -TypeDefinition 'public static class LateInterrupt {
    public static System.Func<string, int> Create() => step => {
        if (step == "rename") { System.Diagnostics.Process.Start("kill", "-INT " + System.Environment.ProcessId).WaitForExit(); System.Threading.Thread.Sleep(500); }
        return 0;
    };
}'
$field.GetValue($null).Value = [LateInterrupt]::Create()
'@
        $child = Start-ChildPwsh "$hook; Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '$target'; 'not reached'"
        $child.WaitForExit(120000) | Should -BeTrue
        $stdout = $child.StandardOutput.ReadToEnd()
        $stderr = $child.StandardError.ReadToEnd()
        $stdout | Should -Not -BeLike '*not reached*'
        $stderr | Should -BeLike "*Ctrl+C came too late to undo this, so it is complete: 0000:5e:00.1 saved to $target*"
        (Get-VfioStateImage -LiteralPath $target).IsValid | Should -BeTrue
        @(Get-ChildItem -LiteralPath $script:Dir -Force).Name | Should -Be @('late.vfiostate')
    }

    It 'cleans up after SIGHUP like after SIGTERM: no temporary or lock file is left and the process exits 129' {
        $target = Join-Path $script:Dir 'big.vfiostate'
        $child = Start-ChildPwsh "`$null = New-VfioSimulatedDevice -Address 0000:90:00.0 -MemorySize 2GB; Save-VfioDeviceState -Simulated 0000:90:00.0 -Path '$target'"
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while (-not (Get-ChildItem -LiteralPath $script:Dir -Force -Filter '*.partial') -and -not $child.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        $child.HasExited | Should -BeFalse -Because 'the save must still be running when SIGHUP comes'
        kill -HUP $child.Id
        $child.WaitForExit(60000) | Should -BeTrue
        $stderr = $child.StandardError.ReadToEnd()
        $child.ExitCode | Should -Be 129
        $stderr | Should -BeLike '*terminated by SIGHUP after cleaning up*'
        $stderr | Should -BeLike '*is in Running*'
        @(Get-ChildItem -LiteralPath $script:Dir -Force).Name | Should -BeNullOrEmpty
    }

    # A write past the process's file size limit raised SIGXFSZ, whose default action killed pwsh mid-save (exit
    # 153), leaving the .partial and .lock files; handled, the write fails with EFBIG and the save cleans up.
    It 'fails a save past the file size limit (ulimit -f) with the module''s error, cleans up and leaves the device running' {
        $target = Join-Path $script:Dir 'limited.vfiostate'
        # The runtime's W^X double mapping is itself a file the limit applies to: without turning it off, a 3 MB
        # limit stops the runtime before the module loads.
        $limit = @('/bin/bash', '-c', 'export DOTNET_EnableWriteXorExecute=0; ulimit -f 3000; exec "$@"', 'bash')
        $child = Start-ChildPwsh "`$null = New-VfioSimulatedDevice -Address 0000:91:00.0 -MemorySize 64MB; Save-VfioDeviceState -Simulated 0000:91:00.0 -Path '$target' -ErrorVariable e -ErrorAction SilentlyContinue; `$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId + ' ' + `$_.Exception.Message }; 'state ' + (Get-VfioDevice -Simulated 0000:91:00.0).State" -Through $limit
        $child.WaitForExit(120000) | Should -BeTrue
        $stdout = $child.StandardOutput.ReadToEnd()
        $child.ExitCode | Should -Be 0 -Because $child.StandardError.ReadToEnd()
        $stdout | Should -Match 'error ImageWriteFailed,'
        $stdout | Should -Match 'EFBIG'
        $stdout | Should -Match 'RLIMIT_FSIZE'
        $stdout | Should -Match 'state Running'
        @(Get-ChildItem -LiteralPath $script:Dir -Force).Name | Should -BeNullOrEmpty
    }

    # Attack finding 5d: a file dropped in an image directory drove the terminal through FileName and every message.
    It 'shows a file name with escapes written out, in FileName, -WhatIf and errors, and keeps Path exact for the pipeline' {
        $name = "x`e]0;PWNED`a`e[2J`u{202E}.vfiostate"
        $image = Join-Path $script:Dir $name
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath $image -KeepRunning -ErrorAction Stop
        $listed = Get-VfioStateImage -LiteralPath $image
        $listed.FileName | Should -BeExactly 'x\u001B]0;PWNED\u0007\u001B[2J\u202E.vfiostate'
        $listed.Path | Should -BeExactly $image
        ($listed | Out-String) | Should -Not -Match '[\x00-\x09\x0b-\x1f\x7f\u202e]' -Because 'the table shows no control character but its line ends'
        # The exact Path pipes back: the device takes the image, though its name has brackets and escapes.
        $listed | Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Force -Confirm:$false -ErrorAction Stop
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
        Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Running -Confirm:$false

        $bad = Join-Path $script:Dir "y`e[31m`nFAKE.vfiostate"
        [System.IO.File]::WriteAllBytes($bad, [byte[]](1, 2, 3))
        Get-VfioStateImage -LiteralPath $bad -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].ErrorDetails.Message.Contains('y\u001B[31m\u000AFAKE.vfiostate') | Should -BeTrue -Because $err[0].ErrorDetails.Message
        $err[0].Exception.Message | Should -BeLike "*$([char]27)*"
        ($err[0] | Out-String) | Should -Not -Match '\x1b'
        # -WhatIf writes to the host itself: a child's output is where to look.
        $child = Start-ChildPwsh "Save-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath `"$script:Dir/z``e[2J.vfiostate`" -WhatIf"
        $child.WaitForExit(60000) | Should -BeTrue
        $stdout = $child.StandardOutput.ReadToEnd()
        $stdout.Contains('z\u001B[2J.vfiostate') | Should -BeTrue -Because $stdout
        $stdout | Should -Not -Match '\x1b\[2J'
    }
}

