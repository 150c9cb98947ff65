# Stopping devices that DMA into each other: quiesce them all before any stops.
# Runs as it stands: pwsh -c 'Import-Module ./out/VfioMigration/VfioMigration.psd1; ./examples/multi-device-quiesce.ps1'
#Requires -Modules VfioMigration

# Two more v2 functions, linked peer-to-peer: while running, each writes into the other's BAR.
$a = New-VfioSimulatedDevice -Address 0000:41:00.0 -Capabilities P2P, PreCopy -MemorySize 256KB -Seed 41
$b = New-VfioSimulatedDevice -Address 0000:41:00.1 -Capabilities P2P, PreCopy -MemorySize 256KB -Seed 42 -PeerAddress 0000:41:00.0

'== One set (-Together): every device enters RunningP2P before any device stops'
$a, $b | Set-VfioDeviceState -State Stop -Together -Verbose -PassThru | Out-Host

'== A set with a device that cannot quiesce peer-to-peer traffic is refused, naming it'
Set-VfioDeviceState -Simulated -Address 0000:3b:00.2, 0000:5e:00.1 -State Stop -Together -ErrorVariable refused -ErrorAction SilentlyContinue
"$($refused[0].FullyQualifiedErrorId): $($refused[0].Exception.Message)"
"Recommendation: $($refused[0].ErrorDetails.RecommendedAction)"

'== -SkipQuiesceCheck accepts the risk, with a warning'
Set-VfioDeviceState -Simulated -Address 0000:3b:00.2, 0000:5e:00.1 -State Stop -Together -SkipQuiesceCheck -WarningVariable risk -WarningAction SilentlyContinue
"WARNING: $($risk[0])"
Get-VfioDevice -Simulated 0000:3b:00.2, 0000:5e:00.1 | Out-Host

'== Back to Running, together (stopped devices wake through RunningP2P first)'
Get-VfioDevice -Simulated -MigrationCapable | Where-Object State -ne Running | Set-VfioDeviceState -State Running -Together
Get-VfioDevice -Simulated | Out-Host
