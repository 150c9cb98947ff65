# Pester 5 suite: the module as an administrator sees it, against the simulated host.
# Run by ./build.ps1 Test wherever pwsh 7.4+ and Pester 5 are installed.

BeforeDiscovery {
    # The help examples are test cases: discovery needs the module's help.
    $manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    Import-Module $manifest -Force
}

BeforeAll {
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    $script:Manifest = (Resolve-Path -LiteralPath $script:Manifest).ProviderPath

    # Runs a script in a new pwsh -NonInteractive (as cron, CI and remoting run it) with the module imported, in
    # the same terminal (so at the same width); returns its output lines, its error lines and its exit code.
    function Invoke-Child([string] $Script, [string] $WorkingDirectory = (Get-Location).ProviderPath) {
        $exe = [Environment]::ProcessPath
        # The dotnet tool's pwsh runs as dotnet + pwsh.dll. (@() around the whole if: an if statement unrolls its
        # output, and splatting a lone string passes its characters.)
        $pre = @(if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
        $errFile = [IO.Path]::GetTempFileName()
        Push-Location -LiteralPath $WorkingDirectory
        try {
            $full = "`$ErrorActionPreference = 'Continue'; `$ProgressPreference = 'SilentlyContinue'; `$PSStyle.OutputRendering = 'PlainText'; Import-Module '$script:Manifest'`n$Script"
            $out = & $exe @pre -NoProfile -NonInteractive -Command $full 2> $errFile
            [pscustomobject]@{ Output = @($out); Errors = @(Get-Content -LiteralPath $errFile); ExitCode = $LASTEXITCODE }
        } finally {
            Pop-Location
            Remove-Item -LiteralPath $errFile
        }
    }
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
            'Add-VfioSimulatedFault', 'Clear-VfioSimulatedFault', 'Export-VfioQemuStream', 'Get-VfioConformanceSuite', 'Get-VfioDevice', 'Get-VfioStateImage', 'New-VfioSimulatedDevice',
            'Remove-VfioSimulatedDevice', 'Reset-VfioDevice', 'Restore-VfioDeviceState', 'Save-VfioDeviceState', 'Set-VfioDeviceState', 'Test-VfioMigration',
            'Test-VfioMigrationConformance')
    }

    It 'has a valid manifest for PowerShell 7.4 Core' {
        $info = Test-ModuleManifest -Path $script:Manifest
        $info.PowerShellVersion | Should -Be ([version] '7.4')
        $info.CompatiblePSEditions | Should -Be @('Core')
    }

    It 'has full help for <_>' -ForEach @('Get-VfioDevice', 'Set-VfioDeviceState', 'Reset-VfioDevice', 'New-VfioSimulatedDevice',
        'Remove-VfioSimulatedDevice', 'Add-VfioSimulatedFault', 'Clear-VfioSimulatedFault', 'Save-VfioDeviceState',
        'Restore-VfioDeviceState', 'Get-VfioStateImage', 'Test-VfioMigration', 'Test-VfioMigrationConformance', 'Get-VfioConformanceSuite') {
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

    It 'gives the names of any number of devices through member enumeration' {
        # An identity property called Address lost to the array's own Address() method for two or more devices.
        (Get-VfioDevice -Simulated '0000:3b:*').Name | Should -Be @('0000:3b:00.2', '0000:3b:00.3')
        (Get-VfioDevice -Simulated).Name.Count | Should -Be 8
        (Get-VfioDevice -Simulated 0000:5e:00.1).Name | Should -Be '0000:5e:00.1'
    }

    It 'has no output property that an array''s own members would shadow in member enumeration' {
        # (Get-X).Address found Array.Address(); (Get-X).Set found Array.Set(). The whole kind, for every output type.
        $arrayMembers = [object[]].GetMembers().Name | Sort-Object -Unique
        foreach ($type in [VfioMigration.VfioDevice], [VfioMigration.VfioStateImage], [VfioMigration.VfioMigrationReadiness]) {
            $type.GetProperties().Name | Where-Object { $_ -in $arrayMembers } | Should -BeNullOrEmpty -Because "$($type.Name) must not shadow"
        }
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
        ($back | Format-Table | Out-String) | Should -Match '0000:3b:00\.2 +Running +V2 +StopCopy, P2P, PreCopy'
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
        $verbose = Get-VfioDevice -Simulated '0000:3b:*' | Set-VfioDeviceState -State Stop -Together -Verbose 4>&1
        $requests = @($verbose.Message | Where-Object { $_ -match 'requesting' })
        $requests[0] | Should -Match 'requesting RunningP2P'
        $requests[1] | Should -Match 'requesting RunningP2P'
        $requests[2] | Should -Match 'requesting Stop'
        (Get-VfioDevice -Simulated '0000:3b:*').State | Should -Be @('Stop', 'Stop')
    }

    It 'refuses a set with a device that cannot quiesce, unless -SkipQuiesceCheck' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -State Stop -Together -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'PeerQuiesceUnsupported,*'
        $err[0].Exception.Message | Should -Match '0000:5e:00.1'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -State Stop -Together -SkipQuiesceCheck -WarningVariable warn -WarningAction SilentlyContinue
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
    It 'resets a device left in Error that holds nothing a reset loses, and says so' {
        Add-VfioSimulatedFault -Address 0000:3b:00.3 -Point Transition -ArcTo Stop -EnterError | Out-Null
        Set-VfioDeviceState -Simulated 0000:3b:00.3 -State Stop -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'TransitionFailed,*'
        $err[0].Exception.Message | Should -Match 'reset \(VFIO_DEVICE_RESET\) as a last resort'
        (Get-VfioDevice -Simulated 0000:3b:00.3).State | Should -Be 'Running'
    }

    It 'recovers a device from Error with Reset-VfioDevice' {
        # Holding restored state no save has captured, the device is not reset for the user: it stays in Error.
        $image = Join-Path $TestDrive 'held.vfiostate'
        Save-VfioDeviceState -Simulated 0000:3b:00.3 -Path $image -KeepRunning
        Restore-VfioDeviceState -Simulated 0000:3b:00.3 -Path $image -Start
        Add-VfioSimulatedFault -Address 0000:3b:00.3 -Point Transition -ArcTo Stop -EnterError | Out-Null
        Set-VfioDeviceState -Simulated 0000:3b:00.3 -State Stop -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DeviceInErrorState,*'
        $err[0].ErrorDetails.RecommendedAction | Should -Match 'Reset-VfioDevice'
        (Get-VfioDevice -Simulated 0000:3b:00.3).State | Should -Be 'Error'
        $fix = ((Test-VfioMigration -Simulated 0000:3b:00.3).Blockers | Where-Object Code -eq DeviceInError).Fix
        $fix | Should -Match 'Reset-VfioDevice'
        $fix | Should -Match 'VFIO_DEVICE_RESET'
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
        $set[1].Blockers.Code | Should -Contain 'NoP2PQuiesce'
        # The whole set is refused, so its other member says so too.
        $set[0].CanMigrate | Should -BeFalse
        $set[0].Blockers.Code | Should -Contain 'SetMemberCannotMigrate'
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

    It 'offers and takes only the kinds it simulates (Pci, Ccw), never Mdev' {
        # -Kind Mdev was offered by completion, bound, and then refused by the cmdlet.
        $offered = (TabExpansion2 -inputScript 'New-VfioSimulatedDevice -Kind ' -cursorColumn 'New-VfioSimulatedDevice -Kind '.Length).CompletionMatches.CompletionText
        @($offered | Sort-Object) | Should -Be @('Ccw', 'Pci')
        $e = { New-VfioSimulatedDevice -Address 0000:01:00.0 -Kind Mdev -Confirm:$false } | Should -Throw -ErrorId 'InvalidParameterValue,VfioMigration.PowerShell.Commands.NewVfioSimulatedDeviceCommand' -PassThru
        $e.Exception.Message | Should -Match "-Kind: 'Mdev' is not a name of one; give exactly one of: Pci, Ccw\."
        (Get-VfioDevice -Simulated).Name | Should -Not -Contain '0000:01:00.0'
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
        if (-not $IsWindows) { (Get-Item $path).UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite') }
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
        Get-VfioDevice -Simulated '0000:3b:*' | Save-VfioDeviceState -Path $script:Dir -Live -Together
        $images = Get-VfioStateImage (Join-Path $script:Dir '*.vfiostate')
        $images.Count | Should -Be 2
        $images[0].SetId | Should -Be $images[1].SetId
        $null = New-VfioSimulatedDevice -Address 0000:86:00.2 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB
        $null = New-VfioSimulatedDevice -Address 0000:86:00.3 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB -PeerAddress 0000:86:00.2
        $restored = Restore-VfioDeviceState -Simulated 0000:86:00.2, 0000:86:00.3 -Path $images.Path -Start -PassThru
        $restored.State | Should -Be @('Running', 'Running')
    }

    It 'refuses a linked pair onto devices that write into others, naming the link, in -WhatIf too, and restores it onto a pair wired the same' {
        Get-VfioDevice -Simulated '0000:3b:*' | Save-VfioDeviceState -Path $script:Dir -Together
        $images = Get-VfioStateImage (Join-Path $script:Dir '*.vfiostate')
        $images[0].SetLinks | Should -Be 'peer: 2/2; iommuGroup: none; slot: 2/2'
        $mlx = @{ Driver = 'mlx5_vfio_pci'; VendorId = '15b3'; DeviceId = '101e'; Capabilities = 'P2P', 'PreCopy'; MemorySize = 1MB }
        # Each target writes into a device outside the set, not into the other member.
        $null = New-VfioSimulatedDevice -Address 0000:88:00.0 @mlx
        $null = New-VfioSimulatedDevice -Address 0000:88:00.1 @mlx
        $null = New-VfioSimulatedDevice -Address 0000:87:00.2 @mlx -PeerAddress 0000:88:00.0
        $null = New-VfioSimulatedDevice -Address 0000:87:00.3 @mlx -PeerAddress 0000:88:00.1
        foreach ($whatIf in $true, $false) {
            Restore-VfioDeviceState -Simulated 0000:87:00.2, 0000:87:00.3 -Path $images.Path -WhatIf:$whatIf -ErrorVariable err -ErrorAction SilentlyContinue
            $err.Count | Should -Be 2
            $err | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'ImageSetOrder,*' }
            $err[0].Exception.Message | Should -Match 'member 1/2 \(0000:3b:00\.2\) writes into member 2/2 \(0000:3b:00\.3\) peer-to-peer'
            $err[0].Exception.Message | Should -Match '0000:87:00\.2 does not write into 0000:87:00\.3 peer-to-peer \(it writes into 0000:88:00\.0\)'
            $err[0].ErrorDetails.RecommendedAction | Should -Match '-SkipSetCheck'
            (Get-VfioDevice -Simulated 0000:87:00.2, 0000:87:00.3).State | Should -Be @('Running', 'Running')
        }
        # Wired the same (each target writes into the other): the same images restore.
        $null = New-VfioSimulatedDevice -Address 0000:86:00.2 @mlx
        $null = New-VfioSimulatedDevice -Address 0000:86:00.3 @mlx -PeerAddress 0000:86:00.2
        $restored = Restore-VfioDeviceState -Simulated 0000:86:00.2, 0000:86:00.3 -Path $images.Path -Start -PassThru -ErrorVariable err2
        $err2 | Should -BeNullOrEmpty
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

Describe 'A device that re-initializes its pre-copy data (PRECOPY_INFOv2, kernel 7.3)' {
    It 'sends the new initial data before the switch and records the re-init in the image; an older kernel cannot say' {
        $dir = [IO.Directory]::CreateTempSubdirectory('vfio-reinit-').FullName
        try {
            $null = New-VfioSimulatedDevice -Address 0000:01:00.0 -Capabilities PreCopy -MemorySize 256KB -PreCopyReinitAfter 128KB
            $null = New-VfioSimulatedDevice -Address 0000:01:00.1 -Capabilities PreCopy -MemorySize 256KB -PreCopyReinitAfter 128KB -NoPrecopyInfoV2
            $new = Save-VfioDeviceState -Simulated 0000:01:00.0 -Path (Join-Path $dir 'new.vfiostate') -Live -PassThru
            $old = Save-VfioDeviceState -Simulated 0000:01:00.1 -Path (Join-Path $dir 'old.vfiostate') -Live -PassThru
            $new.PreCopyReinits | Should -Be 1
            $new.PreCopyFlagsReported | Should -BeTrue
            $old.PreCopyReinits | Should -Be 0
            $old.PreCopyFlagsReported | Should -BeFalse
            (Get-VfioStateImage -Path (Join-Path $dir 'new.vfiostate')).PreCopyReinits | Should -Be 1
            { New-VfioSimulatedDevice -Address 0000:01:00.2 -MemorySize 64KB -PreCopyReinitAfter 4KB -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidSimulatedDevice*'
        } finally { Remove-Item -Recurse -Force $dir }
    }
}

Describe 'Views at the terminal''s width' {
    BeforeAll {
        # The table lines of a view as this terminal shows them (80 or 120 columns: build.ps1 runs both).
        function Get-Table($InputObject) { @(($InputObject | Format-Table | Out-String -Stream) | Where-Object { $_.Trim() }) }
    }

    It 'shows a device''s name and state first, and every column, within the terminal' {
        $lines = Get-Table (Get-VfioDevice -Simulated)
        $lines[0] | Should -Match '^Name +State +Protocol +Capabilities +HeldBy$'
        $lines | Where-Object { $_ -match '^0000:af:00\.1' } | Should -Match '^0000:af:00\.1 +Running +V1 +StopCopy, PreCopy, Ndma +-$'
        $lines | ForEach-Object { $_.Length | Should -BeLessThan 80 }
    }

    It 'names the VM and process that hold a device, and the state VFIO debugfs shows, within the terminal' {
        $null = New-VfioSimulatedDevice -Address 0000:01:00.0 -MemorySize 16KB
        $sim = [VfioMigration.PowerShell.Session.ModuleState]::Current.SimulatedHost['0000:01:00.0']
        $sim.HeldBy = [VfioMigration.DeviceHolder]@{ ProcessId = 4242; Command = 'qemu-system-x86'; VmName = 'a-long-vm-name-for-the-view'; Through = 'a device fd' }
        try {
            $dev = Get-VfioDevice -Simulated 0000:01:00.0
            $dev.HeldBy | Should -Be 'qemu-system-x86 (pid 4242, VM a-long-vm-name-for-the-view)'
            $dev.HeldState | Should -Be 'Running'
            $line = (Get-Table $dev)[2]
            $line | Should -Match '^0000:01:00\.0 +Running +V2 +StopCopy +a-long-vm-name-fo'
            $line.Length | Should -BeLessThan 80
            $blocker = (Test-VfioMigration -Simulated 0000:01:00.0).Blockers | Where-Object Code -EQ GroupInUse
            $blocker.Cause | Should -Match 'held by qemu-system-x86 \(pid 4242, VM a-long-vm-name-for-the-view\); its migration state is Running'
        } finally { $sim.HeldBy = $null }
    }

    It 'uses property names (or alias properties) as column headers' {
        $d = Get-VfioDevice -Simulated 0000:3b:00.2
        foreach ($h in (Get-Table $d)[0] -split ' +') { $d.PSObject.Properties.Name | Should -Contain $h }
        $dir = [IO.Directory]::CreateTempSubdirectory('vfio-view-').FullName
        try {
            $image = Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $dir 'q.vfiostate') -PassThru
            foreach ($h in (Get-Table $image)[0] -split ' +') { $image.PSObject.Properties.Name | Should -Contain $h }
        } finally { Remove-Item -Recurse -Force $dir }
    }

    It 'shows an image''s name and validity first, no header wrapped, sizes in adaptive units' {
        $dir = [IO.Directory]::CreateTempSubdirectory('vfio-view-').FullName
        try {
            $null = New-VfioSimulatedDevice -Address 0000:01:00.0 -MemorySize 16KB
            $small = Save-VfioDeviceState -Simulated 0000:01:00.0 -Path (Join-Path $dir 'small.vfiostate') -PassThru
            $lines = Get-Table $small
            $lines[0] | Should -Match '^FileName +Valid +Device +Data +Downtime +SetPosition$'
            $lines[1] | Should -Match '^-+ +-+ +-+ +-+ +-+ +-+$' -Because 'a wrapped header would put its rest on the line under it'
            $lines[2] | Should -Match '^small\.vfiostate +True +0000:01:00\.0 +\d+(\.\d)? (B|KiB) +\d+\.\d (ms|s) +-$'
            $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual 80 }
        } finally { Remove-Item -Recurse -Force $dir }
    }

    It 'shows a 2 GiB image''s size whole' {
        # The view's size: a 2 GiB image showed as '…056.0 MiB'.
        $image = [VfioMigration.VfioStateImage]@{ Path = '/tmp/big.vfiostate'; DeviceName = '0000:01:00.0'; DataBytes = 2GB + 3MB; SaveMode = 'stop-copy'; IsValid = $true; Downtime = [timespan]::FromSeconds(20.7) }
        (Get-Table $image)[2] | Should -Match '^big\.vfiostate +True +0000:01:00\.0 +2\.0 GiB +20\.7 s +-$'
    }

    It 'shows an mdev image''s UUID and a long file name whole, within the terminal' {
        # The view cut both ('83b8f4f2-50…', 'qemu-10.0.2-mtty-scr7…') with 9 columns of the line left empty.
        $uuid = '83b8f4f2-50a1-4e4e-9a2e-0123456789ab'
        $name = "qemu-10.0.2-mtty-$uuid.mig"
        $image = [VfioMigration.VfioStateImage]@{ Path = "/tmp/$name"; DeviceName = $uuid; DataBytes = 60; IsValid = $true }
        $lines = Get-Table $image
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual $Host.UI.RawUI.BufferSize.Width }
        $lines[0] | Should -Match '^FileName +Valid +Device +Data +Downtime +SetPosition$'
        $valid = $lines[0].IndexOf('Valid'); $device = $lines[0].IndexOf('Device'); $data = $lines[0].IndexOf('Data') - 4
        $rows = @($lines | Select-Object -Skip 2)
        $rows[0] | Should -Match '^qemu-\S+ +True +83b8f4f2-\S+ +60 B +-$'
        -join ($rows | ForEach-Object { $_.PadRight($data).Substring(0, $valid).Trim() }) | Should -Be $name
        -join ($rows | ForEach-Object { $_.PadRight($data).Substring($device, $data - $device).Trim() }) | Should -Be $uuid
        $rows[0].Substring($device, $data - $device).Trim() | Should -Be '83b8f4f2-50a1-4e4e' -Because 'a UUID breaks at one of its hyphens'
    }

    It 'leaves room for PSComputerName on devices and images that came over remoting' {
        $d = Get-VfioDevice -Simulated 0000:af:00.1
        $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($d))
        $back.PSObject.Properties.Add([psnoteproperty]::new('PSComputerName', 'hv-rack12-07.example.org'))
        $back.PSObject.Properties.Add([psnoteproperty]::new('PSShowComputerName', $true))
        $lines = Get-Table $back
        $lines[0] | Should -Match '^Name +State +Protocol +Capabilities +PSComputerName$'
        $lines[2] | Should -Match '^0000:af:00\.1 +Running +V1 +StopCopy, PreCopy, Ndma +hv-rack12-07'
        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual $Host.UI.RawUI.BufferSize.Width }
    }

    It 'has a table view for Test-VfioMigration results, one line per device with the blocker codes' {
        $lines = Get-Table (Test-VfioMigration -Simulated 0000:d8:00.0, 0000:5e:00.1)
        $lines[0] | Should -Match '^Name +CanMigrate +CanMigrateLive +Blockers$'
        $lines[2] | Should -Match '^0000:d8:00\.0 +False +False +PlainVfioPci$'
        $lines[3] | Should -Match '^0000:5e:00\.1 +True +False +NoPreCopy, NoDirtyTracking$'
    }

    It 'reads Test-VfioMigration results at the terminal''s width, also after remoting' {
        $r = Test-VfioMigration -Simulated 0000:5e:00.1
        $back = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($r))
        $back.Blockers.Code | Should -Be @('NoPreCopy', 'NoDirtyTracking')
        foreach ($x in $r, $back) {
            $text = @($x | Format-List | Out-String -Stream)
            $text | Should -Not -Match '\[\] :'
            ($text -join "`n") | Should -Match 'Protocol +: V2 \(StopCopy\)'
            ($text -join "`n") | Should -Match 'NoPreCopy \(LiveBlocker\): The device has no PRE_COPY'
            $text | ForEach-Object { $_.Length | Should -BeLessOrEqual $Host.UI.RawUI.BufferSize.Width }
        }
    }
}

