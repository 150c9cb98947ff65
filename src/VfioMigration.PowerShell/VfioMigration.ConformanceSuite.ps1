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
    $results = @(Test-VfioMigrationConformance @arguments -ErrorVariable +runErrors -ErrorAction SilentlyContinue)
    $problems = @($runErrors | ForEach-Object { "$($_.FullyQualifiedErrorId): $_" })
    $areas = @($results.Area | Select-Object -Unique)  # in the order the suite ran them
}

Describe "Migration conformance of $Address$(if ($PeerAddress) { " (peer $PeerAddress)" })" -Tag 'vfio-conformance' {
    It 'runs on the device and leaves it reset and Running' -ForEach @(@{ Problems = $problems; Count = $results.Count }) {
        if ($Problems) { throw ($Problems -join "`n") }
        $Count | Should -BeGreaterThan 0 -Because 'a device that can be opened gets at least the plumbing checks'
    }

    foreach ($area in $areas) {
        Context $area -Tag $area {
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
