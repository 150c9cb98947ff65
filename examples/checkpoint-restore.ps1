# Checkpoint one device while it keeps running, let it run on, then roll it back to the checkpoint.
# Runs as it stands: pwsh -c 'Import-Module ./out/VfioMigration/VfioMigration.psd1; ./examples/checkpoint-restore.ps1'
#Requires -Modules VfioMigration

$dir = [System.IO.Directory]::CreateTempSubdirectory('vfio-checkpoint-').FullName
$image = [System.IO.Path]::Combine($dir, 'qat.vfiostate')

'== Checkpoint: save the state and keep the device running'
Save-VfioDeviceState -Simulated -Address 0000:5e:00.1 -Path $image -KeepRunning -PassThru | Out-Host

'== The image verifies on its own, no device involved'
$checked = Get-VfioStateImage -Path $image
'{0}: saved from {1} ({2}, {3}), {4} bytes, valid: {5}, xxh128 {6}' -f $checked.Path, $checked.DeviceName, $checked.Protocol, $checked.SaveMode, $checked.DataBytes, $checked.IsValid, $checked.Checksum

'== Roll back: restore the checkpoint over the running device and start it again'
Restore-VfioDeviceState -Simulated -Address 0000:5e:00.1 -Path $image -Start -PassThru | Out-Host

[System.IO.Directory]::Delete($dir, $true)
