using System.Management.Automation;
using VfioMigration.Operations;
using VfioMigration.PowerShell.Errors;

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

    protected override bool LooksOnly => true;

    protected override bool TargetsAllWithoutAddress => true;

    /// <summary>Device names; wildcards allowed. Without it, every device of the host is checked.</summary>
    [Parameter(Position = 0, ParameterSetName = ByAddress, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(Completion.AddressCompleter))]
    [Alias("Name", "DeviceName")]
    [SupportsWildcards]
    [Binding.NotEmpty("a device name (PCI address, ccw bus id or mdev UUID), or leave -Address out for every device")]
    public override string[] Address { get => base.Address; set => base.Address = value; }

    /// <summary>The devices move together (one VM's devices): each must be able to quiesce peer-to-peer DMA.</summary>
    [Parameter]
    public SwitchParameter Together { get; set; }

    /// <summary>Each blocker's fix gains the module's wording of its remedy (the cmdlet or switch), as errors do.</summary>
    private static VfioMigrationReadiness Worded(VfioMigrationReadiness r)
    {
        for (int i = 0; i < r.Blockers.Length; i++)
            if (ErrorRecords.Wording(r.Blockers[i].Remedy) is { } action)
                r.Blockers[i] = r.Blockers[i] with { Fix = $"{r.Blockers[i].Fix} {action}" };
        return r;
    }

    protected override void EndProcessing()
    {
        foreach (var (session, devices) in Targets())
        {
            if (devices.Count == 0) continue;
            foreach (var r in MigrationReadinessCheck.Check(session, devices, Together)) WriteObject(Worded(r));
            this.DrainLog();
        }
    }
}
