using System.Management.Automation;
using VfioMigration.Readiness;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Why can't it migrate? Lists, per device or for a set of devices meant to move together, every blocker with
/// its cause and fix. Works on real and simulated devices alike and changes nothing.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "VfioMigration", DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioMigrationReadiness))]
public sealed class TestVfioMigrationCommand : DeviceTargetCmdlet
{
    protected override bool IncludeCandidates => true;

    /// <summary>The devices move together (one VM's devices): each must be able to quiesce peer-to-peer DMA.</summary>
    [Parameter]
    public SwitchParameter Together { get; set; }

    protected override void EndProcessing()
    {
        foreach (var (session, devices) in Targets())
        {
            if (devices.Count == 0) continue;
            foreach (var r in MigrationReadinessCheck.Check(session, devices, Together)) WriteObject(r);
            DrainLog();
        }
    }
}
