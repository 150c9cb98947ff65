# Pester 5: two hypervisors over real SSH remoting. A private sshd on 127.0.0.1 (tests/tools/TestSshServer.psm1)
# runs a pwsh per session; each session is a hypervisor with its own simulated host, importing VfioMigration by
# name from a module path that holds the module under test. Skipped, saying why, only where sshd cannot run.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'tools' 'TestSshServer.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'tools' 'ChildPwsh.psm1') -Force
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    # Here too: the format data shows what comes back from the hosts.
    Import-Module $script:Manifest -Force
    $script:Width = $Host.UI.RawUI.BufferSize.Width
    # Copy-Item's and the remote cmdlets' progress would repaint the terminal the suite reports to.
    $ProgressPreference = 'SilentlyContinue'
    $script:Unavailable = Get-SshServerUnavailableReason
    if ($script:Unavailable) { return }

    # The hosts import the module by name, as an installed one: a module path with the module under test in it.
    $script:Modules = [IO.Directory]::CreateTempSubdirectory('vfio-fleet-modules-').FullName
    $null = New-Item -ItemType SymbolicLink -Path (Join-Path $script:Modules 'VfioMigration') -Target (Split-Path -Parent (Resolve-Path $script:Manifest).ProviderPath)
    $script:Server = Start-TestSshServer -Environment @{ PSModulePath = $script:Modules }
    $script:A = New-TestSshSession $script:Server -Name hv-a
    $script:B = New-TestSshSession $script:Server -Name hv-b
    Invoke-Command $script:A, $script:B { Import-Module VfioMigration -ErrorAction Stop }
}

AfterAll {
    if (Get-Variable -Scope Script -Name A -ErrorAction SilentlyContinue) { Remove-PSSession $script:A, $script:B -ErrorAction SilentlyContinue }
    if (Get-Variable -Scope Script -Name Server -ErrorAction SilentlyContinue) {
        Stop-TestSshServer $script:Server
        $script:Server.Process.HasExited | Should -BeTrue
        Test-Path -LiteralPath $script:Server.Directory | Should -BeFalse
    }
    if (Get-Variable -Scope Script -Name Modules -ErrorAction SilentlyContinue) { Remove-Item -LiteralPath $script:Modules -Recurse -Force }
    Remove-Module VfioMigration, TestSshServer, ChildPwsh -ErrorAction SilentlyContinue
}