Describe 'Unattended use (pwsh -NonInteractive)' {
    BeforeAll {
        $script:Work = [IO.Directory]::CreateTempSubdirectory('vfio-unattended-').FullName
    }
    AfterAll { Remove-Item -Recurse -Force $script:Work }

    It 'runs every state-changing cmdlet with -Confirm:$false alone' {
        $r = Invoke-Child @'
Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy -Confirm:$false
Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Running -Confirm:$false
Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./q.vfiostate -KeepRunning -Confirm:$false
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./q.vfiostate -Start -Confirm:$false
Reset-VfioDevice -Simulated 0000:3b:00.3 -Confirm:$false
$null = New-VfioSimulatedDevice -Address 0000:01:00.0 -Confirm:$false
Add-VfioSimulatedFault -Address 0000:01:00.0 -Point Transition -ArcTo Stop -Confirm:$false | Out-Null
Clear-VfioSimulatedFault -Address 0000:01:00.0 -Confirm:$false
Remove-VfioSimulatedDevice -Address 0000:01:00.0 -Confirm:$false
'done: ' + ((Get-VfioDevice -Simulated 0000:5e:00.1, 0000:3b:00.2, 0000:3b:00.3).State -join ',')
'@ -WorkingDirectory $script:Work
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Contain 'done: Running,Running,Running'
    }

    It 'restores onto a freshly opened device without any question' {
        $r = Invoke-Child @'
Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./fresh.vfiostate
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./fresh.vfiostate -Start
(Get-VfioDevice -Simulated 0000:5e:00.1).State
'@ -WorkingDirectory $script:Work
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('Running')
    }

    It 'asks before replacing restored state, and says how to go ahead where it cannot ask' {
        $r = Invoke-Child @'
Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./twice.vfiostate -KeepRunning
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./twice.vfiostate -Start
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./twice.vfiostate -ErrorVariable e -ErrorAction SilentlyContinue
$e[0].FullyQualifiedErrorId
$e[0].ErrorDetails.RecommendedAction
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./twice.vfiostate -Force
(Get-VfioDevice -Simulated 0000:5e:00.1).State
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./twice.vfiostate -Confirm:$false
(Get-VfioDevice -Simulated 0000:5e:00.1).State
'@ -WorkingDirectory $script:Work
        $r.Errors | Should -BeNullOrEmpty
        # newuser finding 8: the way out that answers every question, -Confirm:$false, is the recommendation.
        $r.Output | Should -Be @('ConfirmationRequired,VfioMigration.PowerShell.Commands.RestoreVfioDeviceStateCommand',
            'Add -Confirm:$false to go ahead without asking: it answers every question of the command.', 'Stop', 'Stop')
    }

    It 'does not let -Force relax the identity check' {
        Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Work 'qat.vfiostate') -Force
        Restore-VfioDeviceState -Simulated 0000:3b:00.2 -Path (Join-Path $script:Work 'qat.vfiostate') -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ImageDeviceMismatch,*'
        $err[0].ErrorDetails.RecommendedAction | Should -Match '-SkipIdentityCheck'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }

    It 'prints nothing for an error caught with -ErrorAction Stop' {
        $r = Invoke-Child @'
try { Set-VfioDeviceState -Simulated 0000:d8:00.0 -State Stop -ErrorAction Stop } catch { 'caught ' + $_.FullyQualifiedErrorId }
'@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('caught MigrationNotSupported,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand')
    }

    It 'warns, per device, when Remove-Module closes a device left in a state other than Running' {
        $r = Invoke-Child @'
Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy
Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop
Set-VfioDeviceState -Simulated 0000:3b:00.3 -State Running
Remove-Module VfioMigration 3>&1 | ForEach-Object { "$_" }
'@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 2
        $r.Output[0] | Should -Match '0000:3b:00\.2, left in StopCopy: closing ends its migration session and returns it to Running'
        $r.Output[1] | Should -Match '0000:5e:00\.1, left in Stop'
    }
}

