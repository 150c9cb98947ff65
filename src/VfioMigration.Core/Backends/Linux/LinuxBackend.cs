using VfioMigration.Transport;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// The real host: devices from sysfs, opened through their IOMMU group. The backend keeps each group it opened
/// while any of its devices is open, so devices of one group (multifunction devices, VFs without ACS) share the
/// group fd and container the kernel allows only one file to hold; a group another process holds stays
/// <c>DeviceBusy</c>.
/// </summary>
public sealed class LinuxBackend : IDeviceBackend
{
    private readonly Dictionary<string, VfioGroup> _groups = new(StringComparer.Ordinal);
    private readonly Func<DeviceIdentity, VfioGroup> _openGroup;

    public LinuxBackend(SysfsDiscovery? discovery = null) : this(discovery, null) { }

    /// <summary>With <paramref name="openGroup"/>, groups are opened by it (tests count the opens).</summary>
    internal LinuxBackend(SysfsDiscovery? discovery, Func<DeviceIdentity, VfioGroup>? openGroup)
    {
        Discovery = discovery ?? new SysfsDiscovery();
        _openGroup = openGroup ?? (id => VfioGroup.Open(id.Address, id.GroupNode!, Discovery.ContainerNode, id.NoIommu));
    }

    public SysfsDiscovery Discovery { get; }
    public bool IsSimulated => false;
    public IReadOnlyList<DeviceIdentity> Enumerate(bool includeCandidates = false) => Discovery.Enumerate(includeCandidates);

    /// <summary>The groups this backend has open now, by node.</summary>
    public IReadOnlyCollection<string> OpenGroups
    {
        get { lock (_groups) return _groups.Keys.ToArray(); }
    }

    /// <summary>Where holders are read from (/proc; tests give a fake tree).</summary>
    internal ProcessHolders Processes { get; init; } = new();

    /// <summary>Where VFIO's debugfs is read from (/sys/kernel/debug; tests give a fake tree).</summary>
    internal VfioDebugfs Debugfs { get; init; } = new();

    /// <summary>
    /// The processes holding the device (its fdinfo syspath, its cdev, or its IOMMU group open; the strongest
    /// evidence each process gives) and its state from debugfs.
    /// </summary>
    public DeviceHolding Holding(DeviceIdentity id)
    {
        var (processes, unreadable) = Processes.Scan();
        var holders = new List<DeviceHolder>();
        string? cdev = id.DeviceNode is { } node ? Path.GetFileName(node) : null;
        foreach (var p in processes)
        {
            string? through = null;
            foreach (var fd in p.Fds)
            {
                if (fd.SysPath is { } sys && string.Equals(ProcessHolders.DeviceName(sys), id.Address, StringComparison.OrdinalIgnoreCase))
                {
                    through = $"a device fd ({sys})";
                    break;
                }
                if (fd.Cdev is { } c && c == cdev) through = $"its cdev {fd.Link}";
                else if (fd.Group is { } g && g == id.IommuGroup) through ??= $"its IOMMU group {fd.Link}";
            }
            if (through is not null) holders.Add(new DeviceHolder { ProcessId = p.Pid, Command = p.Command, VmName = p.VmName, Through = through });
        }
        var (state, features, problem) = Debugfs.Read(id.Address);
        return new DeviceHolding
        {
            Holders = holders,
            HoldersProblem = unreadable == 0 ? null : $"{unreadable} process{(unreadable == 1 ? "" : "es")} could not be read (another user's fds need root to see)",
            State = state,
            Features = features,
            Capabilities = features is null ? null : VfioDebugfs.CapabilitiesOf(features),
            StateProblem = problem,
        };
    }

    /// <summary>A real device shows nothing beyond its uAPI.</summary>
    public IConformanceObserver? Observe(string address) => null;

    public IVfioDeviceTransport Open(string address)
    {
        var id = Discovery.Enumerate(includeUnbound: true).FirstOrDefault(d => string.Equals(d.Address, address, StringComparison.OrdinalIgnoreCase))
            ?? throw new VfioMigrationException($"No device at '{address}' in sysfs.", VfioErrors.DeviceNotFound, address);
        if (!id.IsVfioBound)
            throw new VfioMigrationException($"{address} is bound to {id.Driver ?? "no driver"}, not to a VFIO driver: bind it to vfio-pci or a vfio variant driver first (this module never rebinds drivers).", VfioErrors.DeviceNotBound, address);
        // The group interface works on every kernel that has it; the cdev is for kernels built without it.
        if (id.GroupNode is { } node)
        {
            lock (_groups)
            {
                bool fresh = !_groups.TryGetValue(node, out var group);
                group ??= _openGroup(id);
                try
                {
                    var t = LinuxVfioTransport.Open(id.Address, group, ReleaseGroup);
                    _groups[node] = group;
                    return t;
                }
                catch
                {
                    if (fresh) group.Dispose();
                    throw;
                }
            }
        }
        if (id.DeviceNode is not null)
            return LinuxVfioTransport.OpenCdev(id.Address, id.DeviceNode, Discovery.IommuNode);
        throw new VfioMigrationException($"{address}: no VFIO group node for IOMMU group {id.IommuGroup} and no device cdev{(id.Problem is null ? "" : $" ({id.Problem})")}.", VfioErrors.DeviceNotBound, address);
    }

    private void ReleaseGroup(VfioGroup group)
    {
        lock (_groups)
        {
            if (!group.Release()) return;
            _groups.Remove(group.Node);
            group.Dispose();
        }
    }
}
