<#
.SYNOPSIS
    Moves a VM's device set from one hypervisor to another over PowerShell remoting (SSH).
.DESCRIPTION
    Opens a PSSession to each host (New-PSSession -HostName, SSH transport; both need pwsh with a `powershell`
    subsystem in sshd_config and VfioMigration installed), shows the devices on both and whether they can move,
    saves the source devices live as one set, copies the images to the destination through this machine
    (Copy-Item -FromSession / -ToSession), verifies them there, restores them onto the destination devices and
    starts them. The source devices stay stopped: their state now runs on the destination.
    -WhatIf connects and inspects both hosts but saves, copies and restores nothing; -Confirm asks for the three
    steps before the first one starts. Uses the simulated devices (-Simulated) of each host's VfioMigration, so it
    runs anywhere; on real hypervisors drop -Simulated.
    Runs as it stands: pwsh -c 'Import-Module ./out/VfioMigration/VfioMigration.psd1; ./examples/fleet-move.ps1'
    (with sshd on localhost accepting your key).
.EXAMPLE
    ./examples/fleet-move.ps1 -SourceHost hv1 -DestinationHost hv2 -WhatIf
.EXAMPLE
    ./examples/fleet-move.ps1 -SourceHost hv1 -DestinationHost hv2 -Address 0000:3b:00.2, 0000:3b:00.3
#>
# The module is needed here too: its format data shows the objects that come back from the hosts.
#Requires -Modules VfioMigration
[CmdletBinding(SupportsShouldProcess)]
param(
    # The hypervisor the VM's devices leave.
    [string] $SourceHost = 'localhost',
    # The hypervisor they move to.
    [string] $DestinationHost = 'localhost',
    # The VM's devices on the source: one set, saved together.
    [string[]] $Address = @('0000:3b:00.2', '0000:3b:00.3'),
    # The devices on the destination that take their state, in the same order (default: the same addresses).
    [string[]] $DestinationAddress = $Address,
    # SSH connection for both hosts: port, user, key, and further ssh options (-o name=value) as a hashtable.
    # What is not given here comes from ssh's own configuration (~/.ssh/config), as for `ssh hv1`.
    [ValidateRange(1, 65535)]
    [int] $Port,
    [string] $UserName,
    [string] $KeyFilePath,
    [hashtable] $SshOption
)
$ErrorActionPreference = 'Stop'
if ($DestinationAddress.Count -ne $Address.Count) {
    throw "-DestinationAddress names $($DestinationAddress.Count) devices for the $($Address.Count) of -Address; give one destination per source device."
}

