using System.Globalization;
using System.Text.RegularExpressions;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// Finds VFIO devices in sysfs (docs/protocol.md §7, checklist 70–72): PCI functions bound to vfio-pci or a variant
/// driver, mediated devices (vfio-ccw among them), their IOMMU groups and group nodes, no-IOMMU groups, and device
/// cdevs where the kernel has them. It only reads: it never binds, unbinds or writes anything. The roots are
/// injectable so tests can walk fake trees; a device that vanishes during the walk is skipped, and one whose
/// files cannot be read is listed with the problem.
/// </summary>
public sealed partial class SysfsDiscovery
{
    private readonly string _sys;
    private readonly string _dev;
    private readonly Func<string, (uint Major, uint Minor)?> _deviceNumber;

    public SysfsDiscovery(string sysRoot = "/sys", string devRoot = "/dev", Func<string, (uint, uint)?>? deviceNumber = null)
    {
        _sys = sysRoot;
        _dev = devRoot;
        _deviceNumber = deviceNumber ?? FileDescriptorIo.DeviceNumber;
    }

    public string ContainerNode => Path.Combine(_dev, "vfio", "vfio");
    public string IommuNode => Path.Combine(_dev, "iommu");
    public bool HasVfio => File.Exists(ContainerNode) || Directory.Exists(Path.Combine(_dev, "vfio", "devices"));

    /// <summary>VFIO devices, and with <paramref name="includeUnbound"/> every other PCI function as a candidate.</summary>
    public IReadOnlyList<DeviceIdentity> Enumerate(bool includeUnbound = false)
    {
        var found = new List<DeviceIdentity>();
        foreach (var entry in Entries(Path.Combine(_sys, "bus", "pci", "devices")))
            if (Pci(entry) is { } d && (d.IsVfioBound || includeUnbound)) found.Add(d);
        foreach (var entry in Entries(Path.Combine(_sys, "bus", "mdev", "devices")))
            if (Mdev(entry) is { } d) found.Add(d);
        return found.OrderBy(d => d.Address, StringComparer.Ordinal).ToArray();
    }

    private DeviceIdentity? Pci(string dir)
    {
        string address = Path.GetFileName(dir);
        try
        {
            if (!Directory.Exists(dir)) return null; // removed while we walked: a dangling link
            string? driver = LinkName(Path.Combine(dir, "driver"));
            int? group = int.TryParse(LinkName(Path.Combine(dir, "iommu_group")), NumberStyles.None, CultureInfo.InvariantCulture, out int g) ? g : null;
            string? vfioDev = FirstEntry(Path.Combine(dir, "vfio-dev"));
            var (groupNode, noIommu, expected) = GroupNode(group, vfioDev);
            bool bound = vfioDev is not null || (IsVfioDriver(driver) && groupNode is not null);
            return new DeviceIdentity
            {
                Address = address,
                Kind = VfioDeviceKind.Pci,
                Driver = driver,
                IommuGroup = group,
                VendorId = Hex(dir, "vendor", 4),
                DeviceId = Hex(dir, "device", 4),
                SubsystemVendorId = Hex(dir, "subsystem_vendor", 4),
                SubsystemId = Hex(dir, "subsystem_device", 4),
                ClassCode = Hex(dir, "class", 6),
                IsSimulated = false,
                IsVfioBound = bound,
                GroupNode = groupNode,
                NoIommu = noIommu,
                DeviceNode = DeviceCdev(dir, vfioDev),
                PciParent = PciParent(dir),
                Problem = bound && groupNode is null && vfioDev is not null && group is not null ? $"the node of IOMMU group {group}, {expected}, is missing" : null,
            };
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            return null; // the device went away during the walk
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return new DeviceIdentity { Address = address, Kind = VfioDeviceKind.Pci, IsSimulated = false, IsVfioBound = false, Problem = $"cannot read {dir}: {e.Message}" };
        }
    }

    private DeviceIdentity? Mdev(string dir)
    {
        string uuid = Path.GetFileName(dir);
        try
        {
            if (!Directory.Exists(dir)) return null;
            string? typeDir = ResolveLink(Path.Combine(dir, "mdev_type"));
            string? deviceApi = typeDir is null ? null : ReadTrimmed(Path.Combine(typeDir, "device_api"));
            string? driver = LinkName(Path.Combine(dir, "driver"));
            int? group = int.TryParse(LinkName(Path.Combine(dir, "iommu_group")), NumberStyles.None, CultureInfo.InvariantCulture, out int g) ? g : null;
            string? vfioDev = FirstEntry(Path.Combine(dir, "vfio-dev"));
            var (groupNode, noIommu, _) = GroupNode(group, vfioDev);
            string? parent = ResolveLink(dir) is { } real ? Path.GetFileName(Path.GetDirectoryName(real)) : null;
            bool ccw = deviceApi == "vfio-ccw";
            return new DeviceIdentity
            {
                Address = uuid,
                Kind = ccw ? VfioDeviceKind.Ccw : VfioDeviceKind.Mdev,
                Driver = driver,
                IommuGroup = group,
                DeviceNumber = ccw ? parent : null,
                DeviceId = typeDir is null ? null : Path.GetFileName(typeDir),
                IsSimulated = false,
                IsVfioBound = driver is not null,
                GroupNode = groupNode,
                NoIommu = noIommu,
                DeviceNode = DeviceCdev(dir, vfioDev),
            };
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return new DeviceIdentity { Address = uuid, Kind = VfioDeviceKind.Mdev, IsSimulated = false, IsVfioBound = false, Problem = $"cannot read {dir}: {e.Message}" };
        }
    }

