# Pester 5 suite: the module as an administrator sees it, against the simulated host.
# Run by ./build.ps1 Test wherever pwsh 7.4+ and Pester 5 are installed.

BeforeAll {
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
}

AfterAll {
    Remove-Module VfioMigration -ErrorAction SilentlyContinue
}

Describe 'VfioMigration' {
BeforeEach {
    # A fresh import gives a fresh simulated host: removing the module closes every device it opened.
    Import-Module $script:Manifest -Force
}

Describe 'The module' {
    It 'exports exactly its cmdlets' {
        (Get-Command -Module VfioMigration).Name | Sort-Object | Should -Be @(
            'Add-VfioSimulatedFault', 'Clear-VfioSimulatedFault', 'Get-VfioDevice', 'Get-VfioStateImage', 'New-VfioSimulatedDevice',
            'Remove-VfioSimulatedDevice', 'Reset-VfioDevice', 'Restore-VfioDeviceState', 'Save-VfioDeviceState', 'Set-VfioDeviceState', 'Test-VfioMigration')
    }

    It 'has a valid manifest for PowerShell 7.4 Core' {
        $info = Test-ModuleManifest -Path $script:Manifest
        $info.PowerShellVersion | Should -Be ([version] '7.4')
        $info.CompatiblePSEditions | Should -Be @('Core')
    }

    It 'has full help for <_>' -ForEach @('Get-VfioDevice', 'Set-VfioDeviceState', 'Reset-VfioDevice', 'New-VfioSimulatedDevice',
        'Remove-VfioSimulatedDevice', 'Add-VfioSimulatedFault', 'Clear-VfioSimulatedFault', 'Save-VfioDeviceState',
        'Restore-VfioDeviceState', 'Get-VfioStateImage', 'Test-VfioMigration') {
        $help = Get-Help $_ -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        @($help.Examples.Example).Count | Should -BeGreaterOrEqual 2
        foreach ($p in $help.Parameters.Parameter) {
            ($p.Description | ForEach-Object Text) -join '' | Should -Not -BeNullOrEmpty -Because "-$($p.Name) needs a description"
        }
    }
}

Describe 'Get-VfioDevice' {
    It 'lists the default simulated host' {
        $devices = Get-VfioDevice -Simulated
        $devices.Count | Should -Be 8
        $devices[0].PSObject.TypeNames[0] | Should -Be 'VfioMigration.VfioDevice'
        ($devices | Where-Object Kind -eq Ccw).Count | Should -Be 2
        ($devices | Where-Object Protocol -eq None).Name | Should -Be '0000:d8:00.0'
    }

    It 'shows v1 device_state bits' {
        (Get-VfioDevice -Simulated 0000:af:00.1).DeviceStateBits | Should -Be 'RUNNING'
    }

    It 'takes wildcards and filters' {
        (Get-VfioDevice -Simulated '0000:3b:*').Count | Should -Be 2
        (Get-VfioDevice -Simulated -MigrationCapable).Count | Should -Be 7
        (Get-VfioDevice -Simulated -Kind Ccw).Name | Should -Be @('0.0.0100', '0.0.0101')
    }

    It 'reports an unknown address as a non-terminating error' {
        $found = Get-VfioDevice -Simulated 0000:99:00.0, 0000:3b:00.2 -ErrorVariable err -ErrorAction SilentlyContinue
        $found.Name | Should -Be '0000:3b:00.2'
        $err[0].FullyQualifiedErrorId | Should -Be 'DeviceNotFound,VfioMigration.PowerShell.Commands.GetVfioDeviceCommand'
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'says the real host is not available and points at -Simulated' -Skip:(Test-Path /dev/vfio/vfio) {
        { Get-VfioDevice -ErrorAction Stop } | Should -Throw -ErrorId 'VfioNotAvailable,VfioMigration.PowerShell.Commands.GetVfioDeviceCommand'
    }

    It 'survives remoting serialization with its type name and key properties' {
        $d = Get-VfioDevice -Simulated 0000:3b:00.2
        $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($d))
        $back.PSObject.TypeNames[0] | Should -Be 'Deserialized.VfioMigration.VfioDevice'
        $back.Name | Should -Be '0000:3b:00.2'
        "$($back.State)" | Should -Be 'Running'
        ($back | Format-Table | Out-String) | Should -Match 'mlx5_vfio_pci'
    }
}

Describe 'Set-VfioDeviceState' {
    It 'moves a device by address and returns nothing without -PassThru' {
        Set-VfioDeviceState -Simulated -Address 0000:5e:00.1 -State Stop | Should -BeNullOrEmpty
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
    }

    It 'takes device objects from the pipeline and returns them with -PassThru' {
        $d = Get-VfioDevice -Simulated 0000:5e:00.1 | Set-VfioDeviceState -State StopCopy -PassThru
        $d.State | Should -Be 'StopCopy'
    }

    It 'changes nothing with -WhatIf' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy -WhatIf
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }

    It 'shows every hop with -Verbose' {
        $verbose = Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy -Verbose 4>&1
        $verbose.Message | Should -Contain '0000:3b:00.2: arc Running -> RunningP2P done'
        $verbose.Message | Should -Contain '0000:3b:00.2: arc Stop -> StopCopy done'
    }

    It 'refuses StopCopy -> PreCopy, naming the state and the way out' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State PreCopy -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Be 'TransitionRefused,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $err[0].Exception.Message | Should -Match 'now in StopCopy'
        $err[0].TargetObject.Name | Should -Be '0000:3b:00.2'
    }

    It 'quiesces every device of a set before any stops' {
        $verbose = Get-VfioDevice -Simulated '0000:3b:*' | Set-VfioDeviceState -State Stop -Verbose 4>&1
        $requests = @($verbose.Message | Where-Object { $_ -match 'requesting' })
        $requests[0] | Should -Match 'requesting RunningP2P'
        $requests[1] | Should -Match 'requesting RunningP2P'
        $requests[2] | Should -Match 'requesting Stop'
        (Get-VfioDevice -Simulated '0000:3b:*').State | Should -Be @('Stop', 'Stop')
    }

    It 'refuses a set with a device that cannot quiesce, unless -Force' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -State Stop -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'PeerQuiesceUnsupported,*'
        $err[0].Exception.Message | Should -Match '0000:5e:00.1'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -State Stop -Force -WarningVariable warn -WarningAction SilentlyContinue
        $warn | Should -Not -BeNullOrEmpty
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
    }

    It 'does not accept Error as a target' {
        { Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Error -ErrorAction Stop } | Should -Throw
    }

    It 'completes addresses and states' {
        $null = Get-VfioDevice -Simulated
        $line = 'Set-VfioDeviceState -Simulated -Address 0000:3b'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('0000:3b:00.2', '0000:3b:00.3')
        $line = 'Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State Pre'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('PreCopy', 'PreCopyP2P')
    }
}

