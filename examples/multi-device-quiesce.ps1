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

'== NDMA (v1) has two readings; the conformance suite says which one a device follows'
# The December 2021 RFC: in NDMA (0x9) a device starts no DMA at all. The thread ended with "maybe should be
# NOP2P": only peer-to-peer DMA stops. Two linked v1 pairs, one per reading.
$rfc = New-VfioSimulatedDevice -Address 0000:42:00.0 -Protocol V1 -Capabilities Ndma -MemorySize 64KB -Seed 43
$null = New-VfioSimulatedDevice -Address 0000:42:00.1 -Protocol V1 -Capabilities Ndma -MemorySize 64KB -Seed 44 -PeerAddress 0000:42:00.0
$nop2p = New-VfioSimulatedDevice -Address 0000:43:00.0 -Protocol V1 -Capabilities Ndma -NdmaReading NoPeerToPeer -MemorySize 64KB -Seed 45
$null = New-VfioSimulatedDevice -Address 0000:43:00.1 -Protocol V1 -Capabilities Ndma -NdmaReading NoPeerToPeer -MemorySize 64KB -Seed 46 -PeerAddress 0000:43:00.0
foreach ($d in $rfc, $nop2p) {
    $results = Test-VfioMigrationConformance -Simulated -Address $d.Name -Area ndma -Confirm:$false
    foreach ($r in $results | Where-Object Check -In 'ndma.reading', 'ndma.p2p-quiesced') { "$($d.Name) $($r.Check): $($r.Outcome). $($r.Observed)" }
}

'== What each reading does to a set''s quiesce'
# Both pairs stop the same way: every device to NDMA (RunningP2P), then every device to Stop.
Get-VfioDevice -Simulated 0000:42:00.0, 0000:42:00.1 | Set-VfioDeviceState -State Stop -Together -Verbose
Get-VfioDevice -Simulated 0000:43:00.0, 0000:43:00.1 | Set-VfioDeviceState -State Stop -Together -Verbose
'RFC reading: once every device is in NDMA nothing moves: no peer writes, no DMA into guest memory, no interrupts.'
'NOP2P reading: once every device is in NDMA no device writes into another, so no device''s state changes after'
'  its own stop; DMA into guest memory (and interrupts) go on until each device stops, and land in RAM, which the'
'  VMM copies after the devices stop (dirty tracking sees it). The set is consistent under both readings; only'
'  under NOP2P does guest memory still change between "all quiesced" and "all stopped".'
Get-VfioDevice -Simulated 0000:42:00.0, 0000:42:00.1, 0000:43:00.0, 0000:43:00.1 | Set-VfioDeviceState -State Running -Together
Get-VfioDevice -Simulated 0000:42:00.0, 0000:42:00.1, 0000:43:00.0, 0000:43:00.1 | Out-Host