Describe 'Several devices in one call' {
    It 'acts on every device that can take part and gives the others their own error' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Stop
        $changed = Get-VfioDevice -Simulated | Set-VfioDeviceState -State Running -PassThru -ErrorVariable err -ErrorAction SilentlyContinue
        $changed.Count | Should -Be 7
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'MigrationNotSupported,*'
        $err[0].Exception.Message | Should -Match '^0000:d8:00\.0: cannot change state to Running'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }

    It 'names the requested target when refusing a device without migration' {
        Set-VfioDeviceState -Simulated 0000:d8:00.0 -State Stop -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].Exception.Message | Should -Match 'cannot change state to Stop'
    }

    It 'warns that devices stopped one by one are not a set, and treats -Together as one' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -State Stop -WarningVariable w -WarningAction SilentlyContinue
        $w[0] | Should -Match 'use -Together'
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -State Running -Together -WarningVariable w2 -WarningAction SilentlyContinue
        $w2 | Should -BeNullOrEmpty
    }

    It 'saves independent images by default and one linked set with -Together' {
        $dir = [IO.Directory]::CreateTempSubdirectory('vfio-set-').FullName
        try {
            $alone = Save-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path (Join-Path $dir 'a1.vfiostate'), (Join-Path $dir 'b1.vfiostate') -KeepRunning -PassThru -WarningAction SilentlyContinue
            $alone.Count | Should -Be 2
            $alone | ForEach-Object { $_.SetId | Should -BeNullOrEmpty }
            $set = Save-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path (Join-Path $dir 'a2.vfiostate'), (Join-Path $dir 'b2.vfiostate') -KeepRunning -Together -PassThru
            $set[0].SetId | Should -Not -BeNullOrEmpty
            $set[0].SetId | Should -Be $set[1].SetId
            $set.SetPosition | Should -Be @('1/2', '2/2')
        } finally { Remove-Item -Recurse -Force $dir }
    }

    It 'warns when -SkipQuiesceCheck lets a save set through, as a state change does' {
        $dir = [IO.Directory]::CreateTempSubdirectory('vfio-set-').FullName
        try {
            Save-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -Path $dir -Together -ErrorVariable err -ErrorAction SilentlyContinue
            $err.FullyQualifiedErrorId | Should -Contain 'PeerQuiesceUnsupported,VfioMigration.PowerShell.Commands.SaveVfioDeviceStateCommand'
            Save-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -Path $dir -Together -SkipQuiesceCheck -WarningVariable w -WarningAction SilentlyContinue
            $w -join "`n" | Should -Match '0000:5e:00\.1 \(in Running\) cannot quiesce'
        } finally { Remove-Item -Recurse -Force $dir }
    }
}