    /// <summary>vfio-pci, vfio_ccw and the variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, xe-vfio-pci, ...).</summary>
    public static bool IsVfioDriver(string? driver) => driver is not null && driver.Contains("vfio", StringComparison.Ordinal);

    /// <summary>
    /// The group's node and kind. The node's name is what tells a true no-IOMMU group (<c>/dev/vfio/noiommu-N</c>,
    /// VFIO_NO_IOMMU, opened with a NOIOMMU container) from every other (<c>/dev/vfio/N</c>, TYPE1v2): the group's
    /// sysfs <c>name</c> does not, since the kernel names emulated-IOMMU groups (mdev: mtty, vfio-ccw, vfio-ap,
    /// GVT-g) <c>vfio-noiommu</c> too (vfio_noiommu_group_alloc in drivers/vfio/group.c). Without either node, a
    /// no-IOMMU device cdev (<c>noiommu-vfioX</c>) still says which one was expected.
    /// </summary>
    private (string? Node, bool NoIommu, string? Expected) GroupNode(int? group, string? vfioDev)
    {
        if (group is not { } g) return (null, false, null);
        string plain = Path.Combine(_dev, "vfio", g.ToString(CultureInfo.InvariantCulture));
        string noiommu = Path.Combine(_dev, "vfio", $"noiommu-{g}");
        if (File.Exists(plain)) return (plain, false, plain);
        if (File.Exists(noiommu)) return (noiommu, true, noiommu);
        bool isNoIommu = vfioDev?.StartsWith("noiommu-", StringComparison.Ordinal) ?? false;
        return (null, isNoIommu, isNoIommu ? noiommu : plain);
    }

    /// <summary>The cdev only if it exists and its device numbers are the ones sysfs gives (docs/protocol.md checklist 72).</summary>
    private string? DeviceCdev(string dir, string? vfioDev)
    {
        if (vfioDev is null) return null;
        string node = Path.Combine(_dev, "vfio", "devices", vfioDev);
        if (!File.Exists(node)) return null;
        var text = ReadTrimmed(Path.Combine(dir, "vfio-dev", vfioDev, "dev"));
        if (text?.Split(':') is not [var maj, var min] || !uint.TryParse(maj, out uint major) || !uint.TryParse(min, out uint minor)) return null;
        return _deviceNumber(node) == (major, minor) ? node : null;
    }

    /// <summary>
    /// The bridge or root bus a function sits under: its real sysfs path's parent
    /// (/sys/devices/pci0000:00/0000:00:1c.0/0000:3b:00.2 → 0000:00:1c.0); null when that is not a PCI name.
    /// </summary>
    private static string? PciParent(string dir)
    {
        string? parent = ResolveLink(dir) is { } real ? Path.GetFileName(Path.GetDirectoryName(real)) : null;
        return parent is not null && PciParentName().IsMatch(parent) ? parent : null;
    }

    [GeneratedRegex("^(pci[0-9a-f]{4,}:[0-9a-f]{2}|[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7])$")]
    private static partial Regex PciParentName();

    private static IEnumerable<string> Entries(string dir)
    {
        try { return Directory.EnumerateFileSystemEntries(dir).ToArray(); }
        catch (Exception e) when (e is DirectoryNotFoundException or UnauthorizedAccessException or IOException) { return Array.Empty<string>(); }
    }

    private static string? FirstEntry(string dir) =>
        Directory.Exists(dir) ? Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal).FirstOrDefault() : null;

    private static string? LinkName(string link)
    {
        var info = new FileInfo(link);
        if (info.LinkTarget is { } target) return Path.GetFileName(target.TrimEnd('/'));
        return null;
    }

    private static string? ResolveLink(string path)
    {
        var info = new DirectoryInfo(path);
        if (!info.Exists && info.LinkTarget is null) return null;
        return info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? info.FullName;
    }

    private static string? ReadTrimmed(string file) => File.Exists(file) ? File.ReadAllText(file).Trim() : null;

    /// <summary>"0x15b3\n" → "15b3"; missing file → null; unreadable → throws, reported for the device.</summary>
    private static string? Hex(string dir, string name, int digits)
    {
        string file = Path.Combine(dir, name);
        if (Directory.Exists(file)) throw new UnauthorizedAccessException($"{file} is not a readable file");
        if (!File.Exists(file)) return null;
        var text = File.ReadAllText(file).Trim();
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) text = text[2..];
        return text.PadLeft(digits, '0')[^digits..].ToLowerInvariant();
    }
}
