# A tour of the simulated host: list devices, move one through the migration states, recover from Error.
# Runs as it stands: pwsh -c 'Import-Module ./out/VfioMigration/VfioMigration.psd1; ./examples/tour.ps1'
#Requires -Modules VfioMigration

'== The simulated host: PCI functions (v1 and v2) and s390 ccw subchannels'
Get-VfioDevice -Simulated | Out-Host

'== Stop-and-copy one device; every hop of the path shows with -Verbose'
Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State StopCopy -Verbose -PassThru | Out-Host

'== A stop-copy session cannot go back to pre-copy: the error says where the device is and where it can go'
Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State PreCopy -ErrorVariable refused -ErrorAction SilentlyContinue
"$($refused[0].FullyQualifiedErrorId): $($refused[0].Exception.Message)"

'== Back to Running'
Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State Running -PassThru | Out-Host

'== A v1 device: the same states, shown with their device_state bits'
foreach ($state in 'RunningP2P', 'PreCopyP2P', 'StopCopy', 'Stop', 'Running') {
    $d = Set-VfioDeviceState -Simulated -Address 0000:af:00.1 -State $state -PassThru
    '{0,-11} -> device_state 0x{1:X} ({2})' -f $state, $d.RawDeviceState, $d.DeviceStateBits
}

'== Rehearse a failure: the next arc into Stop fails into Error; a device holding nothing of value is reset as a last resort'
# The device holds nothing a reset would lose, so the module resets it as a last resort and says so.
Add-VfioSimulatedFault -Address 0000:3b:00.3 -Point Transition -ArcTo Stop -EnterError | Out-Null
Set-VfioDeviceState -Simulated -Address 0000:3b:00.3 -State Stop -ErrorVariable failed -ErrorAction SilentlyContinue
"$($failed[0].FullyQualifiedErrorId): $($failed[0].Exception.Message)"
Get-VfioDevice -Simulated 0000:3b:00.3 | Out-Host

'== The same failure on a device holding restored state that no save has captured: it stays in Error'
$image = [IO.Path]::Combine([IO.Path]::GetTempPath(), "vfio-tour-$PID.vfiostate")
Save-VfioDeviceState -Simulated -Address 0000:3b:00.3 -Path $image -KeepRunning
Restore-VfioDeviceState -Simulated -Address 0000:3b:00.3 -Path $image -Start
[IO.File]::Delete($image)
Add-VfioSimulatedFault -Address 0000:3b:00.3 -Point Transition -ArcTo Stop -EnterError | Out-Null
Set-VfioDeviceState -Simulated -Address 0000:3b:00.3 -State Stop -ErrorVariable failed -ErrorAction SilentlyContinue
"$($failed[0].FullyQualifiedErrorId): $($failed[0].Exception.Message)"
"Recommendation: $($failed[0].ErrorDetails.RecommendedAction)"
Get-VfioDevice -Simulated 0000:3b:00.3 | Out-Host

'== Recover: a device reset is the only way out of Error; -Force because it discards the restored state'
Reset-VfioDevice -Simulated -Address 0000:3b:00.3 -Force -PassThru | Out-Host

'== Why can''t it migrate? Every blocker, with its cause and fix'
Test-VfioMigration -Simulated -Address 0000:d8:00.0, 0000:5e:00.1 | Out-Host