Describe 'Pipeline binding' {
    It 'binds plain names from the pipeline' {
        '0000:5e:00.1' | Set-VfioDeviceState -Simulated -State Stop
        (Get-VfioDevice -Simulated 0000:5e:00.1).State | Should -Be 'Stop'
        ('0000:3b:00.2', '0000:3b:00.3' | Get-VfioDevice -Simulated).Name | Should -Be @('0000:3b:00.2', '0000:3b:00.3')
    }

    It 'takes a CSV inventory, where IsSimulated is the text True, to the simulated host' {
        $csv = Get-VfioDevice -Simulated 0000:3b:00.2 | Select-Object Name, IsSimulated | ConvertTo-Csv | ConvertFrom-Csv
        $csv.IsSimulated | Should -BeOfType [string]
        ($csv | Set-VfioDeviceState -State Stop -PassThru).State | Should -Be 'Stop'
    }

    It 'refuses an IsSimulated text that is no truth value instead of going to the real host' {
        { [pscustomobject]@{ Name = '0000:3b:00.2'; IsSimulated = 'maybe' } | Set-VfioDeviceState -State Stop -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*'maybe' is not a truth value*"
    }

    It 'checks every device with Test-VfioMigration and no -Address' {
        (Test-VfioMigration -Simulated).Name | Should -Be (Get-VfioDevice -Simulated).Name
    }
}

Describe 'Errors that say where the device is' {
    It 'says a device stuck in Resuming has an incomplete stream and that a reset aborts it, offering no refused state' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Resuming
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Running -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].Exception.Message | Should -Match 'missing or incomplete'
        $err[0].ErrorDetails.RecommendedAction | Should -Match 'Reset-VfioDevice'
        $err[0].Exception.Message | Should -Not -Match 'can reach:.*Running'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Resuming'
    }
}

