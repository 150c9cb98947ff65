using VfioMigration.Backends.Linux;
using VfioMigration.Protocol;
using VfioMigration.Transport;

namespace VfioMigration.Tests;

/// <summary>
/// Devices of one IOMMU group opened by one backend share the group fd and container (the kernel lets one file own
/// a group); the group closes with its last device. Groups here are /dev/null fds, so the sharing and closing are
/// real file descriptors; the guest checks the same against two functions of one multifunction device.
/// </summary>
public sealed class GroupSharingTests : IDisposable
{
    private readonly FakeSysfs _fs = new();
    private readonly List<(string Node, VfioGroup Group)> _opened = new();
    private Func<string, int> _deviceFd = _ => FileDescriptorIo.Open("/dev/null", LibC.O_RDWR);

    private LinuxBackend Backend() => new(new SysfsDiscovery(_fs.Sys, _fs.Dev, _ => null), id =>
    {
        var g = new VfioGroup(id.GroupNode!, FileDescriptorIo.Open("/dev/null", LibC.O_RDWR), FileDescriptorIo.Open("/dev/null", LibC.O_RDWR), name => _deviceFd(name));
        _opened.Add((id.GroupNode!, g));
        return g;
    });

    [Fact]
    public void TwoFunctionsOfOneGroupShareOneGroupAndItClosesWithTheLast()
    {
        _fs.Pci("0000:03:00.0", "1234", "11e8", "vfio-pci", 7);
        _fs.Pci("0000:03:00.1", "1234", "11e8", "vfio-pci", 7);
        _fs.Pci("0000:04:00.0", "1234", "11e8", "vfio-pci", 8);
        var backend = Backend();
        var a = backend.Open("0000:03:00.0");
        var b = backend.Open("0000:03:00.1");
        Assert.Single(_opened); // one group open for both functions
        var group = ((LinuxVfioTransport)a).Group!;
        Assert.Same(group, ((LinuxVfioTransport)b).Group);
        Assert.Equal(2, group.References);
        Assert.NotEqual(((LinuxVfioTransport)a).DeviceFd, ((LinuxVfioTransport)b).DeviceFd);

        using var c = backend.Open("0000:04:00.0");
        Assert.Equal(2, _opened.Count); // another group: its own
        Assert.Equal(2, backend.OpenGroups.Count);

        a.Dispose();
        Assert.False(group.IsClosed); // b still uses it
        b.Dispose();
        Assert.True(group.IsClosed);
        Assert.Equal(new[] { Path.Combine(_fs.Dev, "vfio", "8") }, backend.OpenGroups);

        using var again = backend.Open("0000:03:00.1"); // reopened afresh after it closed
        Assert.Equal(3, _opened.Count);
    }

    [Fact]
    public void ADeviceThatCannotBeOpenedDoesNotLeaveItsGroupOpen()
    {
        _fs.Pci("0000:03:00.0", "1234", "11e8", "vfio-pci", 7);
        _deviceFd = _ => -Errno.EBUSY;
        var backend = Backend();
        var e = Assert.Throws<VfioCallException>(() => backend.Open("0000:03:00.0"));
        Assert.Contains("VFIO_GROUP_GET_DEVICE_FD", e.Message);
        Assert.True(_opened.Single().Group.IsClosed);
        Assert.Empty(backend.OpenGroups);
    }

    [Fact]
    public void AFailedSiblingLeavesTheSharedGroupToTheDeviceThatHasIt()
    {
        _fs.Pci("0000:03:00.0", "1234", "11e8", "vfio-pci", 7);
        _fs.Pci("0000:03:00.1", "1234", "11e8", "vfio-pci", 7);
        var backend = Backend();
        using var a = backend.Open("0000:03:00.0");
        _deviceFd = _ => -Errno.ENODEV;
        Assert.Throws<VfioCallException>(() => backend.Open("0000:03:00.1"));
        var group = _opened.Single().Group;
        Assert.False(group.IsClosed);
        Assert.Equal(1, group.References);
    }

    [Fact]
    public void AGroupAnotherProcessHoldsIsInUseNotBlamedOnAVm()
    {
        var e = LinuxVfioTransport.OpenError(Errno.EBUSY, "8f4e3a10-6c1b-4e2a-9d7f-000000000001", "/dev/vfio/8");
        Assert.Equal("DeviceBusy", e.ErrorId);
        Assert.Contains("in use by another process", e.Message);
        Assert.DoesNotContain("a running VM holds", e.Message);
    }

    public void Dispose()
    {
        foreach (var (_, g) in _opened) g.Dispose();
        _fs.Dispose();
    }
}
