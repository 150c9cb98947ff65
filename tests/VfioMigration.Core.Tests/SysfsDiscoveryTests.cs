using VfioMigration.Backends.Linux;

namespace VfioMigration.Tests;

/// <summary>Discovery on fake sysfs trees (docs/protocol.md checklist 70–72 and the edge cases of the real-VFIO issue).</summary>
public sealed class SysfsDiscoveryTests : IDisposable
{
    private readonly FakeSysfs _fs = new();

    private SysfsDiscovery Discovery() => new(_fs.Sys, _fs.Dev, node => _fs.DeviceNumbers.TryGetValue(node, out var n) ? n : null);

    [Fact]
    public void AHostWithoutVfioBoundDevicesListsNothingUnlessAll()
    {
        _fs.Pci("0000:00:1f.6", "8086", "15bc", "e1000e", 9, groupNode: false);
        var d = Discovery();
        Assert.Empty(d.Enumerate());
        var all = Assert.Single(d.Enumerate(includeUnbound: true));
        Assert.False(all.IsVfioBound);
        Assert.Equal(("e1000e", 9, "8086", "15bc", "020000"), (all.Driver, all.IommuGroup!.Value, all.VendorId, all.DeviceId, all.ClassCode));
    }

    [Fact]
    public void VfioPciAndVariantDriversAreListedWithTheirGroupNodes()
    {
        _fs.Pci("0000:01:00.0", "1234", "11e8", "vfio-pci", 6, vfioDev: "vfio0");
        _fs.Pci("0000:3b:00.2", "15b3", "101e", "mlx5_vfio_pci", 61, vfioDev: "vfio1");
        // An older kernel without vfio-dev: a vfio driver plus the group node is enough.
        _fs.Pci("0000:3b:00.3", "15b3", "101e", "mlx5_vfio_pci", 62);
        var found = Discovery().Enumerate();
        Assert.Equal(new[] { "0000:01:00.0", "0000:3b:00.2", "0000:3b:00.3" }, found.Select(x => x.Address));
        Assert.All(found, x => Assert.True(x.IsVfioBound));
        Assert.Equal(Path.Combine(_fs.Dev, "vfio", "61"), found[1].GroupNode);
        Assert.Equal("mlx5_vfio_pci", found[2].Driver);
    }

    /// <summary>Where a function sits, for the set links an image records: its sysfs parent, a bridge or the root bus.</summary>
    [Fact]
    public void AFunctionsPciParentIsTheBridgeOrRootBusItsSysfsPathSitsUnder()
    {
        _fs.Pci("0000:01:00.0", "1234", "11e8", "vfio-pci", 6, vfioDev: "vfio0");
        _fs.Pci("0000:3b:00.2", "15b3", "101e", "mlx5_vfio_pci", 61, vfioDev: "vfio1", bridge: "0000:00:1c.0");
        var found = Discovery().Enumerate();
        Assert.Equal(new[] { "pci0000:00", "0000:00:1c.0" }, found.Select(x => x.PciParent));
    }

    [Fact]
    public void AVfioDriverWithoutItsGroupNodeIsNotUsable()
    {
        _fs.Pci("0000:3b:00.3", "15b3", "101e", "mlx5_vfio_pci", 62, groupNode: false);
        Assert.Empty(Discovery().Enumerate());
    }

    [Fact]
    public void NoIommuGroupsAreRecognised()
    {
        _fs.Pci("0000:02:00.0", "1234", "11e8", "vfio-pci", 3, vfioDev: "noiommu-vfio0", noiommu: true);
        var d = Assert.Single(Discovery().Enumerate());
        Assert.True(d.NoIommu);
        Assert.Equal(Path.Combine(_fs.Dev, "vfio", "noiommu-3"), d.GroupNode);
    }

    [Fact]
    public void TheCdevIsChosenOnlyWhenItsNumbersMatch()
    {
        _fs.Pci("0000:01:00.0", "1234", "11e8", "vfio-pci", 6, vfioDev: "vfio0");
        _fs.Pci("0000:01:00.1", "1234", "11e8", "vfio-pci", 7, vfioDev: "vfio1");
        _fs.Cdev("vfio0", 511, 0);
        _fs.Cdev("vfio1", 511, 9); // sysfs says 511:0 for it: a stale node
        var found = Discovery().Enumerate();
        Assert.Equal(Path.Combine(_fs.Dev, "vfio", "devices", "vfio0"), found[0].DeviceNode);
        Assert.Null(found[1].DeviceNode);
    }

