using System.Management.Automation;
using VfioMigration.Inventory;
using VfioMigration.PowerShell.Completion;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>Lists VFIO devices with their migration protocol, capabilities and state.</summary>
[Cmdlet(VerbsCommon.Get, "VfioDevice")]
[OutputType(typeof(VfioDevice))]
public sealed class GetVfioDeviceCommand : VfioCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(AddressCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Address { get; set; }

    [Parameter]
    public SwitchParameter Simulated { get; set; }

    [Parameter]
    public VfioDeviceKind? Kind { get; set; }

    [Parameter]
    public SwitchParameter MigrationCapable { get; set; }

    /// <summary>Real host: also list PCI devices not bound to a VFIO driver, as candidates.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord()
    {
        var session = SessionFor(Simulated, evenWithoutVfio: All);
        var ids = Address is null ? session.Enumerate(All) : Resolve(session, Address, All);
        foreach (var id in ids)
        {
            if (Cancellation.IsCancellationRequested) break;
            if (Kind is { } k && id.Kind != k) continue;
            var device = session.Describe(id);
            DrainLog();
            if (MigrationCapable && device.Protocol == MigrationProtocol.None) continue;
            WriteObject(device);
        }
    }
}
