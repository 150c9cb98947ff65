# Move a two-device VM's device state from one simulated device set to another: a live save of both devices as
# one consistent set (quiesced together), then a restore onto two other devices, started together.
# Runs as it stands: pwsh -c 'Import-Module ./out/VfioMigration/VfioMigration.psd1; ./examples/move-vm-devices.ps1'
#Requires -Modules VfioMigration

$dir = [System.IO.Directory]::CreateTempSubdirectory('vfio-move-').FullName

'== Source: the VM''s two peer-to-peer linked functions'
$source = Get-VfioDevice -Simulated 0000:3b:00.2, 0000:3b:00.3
$source | Out-Host

'== Live save of both as one set (-Together: pre-copy rounds, then both quiesced, then stop-copy of each)'
$images = $source | Save-VfioDeviceState -Path $dir -Live -Together -PassThru
$images | Out-Host

'== Destination: two compatible functions on another bus, linked the same way'
$null = New-VfioSimulatedDevice -Address 0000:86:00.2 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB
$null = New-VfioSimulatedDevice -Address 0000:86:00.3 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB -PeerAddress 0000:86:00.2
$target = Get-VfioDevice -Simulated 0000:86:00.2, 0000:86:00.3

'== Restore the set onto them and start them (images of one set restore as one; woken peer-quiesced first)'
$target | Restore-VfioDeviceState -Path $images.Path -Start -PassThru | Out-Host

[System.IO.Directory]::Delete($dir, $true)
