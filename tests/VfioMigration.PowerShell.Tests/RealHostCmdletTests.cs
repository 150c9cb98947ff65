namespace VfioMigration.PowerShell.Tests;

/// <summary>The real-host code path of the cmdlets, over a fake sysfs tree (the roots are moved by environment).</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class RealHostCmdletTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("fake-host-").FullName;
    private readonly Engine _ps;

    public RealHostCmdletTests()
    {
        string sys = Path.Combine(_root, "sys"), dev = Path.Combine(_root, "dev");
        Directory.CreateDirectory(Path.Combine(dev, "vfio"));
        File.WriteAllText(Path.Combine(dev, "vfio", "vfio"), "");
        Function(sys, dev, "0000:01:00.0", "1234", "11e8", "vfio-pci", 6, vfio: true);
        Function(sys, dev, "0000:00:1f.6", "8086", "15bc", "e1000e", 9, vfio: false);
        Environment.SetEnvironmentVariable("VFIO_MIGRATION_SYSFS_ROOT", sys);
        Environment.SetEnvironmentVariable("VFIO_MIGRATION_DEV_ROOT", dev);
        _ps = new Engine();
    }

    private static void Function(string sys, string dev, string bdf, string vendor, string device, string driver, int group, bool vfio)
    {
        string real = Path.Combine(sys, "devices", "pci0000:00", bdf);
        Directory.CreateDirectory(real);
        File.WriteAllText(Path.Combine(real, "vendor"), $"0x{vendor}\n");
        File.WriteAllText(Path.Combine(real, "device"), $"0x{device}\n");
        Directory.CreateDirectory(Path.Combine(sys, "bus", "pci", "drivers", driver));
        File.CreateSymbolicLink(Path.Combine(real, "driver"), Path.Combine(sys, "bus", "pci", "drivers", driver));
        Directory.CreateDirectory(Path.Combine(sys, "kernel", "iommu_groups", group.ToString()));
        File.CreateSymbolicLink(Path.Combine(real, "iommu_group"), Path.Combine(sys, "kernel", "iommu_groups", group.ToString()));
        if (vfio)
        {
            Directory.CreateDirectory(Path.Combine(real, "vfio-dev", "vfio0"));
            File.WriteAllText(Path.Combine(dev, "vfio", group.ToString()), "");
        }
        Directory.CreateDirectory(Path.Combine(sys, "bus", "pci", "devices"));
        File.CreateSymbolicLink(Path.Combine(sys, "bus", "pci", "devices", bdf), real);
    }

    [Fact]
    public void GetVfioDeviceListsVfioBoundDevicesAndAllAddsCandidates()
    {
        var bound = _ps.Ok("Get-VfioDevice").Select(o => (VfioDevice)o.BaseObject).ToArray();
        var d = Assert.Single(bound);
        Assert.Equal(("0000:01:00.0", "vfio-pci", 6, false), (d.Name, d.Driver, d.IommuGroup!.Value, d.IsSimulated));
        Assert.NotNull(d.StateError); // the fake group node is a plain file: the open fails, and says so
        var all = _ps.Ok("Get-VfioDevice -All").Select(o => (VfioDevice)o.BaseObject).ToArray();
        Assert.Equal(2, all.Length);
        Assert.False(all.Single(x => x.Name == "0000:00:1f.6").IsVfioBound);
    }

    [Fact]
    public void TestVfioMigrationExplainsADeviceBoundToAnotherDriver()
    {
        var r = (VfioMigrationReadiness)_ps.Ok("$PSStyle.OutputRendering = 'PlainText'; Test-VfioMigration -Address 0000:00:1f.6").Single().BaseObject;
        Assert.False(r.CanMigrate);
        var b = Assert.Single(r.Blockers);
        Assert.Equal("NotVfioBound", b.Code);
        Assert.Contains("e1000e", b.Cause);
        _ps.Ok("Test-VfioMigration -Address 0000:00:1f.6 | Out-Host");
        Assert.Contains("fix: Bind it", GetVfioDeviceTests.Strip(_ps.Host.Written));
    }

    [Fact]
    public void TestVfioMigrationWorksOnSimulatedDevicesToo()
    {
        var r = (VfioMigrationReadiness)_ps.Ok("Test-VfioMigration -Simulated 0000:d8:00.0").Single().BaseObject;
        Assert.Equal("PlainVfioPci", Assert.Single(r.Blockers).Code);
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("VFIO_MIGRATION_SYSFS_ROOT", null);
        Environment.SetEnvironmentVariable("VFIO_MIGRATION_DEV_ROOT", null);
        _ps.Dispose();
        Directory.Delete(_root, recursive: true);
    }
}
