using System.Management.Automation;
using VfioMigration.PowerShell.Completion;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>Lists VFIO devices with their migration protocol, capabilities and state.</summary>
[Cmdlet(VerbsCommon.Get, "VfioDevice")]
[OutputType(typeof(VfioDevice))]
public sealed class GetVfioDeviceCommand : VfioCmdlet
{
    /// <summary>
    /// Names of the devices to list (PCI address, ccw bus id, mdev UUID); wildcards allowed. A literal name that
    /// matches no device is a non-terminating error. Binds strings from the pipeline, and by property name Name
    /// (device objects) and DeviceName (images).
    /// </summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(AddressCompleter))]
    [Alias("Name", "DeviceName")]
    [SupportsWildcards]
    [Binding.NotEmpty("a device name (PCI address, ccw bus id or mdev UUID), or leave -Address out for every device")]
    public string[]? Address { get; set; }

    /// <summary>
    /// The simulated host instead of this machine's devices; binds from an IsSimulated property (device objects,
    /// also deserialized, and CSV inventories where it is the text True).
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("IsSimulated")]
    [Binding.BooleanText]
    public SwitchParameter Simulated { get; set; }

    [Parameter]
    [Binding.OneName(typeof(VfioDeviceKind))]
    public VfioDeviceKind? Kind { get; set; }

    [Parameter]
    public SwitchParameter MigrationCapable { get; set; }

    /// <summary>Real host: also list PCI devices not bound to a VFIO driver, as candidates.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    protected override void Process()
    {
        var session = SessionFor(Simulated, evenWithoutVfio: All);
        var ids = Address is null ? session.Enumerate(All) : this.Resolve(session, Address, All);
        foreach (var id in ids)
        {
            if (Cancellation.IsCancellationRequested) break;
            if (Kind is { } k && id.Kind != k) continue;
            var device = session.Describe(id);
            this.DrainLog();
            if (MigrationCapable && device.Protocol == MigrationProtocol.None) continue;
            if (device.LeftByAnotherProcess)
                WriteWarning($"{device.Name} is in {device.State}, a migration session another process left; it was left as found. The next Set-, Save- or Restore-VfioDeviceState on it ends that session first.");
            WriteObject(device);
        }
    }
}