# Only what was given: New-PSSession refuses an empty -Options, and a default port or user would override the
# ssh configuration's.
$ssh = @{}
if ($PSBoundParameters.ContainsKey('Port')) { $ssh.Port = $Port }
if ($UserName) { $ssh.UserName = $UserName }
if ($KeyFilePath) { $ssh.KeyFilePath = $KeyFilePath }
if ($SshOption -and $SshOption.Count) { $ssh.Options = $SshOption }
$source = New-PSSession -HostName $SourceHost -Name source @ssh
$destination = New-PSSession -HostName $DestinationHost -Name destination @ssh
# Where the images are while the move runs; whatever is left here after a failure is named at the end.
$kept = [ordered]@{}
try {
    Invoke-Command $source, $destination { Import-Module VfioMigration }

    "== Source ($SourceHost): the VM's devices"
    $from = Invoke-Command $source { Get-VfioDevice -Simulated -Address $using:Address }
    $from | Out-Host
    "== Destination ($DestinationHost): the devices that take their state"
    $to = Invoke-Command $destination { Get-VfioDevice -Simulated -Address $using:DestinationAddress }
    $to | Out-Host
    '== Can they move? Both sides, each set as a whole'
    # The objects that came back pipe into the cmdlets of the session they came from.
    $readyFrom = @(Invoke-Command $source { $using:from | Test-VfioMigration -Together })
    $readyTo = @(Invoke-Command $destination { $using:to | Test-VfioMigration -Together })
    $readyFrom + $readyTo | Out-Host
    # A set is refused as a whole (every member then says SetMemberCannotMigrate): name the devices whose own
    # blockers refuse it.
    $own = { $_.Blockers | Where-Object { "$($_.Severity)" -eq 'Blocker' -and $_.Code -ne 'SetMemberCannotMigrate' } }
    $blocked = @($readyFrom | Where-Object $own | ForEach-Object { "$($_.Name) on the source ($SourceHost)" }) +
        @($readyTo | Where-Object $own | ForEach-Object { "$($_.Name) on the destination ($DestinationHost)" })
    if ($blocked) { throw "Cannot move: $($blocked -join ', ') cannot migrate; the blockers are listed above." }

    # Decide all three steps before the first: a move stopped half way leaves the VM's devices stopped.
    $save = $PSCmdlet.ShouldProcess("$SourceHost $($Address -join ', ')", 'Save the device state live as one set (the devices stop)')
    $copy = $PSCmdlet.ShouldProcess($DestinationHost, "Copy $($Address.Count) state images from $SourceHost")
    $restore = $PSCmdlet.ShouldProcess("$DestinationHost $($DestinationAddress -join ', ')", 'Restore the device state and start the devices')
    if (-not ($save -and $copy -and $restore)) { return }

    "== Live save on $SourceHost (pre-copy rounds, then the set quiesced and stopped together)"
    $outbox = Invoke-Command $source { [System.IO.Directory]::CreateTempSubdirectory('vfio-fleet-out-').FullName }   # mode 0700
    $kept["the source ($SourceHost)"] = $outbox
    $images = Invoke-Command $source { $using:from | Save-VfioDeviceState -Path $using:outbox -Live -Together -PassThru }
    $images | Out-Host

    "== Copy to $DestinationHost and verify there"
    $staging = [System.IO.Directory]::CreateTempSubdirectory('vfio-fleet-').FullName
    $kept['this machine'] = $staging
    Copy-Item -FromSession $source -Path $images.Path -Destination $staging
    $inbox = Invoke-Command $destination { [System.IO.Directory]::CreateTempSubdirectory('vfio-fleet-in-').FullName }
    $kept["the destination ($DestinationHost)"] = $inbox
    Copy-Item -ToSession $destination -Path (Get-ChildItem -LiteralPath $staging -File).FullName -Destination $inbox
    $arrived = Invoke-Command $destination { Get-VfioStateImage -Path ([System.IO.Path]::Combine($using:inbox, '*.vfiostate')) }
    $arrived | Out-Host
    foreach ($image in $images) {
        $there = $arrived | Where-Object FileName -eq $image.FileName
        if (-not $there -or -not $there.IsValid -or $there.Checksum -ne $image.Checksum) {
            throw "The copy of $($image.Path) on $DestinationHost does not verify."
        }
    }

    "== Restore on $DestinationHost as one set, and start"
    $moved = Invoke-Command $destination { $using:to | Restore-VfioDeviceState -Path ($using:arrived).Path -Start -PassThru }
    $moved | Out-Host

    '== After the move'
    Invoke-Command $source { Get-VfioDevice -Simulated -Address $using:Address } | Out-Host
    # The state lives in the destination devices now: the images are no longer needed anywhere.
    Invoke-Command $source { Remove-Item -LiteralPath $using:outbox -Recurse }
    Invoke-Command $destination { Remove-Item -LiteralPath $using:inbox -Recurse }
    Remove-Item -LiteralPath $staging -Recurse
    $kept.Clear()
} finally {
    # After a failure the saved state may be the only copy of the VM's device state: keep it and say where.
    foreach ($where in $kept.Keys) { Write-Warning "The move did not finish; the images are kept on $where in $($kept[$where])." }
    Remove-PSSession $source, $destination -WhatIf:$false
}
