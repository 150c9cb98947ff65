# The VfioMigration migration conformance suite as a Pester 5 container: one It per check, tagged with its area
# (plumbing, fsm, data, resume, dma-logging, v1, ndma). Get-VfioConformanceSuite gives this file's path. (Not named
# *.Tests.ps1: it needs its Address, so Invoke-Pester on a folder that holds the module must not pick it up.)
#
#   $container = New-PesterContainer -Path (Get-VfioConformanceSuite).FullName -Data @{ Address = '0000:3b:00.2' }
#   Invoke-Pester -Container $container -TagFilter fsm, data
#
# Destructive, like Test-VfioMigrationConformance (which it calls with -Confirm:$false; running the container is the
# confirmation): the device is reset and moved through every migration state, then left reset and Running.
param(
    # The device: PCI address, ccw bus id or mdev UUID.
    [Parameter(Mandatory)] [string] $Address,
    # A second, compatible device for the save -> restore round trip.
    [string] $PeerAddress,
    # The module's simulated host instead of the real one.
    [switch] $Simulated
)

BeforeDiscovery {
    # The checks are the Its, so the suite runs during discovery; the run phase reports each verdict.
    if (-not (Get-Module VfioMigration)) { Import-Module (Join-Path $PSScriptRoot 'VfioMigration.psd1') }
    $arguments = @{ Address = $Address; Simulated = [bool] $Simulated; Confirm = $false; InformationAction = 'SilentlyContinue' }
    if ($PeerAddress) { $arguments.PeerAddress = $PeerAddress }
    $runErrors = @()
    # A refusal that ends the command (no VFIO on the host) is caught too: it is reported by the Its below, not
    # as a discovery error that a JUnit reader would not count as a failure.
    # (6>$null: the summary is a host message, which -InformationAction SilentlyContinue does not keep off the console.)
    $results = @(try { Test-VfioMigrationConformance @arguments -ErrorVariable +runErrors -ErrorAction SilentlyContinue 6>$null } catch { $runErrors += $_ })
    $problems = @($runErrors | ForEach-Object { "$($_.FullyQualifiedErrorId): $_" })
    $areas = @($results.Area | Select-Object -Unique)  # in the order the suite ran them
    # Every area tag, so that no -TagFilter / -ExcludeTagFilter can leave out the report that the run did not
    # happen (a device missing or that cannot be opened): a filtered run must never come out green by itself.
    $allAreas = [VfioMigration.ConformanceArea]::All
    # A run whose migration support could not even be read (plumbing.detect failed) ran no check of any other
    # area: it did not happen either.
    $undetected = @($results | Where-Object { $_.Check -eq 'plumbing.detect' -and $_.Outcome -eq 'Failed' })
    $problems += @($undetected | ForEach-Object { "[$($_.Number)] $($_.Check): $($_.Reason): $($_.Observed)" })
    $ran = $results.Count -gt 0 -and $undetected.Count -eq 0
}

Describe "Migration conformance of $Address$(if ($PeerAddress) { " (peer $PeerAddress)" })" -Tag 'vfio-conformance' {
    if ($ran) {
        # Tagged with every area, so that any -TagFilter keeps what the run left behind.
        It 'runs on the device and leaves it reset and Running' -Tag $allAreas -ForEach @(@{ Problems = $problems }) {
            if ($Problems) { throw ($Problems -join "`n") }
        }
    }
    else {
        # Untagged, so that an -ExcludeTagFilter of any areas keeps it; the per-area failures below serve -TagFilter.
        It 'runs on the device and leaves it reset and Running' -ForEach @(@{ Problems = $problems }) {
            throw "The conformance suite did not run: $(if ($Problems) { $Problems -join "`n" } else { 'no check ran' })"
        }
    }

    foreach ($area in $(if ($ran) { $areas } else { $allAreas })) {
        Context $area -Tag $area {
            if (-not $ran) {
                # One failure per area, tagged with that area alone: whatever the filters keep, the run that did
                # not happen is reported.
                It "[$area] did not run" -Tag $area -ForEach @(@{ Problems = $problems; Area = $area }) {
                    throw "No $Area check ran: $(if ($Problems) { $Problems -join "`n" } else { 'the suite gave no results' })"
                }
            }
            foreach ($r in @($results | Where-Object Area -eq $area)) {
                It "[$($r.Number)] $($r.Check): $($r.Name)" -Tag $r.Area -ForEach @(@{ Result = $r }) {
                    if ($Result.Outcome -eq 'NotApplicable') {
                        Set-ItResult -Skipped -Because $Result.Reason
                        return
                    }
                    if ($Result.Outcome -ne 'Passed') {
                        throw ("[{0}] {1}: {2}`nObserved: {3}`nRequired: {4}`nSource:   {5}" -f
                            $Result.Number, $Result.Name, $Result.Reason, $Result.Observed, $Result.Required, $Result.Source)
                    }
                }
            }
        }
    }
}
