namespace VfioMigration.Tests;

/// <summary>A fake /sys and /dev in a temporary directory, built the way the kernel lays them out.</summary>
internal sealed class FakeSysfs : IDisposable
{
    public FakeSysfs()
    {
        Root = Directory.CreateTempSubdirectory("fake-sysfs-").FullName;
        Sys = Path.Combine(Root, "sys");
        Dev = Path.Combine(Root, "dev");
        Directory.CreateDirectory(Path.Combine(Sys, "bus", "pci", "devices"));
        Directory.CreateDirectory(Path.Combine(Sys, "kernel", "iommu_groups"));
        Directory.CreateDirectory(Path.Combine(Dev, "vfio"));
        File.WriteAllText(Path.Combine(Dev, "vfio", "vfio"), "");
    }

    public string Root { get; }
    public string Sys { get; }
    public string Dev { get; }
    public Dictionary<string, (uint, uint)> DeviceNumbers { get; } = new();

    /// <summary>A PCI function under /sys/devices (behind <paramref name="bridge"/>, else on the root bus), linked from /sys/bus/pci/devices, like the kernel does.</summary>
    public string Pci(string bdf, string vendor, string device, string? driver, int? group, string? vfioDev = null, bool groupNode = true, bool noiommu = false, string? bridge = null)
    {
        string under = bridge is null ? "pci0000:00" : $"pci0000:00/{bridge}";
        string real = Path.Combine(Sys, "devices", under, bdf);
        Directory.CreateDirectory(real);
        File.WriteAllText(Path.Combine(real, "vendor"), $"0x{vendor}\n");
        File.WriteAllText(Path.Combine(real, "device"), $"0x{device}\n");
        File.WriteAllText(Path.Combine(real, "subsystem_vendor"), "0x1af4\n");
        File.WriteAllText(Path.Combine(real, "subsystem_device"), "0x1100\n");
        File.WriteAllText(Path.Combine(real, "class"), "0x020000\n");
        if (driver is not null)
        {
            Directory.CreateDirectory(Path.Combine(Sys, "bus", "pci", "drivers", driver));
            File.CreateSymbolicLink(Path.Combine(real, "driver"), $"../../../bus/pci/drivers/{driver}");
        }
        if (group is { } g)
        {
            string groupDir = Path.Combine(Sys, "kernel", "iommu_groups", g.ToString());
            Directory.CreateDirectory(Path.Combine(groupDir, "devices"));
            if (noiommu) File.WriteAllText(Path.Combine(groupDir, "name"), "vfio-noiommu\n");
            File.CreateSymbolicLink(Path.Combine(real, "iommu_group"), $"../../../kernel/iommu_groups/{g}");
            if (groupNode) File.WriteAllText(Path.Combine(Dev, "vfio", noiommu ? $"noiommu-{g}" : g.ToString()), "");
        }
        if (vfioDev is not null)
        {
            Directory.CreateDirectory(Path.Combine(real, "vfio-dev", vfioDev));
            File.WriteAllText(Path.Combine(real, "vfio-dev", vfioDev, "dev"), "511:0\n");
        }
        File.CreateSymbolicLink(Path.Combine(Sys, "bus", "pci", "devices", bdf), $"../../../devices/{under}/{bdf}");
        return real;
    }

    public void Cdev(string name, uint major, uint minor)
    {
        Directory.CreateDirectory(Path.Combine(Dev, "vfio", "devices"));
        string node = Path.Combine(Dev, "vfio", "devices", name);
        File.WriteAllText(node, "");
        DeviceNumbers[node] = (major, minor);
    }

    /// <summary>
    /// An mdev under its parent, with its type (device_api says what kind). Its group is an emulated-IOMMU group:
    /// the kernel names it <c>vfio-noiommu</c> like a no-IOMMU group (vfio_noiommu_group_alloc), yet its node is the
    /// plain <c>/dev/vfio/N</c>.
    /// </summary>
    public void Mdev(string uuid, string parentPath, string type, string deviceApi, string driver, int group, string? vfioDev = null)
    {
        string parent = Path.Combine(Sys, "devices", parentPath);
        string typeDir = Path.Combine(parent, "mdev_supported_types", type);
        Directory.CreateDirectory(typeDir);
        File.WriteAllText(Path.Combine(typeDir, "device_api"), deviceApi + "\n");
        string real = Path.Combine(parent, uuid);
        Directory.CreateDirectory(real);
        File.CreateSymbolicLink(Path.Combine(real, "mdev_type"), typeDir);
        Directory.CreateDirectory(Path.Combine(Sys, "bus", "mdev", "drivers", driver));
        File.CreateSymbolicLink(Path.Combine(real, "driver"), Path.Combine(Sys, "bus", "mdev", "drivers", driver));
        Directory.CreateDirectory(Path.Combine(Sys, "kernel", "iommu_groups", group.ToString(), "devices"));
        File.WriteAllText(Path.Combine(Sys, "kernel", "iommu_groups", group.ToString(), "name"), "vfio-noiommu\n");
        File.CreateSymbolicLink(Path.Combine(real, "iommu_group"), Path.Combine(Sys, "kernel", "iommu_groups", group.ToString()));
        File.WriteAllText(Path.Combine(Dev, "vfio", group.ToString()), "");
        if (vfioDev is not null)
        {
            Directory.CreateDirectory(Path.Combine(real, "vfio-dev", vfioDev));
            File.WriteAllText(Path.Combine(real, "vfio-dev", vfioDev, "dev"), "511:3\n");
        }
        Directory.CreateDirectory(Path.Combine(Sys, "bus", "mdev", "devices"));
        File.CreateSymbolicLink(Path.Combine(Sys, "bus", "mdev", "devices", uuid), real);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