Describe 'Rehearsing failures' {
    It 'recovers a device from Error with Reset-VfioDevice' {
        Add-VfioSimulatedFault -Address 0000:3b:00.3 -Point Transition -ArcTo Stop -EnterError | Out-Null
        Set-VfioDeviceState -Simulated 0000:3b:00.3 -State Stop -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DeviceInErrorState,*'
        $err[0].ErrorDetails.RecommendedAction | Should -Match 'Reset-VfioDevice'
        (Get-VfioDevice -Simulated 0000:3b:00.3).State | Should -Be 'Error'
        (Reset-VfioDevice -Simulated 0000:3b:00.3 -Force -PassThru).State | Should -Be 'Running'
    }

    It 'times out a ccw stop whose channel program never completes' {
        Add-VfioSimulatedFault -Address 0.0.0100 -HangNextChannelProgram
        $null = Get-VfioDevice -Simulated 0.0.0100
        $null = Get-VfioDevice -Simulated 0.0.0100
        Set-VfioDeviceState -Simulated 0.0.0100 -State Stop -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].Exception.Message | Should -Match 'ETIMEDOUT'
        (Get-VfioDevice -Simulated 0.0.0100).State | Should -Be 'Running'
    }
}

Describe 'Test-VfioMigration' {
    It 'names plain vfio-pci as the blocker, with the fix' {
        $r = Test-VfioMigration -Simulated 0000:d8:00.0
        $r.CanMigrate | Should -BeFalse
        $r.Blockers.Code | Should -Be 'PlainVfioPci'
        $r.Blockers.Fix | Should -Match 'variant driver'
    }

    It 'blocks a set on the device that cannot quiesce peer-to-peer DMA' {
        (Get-VfioDevice -Simulated 0000:5e:00.1 | Test-VfioMigration).CanMigrate | Should -BeTrue
        $set = Get-VfioDevice -Simulated 0000:3b:00.2, 0000:5e:00.1 | Test-VfioMigration -Together
        $set[0].CanMigrate | Should -BeTrue
        $set[1].Blockers.Code | Should -Contain 'NoP2PQuiesce'
        $set[1].CanMigrateLive | Should -BeFalse
    }
}

