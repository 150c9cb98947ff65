using System.Management.Automation;
using VfioMigration.Operations;
using VfioMigration.PowerShell.Completion;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// A cmdlet that acts on devices named by address (with -Simulated) or given as objects from the pipeline.
/// Targets are gathered over the whole pipeline, so several devices can be handled as one operation.
/// </summary>
public abstract class DeviceTargetCmdlet : VfioCmdlet
{
    protected const string ByAddress = "ByAddress";
    protected const string ByObject = "ByObject";

    private readonly List<(bool Simulated, string Pattern)> _targets = new();

    /// <summary>
    /// Device names (PCI address, ccw bus id, mdev UUID); wildcards allowed. Binds plain strings from the pipeline,
    /// and by property name the Name of a device object (also deserialized) or the DeviceName of an image. An empty
    /// or null name (a variable that was not set) is an InvalidDeviceName error, which -ErrorAction Stop stops at.
    /// </summary>
    // Not [ValidateNotNullOrEmpty]: pwsh's binding errors end only the statement even under -ErrorAction Stop.
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByAddress, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(AddressCompleter))]
    [Alias("Name", "DeviceName")]
    [SupportsWildcards]
    [AllowNull, AllowEmptyString, AllowEmptyCollection]
    public virtual string[] Address { get; set; } = Array.Empty<string>();

    /// <summary>
    /// The simulated host; binds from an IsSimulated property, so deserialized device objects and CSV inventories
    /// (where it is the text "True") pipe in too.
    /// </summary>
    [Parameter(ParameterSetName = ByAddress, ValueFromPipelineByPropertyName = true)]
    [Alias("IsSimulated")]
    [Binding.BooleanText]
    public SwitchParameter Simulated { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ByObject, ValueFromPipeline = true)]
    [AllowNull, AllowEmptyCollection]
    [Binding.NotEmpty("device objects (from Get-VfioDevice)")]
    public VfioDevice[] InputObject { get; set; } = Array.Empty<VfioDevice>();

    protected override void Process()
    {
        if (ParameterSetName == ByObject)
            foreach (var d in InputObject) _targets.Add((d.IsSimulated, d.Name));
        else if ((Address ?? Array.Empty<string>()).Length == 0 && TargetsAllWithoutAddress)
            _targets.Add((Simulated.IsPresent, "*"));
        else if ((Address ?? Array.Empty<string>()).Length == 0)
            WriteVfioError(new VfioMigrationException("No device name was given (-Address is empty or null: a variable that was not set?); name a PCI address, ccw bus id or mdev UUID.",
                VfioErrors.InvalidDeviceName), null);
        else
            foreach (var a in Address!) _targets.Add((Simulated.IsPresent, a ?? ""));
    }

    /// <summary>Whether a call without -Address means every device of the host (Test-VfioMigration, like Get-VfioDevice).</summary>
    protected virtual bool TargetsAllWithoutAddress => false;

    /// <summary>Whether the cmdlet only looks (Test-VfioMigration): then a wildcard that matches nothing is an empty answer, not an error.</summary>
    protected virtual bool LooksOnly => false;

    /// <summary>Whether devices not bound to a VFIO driver can be targets (only a diagnosis makes sense for them).</summary>
    protected virtual bool IncludeCandidates => false;

    /// <summary>The devices of the whole pipeline, per host, in the order they came, each once.</summary>
    protected IEnumerable<(VfioHostSession Session, IReadOnlyList<DeviceIdentity> Devices)> Targets() =>
        TargetsByName().Select(h => (h.Session, (IReadOnlyList<DeviceIdentity>)h.Names.SelectMany(n => n.Devices).DistinctBy(d => d.Address).ToArray()));

    /// <summary>
    /// Per host, each name as given (in order, duplicates kept) with the devices it matched: a name that matched
    /// nothing has none, and its error is already written. When some names are for the simulated host and the
    /// real host has no VFIO, each real name gets its own error and the simulated ones go on; a call that names
    /// only real devices there fails as a whole.
    /// </summary>
    protected IEnumerable<(VfioHostSession Session, IReadOnlyList<(string Name, IReadOnlyList<DeviceIdentity> Devices)> Names)> TargetsByName()
    {
        bool mixed = _targets.Any(t => t.Simulated) && _targets.Any(t => !t.Simulated);
        foreach (var group in _targets.GroupBy(t => t.Simulated))
        {
            if (!group.Key && mixed && Session.RealHost.Unavailable(Module.RealDiscovery) is { } why)
            {
                foreach (var t in group)
                    WriteVfioError(new VfioMigrationException($"{t.Pattern}: real devices are not available: {why}. Give -Simulated (or IsSimulated True) for a simulated device.", VfioErrors.VfioNotAvailable, t.Pattern), t.Pattern);
                continue;
            }
            var session = SessionFor(group.Key);
            var all = session.Enumerate(IncludeCandidates);
            var names = group.Select(t => (t.Pattern, (IReadOnlyList<DeviceIdentity>)this.Resolve(session, all, t.Pattern, wildcardMustMatch: !LooksOnly))).ToArray();
            yield return (session, names);
        }
    }
}