    [Fact]
    public void MdevAndCcwDevicesAreFound()
    {
        _fs.Mdev("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", "mtty/mtty", "mtty-2", "vfio-pci", "vfio_mdev", 20);
        _fs.Mdev("7e270a25-e163-4922-af60-757fc8ed48c6", "css0/0.0.0313", "vfio_ccw-io", "vfio-ccw", "vfio_ccw_mdev", 21);
        var found = Discovery().Enumerate();
        var mtty = found.Single(x => x.Address.StartsWith("83b8", StringComparison.Ordinal));
        Assert.Equal((VfioDeviceKind.Mdev, "mtty-2", 20), (mtty.Kind, mtty.DeviceId, mtty.IommuGroup!.Value));
        // An emulated-IOMMU group: named vfio-noiommu in sysfs, but opened through /dev/vfio/20 with a TYPE1v2
        // container, not as a no-IOMMU group.
        Assert.Equal((Path.Combine(_fs.Dev, "vfio", "20"), false), (mtty.GroupNode, mtty.NoIommu));
        Assert.True(mtty.IsVfioBound);
        var ccw = found.Single(x => x.Kind == VfioDeviceKind.Ccw);
        Assert.Equal(("0.0.0313", "vfio_ccw_mdev"), (ccw.DeviceNumber, ccw.Driver));
        Assert.True(ccw.IsVfioBound);
        Assert.Equal((Path.Combine(_fs.Dev, "vfio", "21"), false), (ccw.GroupNode, ccw.NoIommu));
    }

    [Fact]
    public void AnMdevIsOpenedThroughItsPlainGroupNodeEvenWithAVfioDevEntry()
    {
        _fs.Mdev("8f4e3a10-6c1b-4e2a-9d7f-000000000001", "mtty/mtty", "mtty-1", "vfio-pci", "mtty", 8, vfioDev: "vfio3");
        var d = Assert.Single(Discovery().Enumerate());
        Assert.Equal((Path.Combine(_fs.Dev, "vfio", "8"), false, VfioDeviceKind.Mdev), (d.GroupNode, d.NoIommu, d.Kind));
        Assert.Null(d.Problem);
    }

    [Fact]
    public void ATrueNoIommuGroupWithoutItsNodeIsStillNoIommuAndReportsTheNode()
    {
        _fs.Pci("0000:02:00.0", "1234", "11e8", "vfio-pci", 3, vfioDev: "noiommu-vfio0", noiommu: true, groupNode: false);
        var d = Assert.Single(Discovery().Enumerate(includeUnbound: true));
        Assert.True(d.NoIommu);
        Assert.Null(d.GroupNode);
        Assert.Contains("noiommu-3", d.Problem);
    }

    [Fact]
    public void AnUnreadableFileIsReportedForThatDeviceAndTheWalkGoesOn()
    {
        var dir = _fs.Pci("0000:01:00.0", "1234", "11e8", "vfio-pci", 6, vfioDev: "vfio0");
        _fs.Pci("0000:01:00.1", "1234", "11e8", "vfio-pci", 7, vfioDev: "vfio1");
        File.Delete(Path.Combine(dir, "vendor"));
        Directory.CreateDirectory(Path.Combine(dir, "vendor")); // reading it fails, as an unreadable attribute does
        var found = Discovery().Enumerate(includeUnbound: true);
        Assert.Equal(2, found.Count);
        Assert.Contains("cannot read", found[0].Problem);
        Assert.False(found[0].IsVfioBound);
        Assert.Null(found[1].Problem);
    }

    [Fact]
    public void ADeviceThatDisappearsDuringTheWalkIsSkipped()
    {
        var dir = _fs.Pci("0000:01:00.0", "1234", "11e8", "vfio-pci", 6, vfioDev: "vfio0");
        _fs.Pci("0000:01:00.1", "1234", "11e8", "vfio-pci", 7, vfioDev: "vfio1");
        Directory.Delete(dir, recursive: true); // hot-unplugged: /sys/bus/pci/devices keeps a dangling link
        Assert.Equal("0000:01:00.1", Assert.Single(Discovery().Enumerate(includeUnbound: true)).Address);
    }

    [Fact]
    public void WithoutTheContainerNodeThereIsNoVfio()
    {
        Assert.True(Discovery().HasVfio);
        Directory.Delete(Path.Combine(_fs.Dev, "vfio"), recursive: true);
        Assert.False(Discovery().HasVfio);
    }

    [Fact]
    public void OpeningABusyGroupIsReportedAsInUseAndOthersClearly()
    {
        Assert.Equal("DeviceBusy", LinuxVfioTransport.OpenError(Protocol.Errno.EBUSY, "0000:01:00.0", "/dev/vfio/6").ErrorId);
        Assert.Contains("in use by another process", LinuxVfioTransport.OpenError(Protocol.Errno.EBUSY, "0000:01:00.0", "/dev/vfio/6").Message);
        Assert.Equal("PermissionDenied", LinuxVfioTransport.OpenError(Protocol.Errno.EACCES, "0000:01:00.0", "/dev/vfio/6").ErrorId);
        Assert.Contains("modprobe", LinuxVfioTransport.OpenError(Protocol.Errno.ENOENT, "0000:01:00.0", "/dev/vfio/vfio").Message);
    }

    public void Dispose() => _fs.Dispose();
}