Describe 'The simulated host' {
    It 'takes new devices and lets them go' {
        $d = New-VfioSimulatedDevice -Address 0000:01:00.0 -Capabilities P2P, PreCopy -MemorySize 64KB -PeerAddress 0000:3b:00.2
        $d.Capabilities | Should -Be 'StopCopy, P2P, PreCopy'
        (Get-VfioDevice -Simulated).Count | Should -Be 9
        $d | Remove-VfioSimulatedDevice
        (Get-VfioDevice -Simulated).Count | Should -Be 8
    }

    It 'rejects a bad address clearly' {
        { New-VfioSimulatedDevice -Address 3b:00.2 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidSimulatedDevice,VfioMigration.PowerShell.Commands.NewVfioSimulatedDeviceCommand'
    }
}

Describe 'Saving and restoring' {
    BeforeEach {
        $script:Dir = Join-Path ([System.IO.Path]::GetTempPath()) ("vfio-pester-" + [guid]::NewGuid())
        $null = New-Item -ItemType Directory -Path $script:Dir
    }
    AfterEach {
        Remove-Item -Recurse -Force -Path $script:Dir
    }

    It 'saves a device to a private image and leaves it stopped' {
        $path = Join-Path $script:Dir 'qat.vfiostate'
        Save-VfioDeviceState -Simulated -Address 0000:5e:00.1 -Path $path | Should -BeNullOrEmpty
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
        if (-not $IsWindows) { (Get-Item $path).UnixFileMode | Should -Be 'UserRead, UserWrite' }
        (Get-VfioStateImage $path).IsValid | Should -BeTrue
    }

    It 'checkpoints a running device with -Live -KeepRunning and describes the image with -PassThru' {
        $image = Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path (Join-Path $script:Dir 'a.vfiostate') -Live -KeepRunning -PassThru
        $image.SaveMode | Should -Be 'live'
        $image.PreCopyRounds | Should -BeGreaterThan 0
        $image.Checksum | Should -Match '^[0-9a-f]{32}$'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }

    It 'keeps an existing file unless -Force' {
        $path = Join-Path $script:Dir 'a.vfiostate'
        Set-Content -Path $path -Value 'keep me'
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path $path -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImageExists,*'
        Get-Content -Path $path | Should -Be 'keep me'
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Running'
    }

    It 'moves a linked pair to another pair as one set' {
        Get-VfioDevice -Simulated '0000:3b:*' | Save-VfioDeviceState -Path $script:Dir -Live
        $images = Get-VfioStateImage (Join-Path $script:Dir '*.vfiostate')
        $images.Count | Should -Be 2
        $images[0].SetId | Should -Be $images[1].SetId
        $null = New-VfioSimulatedDevice -Address 0000:86:00.2 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB
        $null = New-VfioSimulatedDevice -Address 0000:86:00.3 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB -PeerAddress 0000:86:00.2
        $restored = Restore-VfioDeviceState -Simulated 0000:86:00.2, 0000:86:00.3 -Path $images.Path -Start -PassThru
        $restored.State | Should -Be @('Running', 'Running')
    }

    It 'refuses an image of another device, naming the field, before touching the device' {
        $path = Join-Path $script:Dir 'qat.vfiostate'
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path $path
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Stop
        Restore-VfioDeviceState -Simulated 0000:3b:00.2 -Path $path -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImageDeviceMismatch,*'
        $err[0].Exception.Message | Should -Match 'vendorId'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Stop'
    }

    It 'refuses a damaged image even with -Force' {
        $path = Join-Path $script:Dir 'qat.vfiostate'
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path $path
        $bytes = [System.IO.File]::ReadAllBytes($path)
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 0x40
        [System.IO.File]::WriteAllBytes($path, $bytes)
        (Get-VfioStateImage $path -ErrorAction SilentlyContinue).IsValid | Should -BeFalse
        Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path $path -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImageChecksumMismatch,*'
    }

    It 'leaves no partial file and a running device when the save fails' {
        Add-VfioSimulatedFault -Address 0000:3b:00.2 -Point StreamRead -Nth 2 | Out-Null
        Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path (Join-Path $script:Dir 'a.vfiostate') -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].Exception.Message | Should -Match 'is in Running'
        Get-ChildItem -Force -Path $script:Dir | Should -BeNullOrEmpty
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }
}

Describe 'The examples' {
    It 'runs <_> as it stands' -ForEach @('tour.ps1', 'multi-device-quiesce.ps1', 'checkpoint-restore.ps1', 'move-vm-devices.ps1') {
        $output = & (Join-Path $PSScriptRoot '..' 'examples' $_) 2>&1 | Out-String
        $output | Should -Not -Match 'Exception'
    }
}
}