Describe 'A fleet of two hypervisors over SSH remoting' {
    BeforeEach {
        if ($script:Unavailable) { Set-ItResult -Skipped -Because "sshd cannot run here: $script:Unavailable" }
    }

    It 'connects to each hypervisor over SSH, each with its own pwsh, module and simulated host' {
        $script:A.Transport | Should -Be 'SSH'
        $script:A.ComputerName | Should -Be '127.0.0.1'
        $hosts = Invoke-Command $script:A, $script:B { [pscustomobject]@{ Pid = $PID; Module = (Get-Module VfioMigration).ModuleBase; Home = $HOME } }
        $hosts.Pid | Should -Not -Contain $PID
        $hosts[0].Pid | Should -Not -Be $hosts[1].Pid
        $hosts.Module | Should -Be @((Join-Path $script:Modules 'VfioMigration'), (Join-Path $script:Modules 'VfioMigration'))
        $hosts.Home | Should -Not -Contain $HOME
        $null = Invoke-Command $script:A { New-VfioSimulatedDevice -Address 0000:01:00.0 }
        (Invoke-Command $script:A { Get-VfioDevice -Simulated }).Count | Should -Be 9
        (Invoke-Command $script:B { Get-VfioDevice -Simulated }).Count | Should -Be 8
        Invoke-Command $script:A { Remove-VfioSimulatedDevice -Address 0000:01:00.0 -Confirm:$false }
    }

    It 'inventories both hypervisors in one call, and the devices come back as devices' {
        $devices = Invoke-Command $script:A, $script:B { Get-VfioDevice -Simulated }
        $devices.Count | Should -Be 16
        @($devices | Group-Object RunspaceId).Count | Should -Be 2
        $devices | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'Deserialized.VfioMigration.VfioDevice' }
        $devices | ForEach-Object { $_.PSComputerName | Should -Be '127.0.0.1' }
        ($devices | Where-Object Name -eq '0000:af:00.1').DeviceStateBits | Should -Be @('RUNNING', 'RUNNING')
    }

    It 'shows the devices of both hypervisors in a table that names the host in full, within the console width' {
        $devices = Invoke-Command $script:A, $script:B { Get-VfioDevice -Simulated 0000:3b:00.2, 0000:af:00.1 }
        $lines = ($devices | Format-Table | Out-String -Width $script:Width) -split "`n" | ForEach-Object TrimEnd | Where-Object { $_ }
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual $script:Width }
        $lines[0] | Should -Match '\bPSComputerName\b' -Because 'rows of two hosts say which host they come from, under a header that does not wrap'
        $lines[1] | Should -Match '^[- ]+$' -Because 'the header is one line'
        foreach ($d in $devices) {
            $rows = @($lines | Where-Object { $_ -match "^$([regex]::Escape($d.Name)) " })
            $rows.Count | Should -Be 2 -Because "$($d.Name) is on both hosts"
            $rows | ForEach-Object { $_ | Should -Match "\b$($d.State)\b.*\b127\.0\.0\.1\s*$" -Because "the state and the host of $($d.Name) show at $script:Width columns" }
        }
    }

    It 'tests migration on both hypervisors, and the results read after the trip as they read at home' {
        $results = Invoke-Command $script:A, $script:B { Test-VfioMigration -Simulated 0000:d8:00.0, 0000:5e:00.1 }
        $results.Count | Should -Be 4
        ($results | Where-Object Name -eq '0000:d8:00.0').CanMigrate | Should -Be @($false, $false)
        ($results | Where-Object Name -eq '0000:5e:00.1').CanMigrate | Should -Be @($true, $true)
        $plain = $results | Where-Object Name -eq '0000:d8:00.0' | Select-Object -First 1
        $plain.Blockers.Code | Should -Be 'PlainVfioPci' -Because 'a blocker keeps its code across the trip'
        $plain.Blockers.Fix | Should -Match 'variant driver'
        # The list view of a deserialized result is the local one plus the host.
        foreach ($name in '0000:d8:00.0', '0000:5e:00.1') {
            $atHome = (Test-VfioMigration -Simulated $name | Format-List | Out-String -Width $script:Width).Trim()
            $remote = $results | Where-Object Name -eq $name | Select-Object -First 1 | Format-List | Out-String -Width $script:Width
            $remote | Should -Match 'PSComputerName\s*: 127\.0\.0\.1'
            (($remote -split "`n" | Where-Object { $_ -notmatch '^PSComputerName\s*:' }) -join "`n").Trim() | Should -Be $atHome
        }
    }

    It 'moves a two-device set: saved on one, copied with Copy-Item -ToSession, verified, restored and started on the other' {
        $outbox = Invoke-Command $script:A { [IO.Directory]::CreateTempSubdirectory('vfio-fleet-out-').FullName }
        $inbox = Invoke-Command $script:B { [IO.Directory]::CreateTempSubdirectory('vfio-fleet-in-').FullName }
        $staging = [IO.Directory]::CreateTempSubdirectory('vfio-fleet-').FullName
        try {
            $images = Invoke-Command $script:A { Get-VfioDevice -Simulated 0000:3b:00.2, 0000:3b:00.3 | Save-VfioDeviceState -Path $using:outbox -Live -Together -PassThru }
            $images.Count | Should -Be 2
            $images[0].PSObject.TypeNames[0] | Should -Be 'Deserialized.VfioMigration.VfioStateImage'
            $images[0].SetId | Should -Be $images[1].SetId
            (Invoke-Command $script:A { Get-VfioDevice -Simulated 0000:3b:00.2, 0000:3b:00.3 }).State | Should -Be @('Stop', 'Stop')

            Copy-Item -FromSession $script:A -Path $images.Path -Destination $staging
            Copy-Item -ToSession $script:B -Path (Get-ChildItem -LiteralPath $staging -File).FullName -Destination $inbox
            # The images carry device state: the folders they pass through are private.
            [IO.UnixFileMode] (Invoke-Command $script:B { [int] (Get-Item -LiteralPath $using:inbox).UnixFileMode }) | Should -Be ([IO.UnixFileMode] 'UserRead, UserWrite, UserExecute')
            [IO.UnixFileMode] [int] (Get-Item -LiteralPath $staging).UnixFileMode | Should -Be ([IO.UnixFileMode] 'UserRead, UserWrite, UserExecute')

            $arrived = Invoke-Command $script:B { Get-VfioStateImage -Path ([IO.Path]::Combine($using:inbox, '*.vfiostate')) }
            $arrived.Count | Should -Be 2
            $arrived.IsValid | Should -Be @($true, $true)
            $arrived.Checksum | Should -Be $images.Checksum
            $arrived.SetId | Should -Be $images.SetId

            $targets = Invoke-Command $script:B { Get-VfioDevice -Simulated 0000:3b:00.2, 0000:3b:00.3 }
            # Unattended over remoting: the fresh destination devices hold no restored state, so nothing asks.
            $moved = Invoke-Command $script:B { $using:targets | Restore-VfioDeviceState -Path ($using:arrived).Path -Start -PassThru }
            @($moved | ForEach-Object Name) | Should -Be @('0000:3b:00.2', '0000:3b:00.3')
            $moved.State | Should -Be @('Running', 'Running')
            $moved | ForEach-Object { $_.PSComputerName | Should -Be '127.0.0.1' }
            $moved[0].RunspaceId | Should -Be $script:B.Runspace.InstanceId
            # The source stays stopped: its state runs on the destination now.
            (Invoke-Command $script:A { Get-VfioDevice -Simulated 0000:3b:00.2, 0000:3b:00.3 }).State | Should -Be @('Stop', 'Stop')
        } finally {
            Remove-Item -LiteralPath $staging -Recurse -Force
            Invoke-Command $script:A { Remove-Item -LiteralPath $using:outbox -Recurse -Force }
            Invoke-Command $script:B { Remove-Item -LiteralPath $using:inbox -Recurse -Force }
            Invoke-Command $script:A, $script:B { Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -State Running }
        }
    }

    It 'keeps error ids, categories and targets across the trip' {
        Invoke-Command $script:B {
            Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy
            Set-VfioDeviceState -Simulated 0000:3b:00.2 -State PreCopy
        } -ErrorVariable refused -ErrorAction SilentlyContinue
        $refused.Count | Should -Be 1
        $refused[0].FullyQualifiedErrorId | Should -Be 'TransitionRefused,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand'
        $refused[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $refused[0].CategoryInfo.TargetName | Should -Be '0000:3b:00.2'
        $refused[0].TargetObject.Name | Should -Be '0000:3b:00.2'
        $refused[0].TargetObject.PSObject.TypeNames[0] | Should -Be 'Deserialized.VfioMigration.VfioDevice'
        $refused[0].Exception.Message | Should -Match 'now in StopCopy'
        $refused[0].OriginInfo.PSComputerName | Should -Be '127.0.0.1'

        Invoke-Command $script:A { Get-VfioDevice -Simulated 0000:99:00.0 } -ErrorVariable missing -ErrorAction SilentlyContinue
        $missing[0].FullyQualifiedErrorId | Should -Be 'DeviceNotFound,VfioMigration.PowerShell.Commands.GetVfioDeviceCommand'
        $missing[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Invoke-Command $script:B { Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Running }
    }

    It 'takes deserialized devices back into the cmdlets of their session' {
        $qat = Invoke-Command $script:A { Get-VfioDevice -Simulated 0000:5e:00.1 }
        $stopped = Invoke-Command $script:A { $using:qat | Set-VfioDeviceState -State Stop -PassThru }
        $stopped.State | Should -Be 'Stop'
        (Invoke-Command $script:A { $using:qat | Test-VfioMigration }).CanMigrate | Should -BeTrue
        (Invoke-Command $script:B { Get-VfioDevice -Simulated 0000:5e:00.1 }).State | Should -Be 'Running' -Because 'the other hypervisor is not touched'
        Invoke-Command $script:A { $using:stopped | Set-VfioDeviceState -State Running }
        (Invoke-Command $script:A { Get-VfioDevice -Simulated 0000:5e:00.1 }).State | Should -Be 'Running'
    }

    Context 'examples/fleet-move.ps1' {
        BeforeAll {
            $script:Example = Join-Path $PSScriptRoot '..' 'examples' 'fleet-move.ps1'
            $script:Run = {
                param([string] $Switches)
                $s = $script:Server
                $options = ($s.Options.GetEnumerator() | ForEach-Object { "$($_.Key) = '$($_.Value)'" }) -join '; '
                # A shell of its own, as an administrator runs it: -WhatIf output goes to the host, not to a stream.
                Invoke-ChildPwsh -Environment @{ PSModulePath = $script:Modules } -Command (
                    "& '$script:Example' -SourceHost 127.0.0.1 -DestinationHost 127.0.0.1 -Port $($s.Port) -UserName '$($s.UserName)' " +
                    "-KeyFilePath '$($s.KeyFilePath)' -SshOption @{ $options } $Switches")
            }
        }

        It 'with -WhatIf inspects both hosts and names every step, touching nothing' {
            $before = @(Get-ChildItem -Path ([IO.Path]::GetTempPath()) -Filter 'vfio-fleet-*' -Directory).Count
            $r = & $script:Run '-WhatIf'
            $r.Errors | Should -BeNullOrEmpty
            $r.ExitCode | Should -Be 0
            $r.Output | Should -Match 'CanMigrateLive : True'
            $r.Output | Should -Match 'What if: Performing the operation "Save the device state live as one set \(the devices stop\)" on target "127\.0\.0\.1 0000:3b:00\.2, 0000:3b:00\.3"'
            $r.Output | Should -Match 'What if: Performing the operation "Copy 2 state images from 127\.0\.0\.1"'
            $r.Output | Should -Match 'What if: Performing the operation "Restore the device state and start the devices"'
            $r.Output | Should -Not -Match '== Live save'
            @(Get-ChildItem -Path ([IO.Path]::GetTempPath()) -Filter 'vfio-fleet-*' -Directory).Count | Should -Be $before
        }

        It 'moves the set and leaves no image behind' {
            $before = @(Get-ChildItem -Path ([IO.Path]::GetTempPath()) -Filter 'vfio-fleet-*' -Directory).Count
            $r = & $script:Run ''
            $r.Errors | Should -BeNullOrEmpty
            $r.ExitCode | Should -Be 0
            $sections = $r.Output -split '(?m)^== '
            ($sections | Where-Object { $_ -like 'Live save*' }) | Should -Match '0000-3b-00\.2\.vfiostate'
            ($sections | Where-Object { $_ -like 'Copy to*' }) | Should -Match '0000-3b-00\.3\.vfiostate'
            $restored = @(($sections | Where-Object { $_ -like 'Restore on*' }) -split "`n" | Where-Object { $_ -match '0000:3b:00\.[23] ' })
            $restored.Count | Should -Be 2
            $restored | ForEach-Object { $_ | Should -Match '\bRunning\b' }
            $left = @(($sections | Where-Object { $_ -like 'After the move*' }) -split "`n" | Where-Object { $_ -match '0000:3b:00\.[23] ' })
            $left.Count | Should -Be 2
            $left | ForEach-Object { $_ | Should -Match '\bStop\b' }
            @(Get-ChildItem -Path ([IO.Path]::GetTempPath()) -Filter 'vfio-fleet-*' -Directory).Count | Should -Be $before
        }

        It 'refuses a set that cannot migrate, naming the device, before anything is saved' {
            $before = @(Get-ChildItem -Path ([IO.Path]::GetTempPath()) -Filter 'vfio-fleet-*' -Directory).Count
            $r = & $script:Run '-Address 0000:3b:00.2, 0000:d8:00.0'
            $r.ExitCode | Should -Not -Be 0
            # The error view wraps the message at the console width, behind '| '.
            $message = (($r.Errors -split "`n" | ForEach-Object { $_ -replace '^\s*\|\s?', '' }) -join ' ') -replace '\s+', ' '
            $message | Should -Match 'Cannot move: 0000:d8:00\.0 on the source \(127\.0\.0\.1\), 0000:d8:00\.0 on the destination \(127\.0\.0\.1\) cannot migrate'
            $r.Output | Should -Match 'PlainVfioPci'
            $r.Output | Should -Match 'fix: Bind the vendor'
            $r.Output | Should -Not -Match '== Live save'
            @(Get-ChildItem -Path ([IO.Path]::GetTempPath()) -Filter 'vfio-fleet-*' -Directory).Count | Should -Be $before
        }

        Context 'as README.md gives it' {
            BeforeDiscovery {
                # Every example command line of README.md, exactly as written there (today the fleet's: hosts hv1 and hv2,
                # no ssh switches). A new one runs here too.
                $readme = Get-Content -Raw -LiteralPath (Join-Path $PSScriptRoot '..' 'README.md')
                $readmeLines = @([regex]::Matches($readme, '(?m)^(\./examples/[\w-]+\.ps1[^#\r\n]*?)\s*(#.*)?$') | ForEach-Object { $_.Groups[1].Value })
            }
            BeforeAll {
                $readme = Get-Content -Raw -LiteralPath (Join-Path $PSScriptRoot '..' 'README.md')
                $script:ReadmeLines = @([regex]::Matches($readme, '(?m)^(\./examples/[\w-]+\.ps1[^#\r\n]*?)\s*(#.*)?$') | ForEach-Object { $_.Groups[1].Value })
                # An administrator's ssh configuration names the hypervisors; here both names reach the private sshd.
                # pwsh runs the `ssh` it finds on PATH: a wrapper that reads this configuration (OpenSSH reads
                # ~/.ssh/config from the account's home, not from $HOME, so a scratch HOME would not do).
                $s = $script:Server
                $script:SshBin = (New-Item -ItemType Directory -Path (Join-Path $s.Directory 'bin')).FullName
                $config = Join-Path $s.Directory 'ssh_config'
                Set-Content -LiteralPath $config -Value (@("Host hv1 hv2", "  HostName $($s.HostName)", "  Port $($s.Port)", "  User $($s.UserName)", "  IdentityFile $($s.KeyFilePath)") +
                    @($s.Options.GetEnumerator() | Sort-Object Key | ForEach-Object { "  $($_.Key) $($_.Value)" }))
                $realSsh = (Get-Command ssh -CommandType Application | Select-Object -First 1).Source
                $wrapper = Join-Path $script:SshBin 'ssh'
                Set-Content -LiteralPath $wrapper -Value "#!/bin/sh`nexec '$realSsh' -F '$config' `"`$@`"`n"
                [IO.File]::SetUnixFileMode($wrapper, [IO.UnixFileMode]'UserRead, UserWrite, UserExecute')
                $script:RunReadme = {
                    param([string] $Line)
                    Invoke-ChildPwsh -WorkingDirectory (Join-Path $PSScriptRoot '..') -Command $Line -Environment @{
                        PSModulePath = $script:Modules; PATH = $script:SshBin + [IO.Path]::PathSeparator + $env:PATH }
                }
            }

            It 'README shows both fleet command lines' {
                @($script:ReadmeLines | Where-Object { $_ -like './examples/fleet-move.ps1*' }).Count | Should -Be 2
                $script:ReadmeLines[0] | Should -Match '-WhatIf$'
                $script:ReadmeLines | Should -Not -Match 'SshOption|KeyFilePath|-Port'
            }

            It 'runs "<_>" as written' -ForEach $readmeLines {
                $line = $_
                $r = & $script:RunReadme $line
                $r.Errors | Should -BeNullOrEmpty -Because $line
                $r.ExitCode | Should -Be 0
                if ($line -notlike './examples/fleet-move.ps1*') { return }
                $r.Output | Should -Match 'CanMigrateLive : True'
                if ($line -match '-WhatIf') {
                    $r.Output | Should -Match 'What if: Performing the operation "Save the device state live as one set \(the devices stop\)" on target "hv1 0000:3b:00\.2, 0000:3b:00\.3"'
                    $r.Output | Should -Not -Match '== Live save'
                } else {
                    $r.Output | Should -Match '== Restore on hv2'
                    $r.Output | Should -Match '== After the move'
                }
            }
        }

        It 'says what is wrong when the destination devices do not pair with the source devices' {
            $r = & $script:Run '-Address 0000:3b:00.2, 0000:3b:00.3 -DestinationAddress 0000:3b:00.2'
            $r.ExitCode | Should -Not -Be 0
            $r.Errors | Should -Match '-DestinationAddress names 1 devices for the 2 of -Address'
        }
    }
}