Describe 'What two reviewers broke (fixed)' {
    BeforeEach {
        $script:Dir = [IO.Directory]::CreateTempSubdirectory('vfio-review-').FullName
    }
    AfterEach { Remove-Item -Recurse -Force $script:Dir }

    It 'refuses two devices of one call sharing one image file, before touching either' {
        $f = Join-Path $script:Dir 'same.vfiostate'
        Save-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path $f, $f -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 2
        $err | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'ImagePathConflict,*' }
        Test-Path $f | Should -BeFalse
        (Get-VfioDevice -Simulated '0000:3b:*').State | Should -Be @('Running', 'Running')
    }

    It 'pairs each image file with its name when another name matches nothing' {
        $a = Join-Path $script:Dir 'a.vfiostate'; $b = Join-Path $script:Dir 'b.vfiostate'; $c = Join-Path $script:Dir 'c.vfiostate'
        Save-VfioDeviceState -Simulated 0000:3b:00.3, 0000:99:00.0, 0000:5e:00.1 -Path $a, $b, $c -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DeviceNotFound,*'
        (Get-VfioStateImage $a).DeviceName | Should -Be '0000:3b:00.3'
        (Get-VfioStateImage $c).DeviceName | Should -Be '0000:5e:00.1'
        Test-Path $b | Should -BeFalse
    }

    It 'takes an empty IsSimulated cell as an error, never as the real host' {
        { 'Name,IsSimulated', '0000:3b:00.3,' | ConvertFrom-Csv | Set-VfioDeviceState -State Stop -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*not a truth value*"
        { [pscustomobject]@{ Name = '0000:3b:00.3'; IsSimulated = '' } | Set-VfioDeviceState -State Stop -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*not a truth value*"
        (Get-VfioDevice -Simulated 0000:3b:00.3).State | Should -Be 'Running'
    }

    It 'keeps simulated devices going when real ones in the same pipeline cannot be reached' -Skip:(Test-Path /dev/vfio/vfio) {
        $dev = Get-VfioDevice -Simulated 0000:3b:00.2
        '0000:3b:00.3', $dev | Set-VfioDeviceState -State Stop -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'VfioNotAvailable,*'
        $err[0].TargetObject | Should -Be '0000:3b:00.3'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Stop'
    }

    It 'treats a -Together set as all or nothing when a member cannot take part' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:d8:00.0 -State Stop -Together -ErrorVariable err -ErrorAction SilentlyContinue
        ($err.FullyQualifiedErrorId | ForEach-Object { $_ -replace ',.*' }) | Should -Be @('MigrationNotSupported', 'SetRefused')
        $err[1].Exception.Message | Should -Match '^0000:3b:00\.2: not changed \(still Running\)'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }

    It 'refuses a -Together set before any member moves when one member''s change is refused' {
        Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy
        Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -State PreCopy -Together -ErrorVariable err -ErrorAction SilentlyContinue
        ($err.FullyQualifiedErrorId | ForEach-Object { $_ -replace ',.*' }) | Should -Be @('TransitionRefused', 'SetRefused')
        (Get-VfioDevice -Simulated 0000:3b:00.3).State | Should -Be 'Running'
    }

    It 'says which wildcard is invalid, for that name only' {
        $found = Get-VfioDevice -Simulated '0000:[', 0000:5e:00.1 -ErrorVariable err -ErrorAction SilentlyContinue
        $found.Name | Should -Be '0000:5e:00.1'
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidDeviceName,*'
        Set-VfioDeviceState -Simulated -Address '[' -State Stop -ErrorVariable err2 -ErrorAction SilentlyContinue
        $err2[0].FullyQualifiedErrorId | Should -BeLike 'InvalidDeviceName,*'
    }

    It 'binds Get-VfioDevice from device objects, images and CSV rows' {
        $csv = 'Name,IsSimulated', '0000:5e:00.1,True' | ConvertFrom-Csv
        ($csv | Get-VfioDevice).Name | Should -Be '0000:5e:00.1'
        (Get-VfioDevice -Simulated 0000:3b:00.2 | Get-VfioDevice).Name | Should -Be '0000:3b:00.2'
        $image = Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path (Join-Path $script:Dir 'q.vfiostate') -KeepRunning -PassThru
        ($image | Get-VfioDevice -Simulated).Name | Should -Be '0000:5e:00.1'
    }

    It 'rolls a device back twice with -Confirm:$false alone in pwsh -NonInteractive' {
        $r = Invoke-Child @'
Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./ck.vfiostate -KeepRunning -Confirm:$false
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./ck.vfiostate -Start -Confirm:$false
Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path ./ck.vfiostate -Start -Confirm:$false
Reset-VfioDevice -Simulated 0000:5e:00.1 -Confirm:$false
(Get-VfioDevice -Simulated 0000:5e:00.1).State
'@ -WorkingDirectory $script:Dir
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('Running')
    }

    It 'refuses -Path and -LiteralPath together on Restore, as Get-VfioStateImage does' {
        # They were added up: one image given both ways was '2 image(s) for 1 device(s)'.
        $image = Join-Path $script:Dir 'both-ways.vfiostate'
        $e = { Restore-VfioDeviceState -Simulated 0000:3b:00.2 -Path $image -LiteralPath $image -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidParameterCombination,*' -PassThru
        $e.Exception.Message | Should -Be '-Path and -LiteralPath are alternatives; give the images with one of them.'
        { Get-VfioStateImage -Path $image -LiteralPath $image -ErrorAction Stop } | Should -Throw -ErrorId 'AmbiguousParameterSet,*'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }

    It 'refuses switches that mean nothing without their partner' {
        { Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Stop -SkipQuiesceCheck -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidParameterCombination,*'
        { Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path $script:Dir -MaxDowntimeMs 5 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidParameterCombination,*'
        (Get-VfioDevice -Simulated 0000:3b:00.2).State | Should -Be 'Running'
    }

    It 'tells Test-VfioMigration users the switch that really overrides the quiesce check' {
        $set = Get-VfioDevice -Simulated 0000:3b:00.2, 0000:5e:00.1 | Test-VfioMigration -Together
        ($set.Blockers | Where-Object Code -eq NoP2PQuiesce).Fix | Should -Match '-SkipQuiesceCheck'
        ($set.Blockers | Where-Object Code -eq NoP2PQuiesce).Fix | Should -Not -Match '-Force'
        # Test-VfioMigration has no -SkipQuiesceCheck: the fix names the cmdlets that have it.
        ($set.Blockers | Where-Object Code -eq NoP2PQuiesce).Fix | Should -Match '-SkipQuiesceCheck \(on Set-VfioDeviceState and Save-VfioDeviceState with -Together\)'
        @((Get-Command Set-VfioDeviceState, Save-VfioDeviceState, Test-VfioMigration).Where({ $_.Parameters.ContainsKey('SkipQuiesceCheck') }).Name) | Should -Be @('Set-VfioDeviceState', 'Save-VfioDeviceState')
    }

    It 'says why a reset failed and where the device is' {
        Reset-VfioDevice -Simulated 0000:d8:00.0 -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].Exception.Message | Should -Match 'VFIO_DEVICE_RESET failed: EINVAL \(22\)\. The device has no reset method'
    }

    It 'refuses a simulated device that names itself as its peer' {
        { New-VfioSimulatedDevice -Address 0000:08:00.0 -PeerAddress 0000:08:00.0 -ErrorAction Stop } | Should -Throw -ExpectedMessage '*cannot be its own peer*'
    }

    It 'ends a failing restore, not the script, when a command downstream stops the pipeline' {
        # Select-Object -First stops the commands before it; swallowing that stop ended the whole script, exit 0.
        $r = Invoke-Child @'
Add-VfioSimulatedFault -Simulated 0000:3b:00.2 -TruncateSaveStreamAt 1000 | Out-Null
Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path ./x2.vfiostate -KeepRunning -WarningAction SilentlyContinue # the cut stream warns (issue 9)
Save-VfioDeviceState -Simulated 0000:3b:00.3 -Path ./x3.vfiostate -KeepRunning
$null = Restore-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path ./x2.vfiostate, ./x3.vfiostate -Together -Start -Verbose 4>&1 | Select-Object -First 4
'alive'
(Get-VfioDevice -Simulated 0000:3b:00.2, 0000:3b:00.3).State -join ','
'@ -WorkingDirectory $script:Dir
        $r.Output | Should -Be @('alive', 'Running,Running')
    }

    It 'shows no default for a mandatory parameter in help' {
        ((Get-Help Set-VfioDeviceState).parameters.parameter | Where-Object name -eq State).defaultValue | Should -Be 'None'
    }
}

Describe 'Help you can run' {
    It 'has help metadata generated from the cmdlets as built' {
        & (Join-Path $PSScriptRoot '..' 'tools' 'Update-ModuleHelp.ps1') -Module $script:Manifest -Check | Should -Be 'help metadata is current'
    }

    It 'links every cmdlet''s help to related cmdlets' {
        foreach ($c in Get-Command -Module VfioMigration) {
            @((Get-Help $c.Name).relatedLinks.navigationLink.linkText) | Should -Contain 'about_VfioMigration'
            @((Get-Help $c.Name).relatedLinks.navigationLink.linkText).Count | Should -BeGreaterThan 1
        }
    }

    It 'runs example <Number> of <Command> as written in a fresh session' -ForEach @(
        foreach ($c in (Get-Command -Module VfioMigration -ErrorAction SilentlyContinue)) {
            $i = 0
            foreach ($e in @((Get-Help $c.Name).examples.example)) { $i++; @{ Command = $c.Name; Number = $i; Code = ($e.code -join "`n") } }
        }) {
        # A fresh session: a new runspace (autoloading on, no host, so nothing can prompt) in an empty directory.
        $dir = [IO.Directory]::CreateTempSubdirectory('vfio-help-').FullName
        $runspace = [runspacefactory]::CreateRunspace([initialsessionstate]::CreateDefault2())
        $runspace.Open()
        $shell = [powershell]::Create()
        $shell.Runspace = $runspace
        try {
            $null = $shell.AddScript("Set-Location -LiteralPath '$dir'; Import-Module '$script:Manifest'`n$Code")
            $null = $shell.Invoke()
            @($shell.Streams.Error | ForEach-Object { "$($_.FullyQualifiedErrorId): $_" }) | Should -BeNullOrEmpty
        } finally {
            $shell.Dispose()
            $runspace.Dispose()
            Remove-Item -Recurse -Force $dir
        }
    }
}

Describe 'The examples' {
    It 'runs <_> as it stands in pwsh -NonInteractive' -ForEach @('tour.ps1', 'multi-device-quiesce.ps1', 'checkpoint-restore.ps1', 'move-vm-devices.ps1', 'conformance-junit.ps1') {
        # Pester comes from NuGet here, not from a module path: conformance-junit.ps1 needs it loaded.
        $r = Invoke-Child "Import-Module '$(Join-Path (Get-Module Pester).ModuleBase Pester.psd1)'; & '$(Join-Path $PSScriptRoot '..' 'examples' $_)'"
        $r.Errors | Should -BeNullOrEmpty
        $r.ExitCode | Should -Be 0
        ($r.Output -join "`n") | Should -Not -Match 'Exception|NonInteractive'
    }
}
}
