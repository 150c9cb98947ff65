using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Transport;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// A real VFIO device, opened the legacy way through its <see cref="VfioGroup"/> (shared with the other devices of
/// the group the same backend opened), or through its cdev bound to an iommufd. Every device call is the ioctl or
/// pread/pwrite itself. Disposing closes the device fd and releases the group, which closes with its last device.
/// </summary>
internal sealed class LinuxVfioTransport : IVfioDeviceTransport
{
    public const uint IommuType1 = 1, IommuType1v2 = 3, IommuNoIommu = 8;
    private int _device = -1, _iommufd = -1;
    private VfioGroup? _group;
    private Action<VfioGroup>? _releaseGroup;

    /// <summary><c>struct vfio_device_bind_iommufd</c>: argsz, flags, iommufd, out_devid.</summary>
    public const int BindIommufdSize = 16;

    private LinuxVfioTransport(string address) => Address = address;

    public string Address { get; }
    public int DeviceFd => _device;

    /// <summary>The group this device was opened through (null for a cdev).</summary>
    public VfioGroup? Group => _group;

    /// <summary>
    /// Opens <paramref name="address"/> through an open group; <paramref name="releaseGroup"/> runs when the device
    /// closes (the backend closes the group with its last device). Failures are clear, specific errors.
    /// </summary>
    public static LinuxVfioTransport Open(string address, VfioGroup group, Action<VfioGroup> releaseGroup)
    {
        var t = new LinuxVfioTransport(address);
        t._device = group.OpenDevice(address);
        t._group = group;
        t._releaseGroup = releaseGroup;
        return t;
    }

    /// <summary>
    /// Opens a device through its cdev (<c>/dev/vfio/devices/vfioX</c>, kernels with CONFIG_VFIO_DEVICE_CDEV): bind
    /// to a fresh iommufd before any other ioctl (docs/protocol.md checklist 72). No IOAS is attached: migration needs no DMA
    /// mappings. Used when the device has no group node (kernels built without the group interface).
    /// </summary>
    public static LinuxVfioTransport OpenCdev(string address, string deviceNode, string iommuNode)
    {
        var t = new LinuxVfioTransport(address);
        try
        {
            t._device = Checked(FileDescriptorIo.Open(deviceNode, LibC.O_RDWR), address, deviceNode);
            t._iommufd = Checked(FileDescriptorIo.Open(iommuNode, LibC.O_RDWR), address, iommuNode);
            Span<byte> bind = stackalloc byte[BindIommufdSize];
            BinaryPrimitives.WriteUInt32LittleEndian(bind, BindIommufdSize);
            BinaryPrimitives.WriteInt32LittleEndian(bind[8..], t._iommufd);
            Call(FileDescriptorIo.Ioctl(t._device, VfioUapi.VFIO_DEVICE_BIND_IOMMUFD, bind), address, "VFIO_DEVICE_BIND_IOMMUFD");
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    public int GetDeviceInfo(Span<byte> info) => FileDescriptorIo.Ioctl(_device, VfioUapi.VFIO_DEVICE_GET_INFO, info);
    public int GetRegionInfo(Span<byte> info) => FileDescriptorIo.Ioctl(_device, VfioUapi.VFIO_DEVICE_GET_REGION_INFO, info);
    public int Read(long offset, Span<byte> buffer) => FileDescriptorIo.PositionalRead(_device, offset, buffer);
    public int Write(long offset, ReadOnlySpan<byte> buffer) => FileDescriptorIo.PositionalWrite(_device, offset, buffer);
    public int Feature(Span<byte> argument) => FileDescriptorIo.Ioctl(_device, VfioUapi.VFIO_DEVICE_FEATURE, argument);
    public int Reset() => FileDescriptorIo.IoctlValue(_device, VfioUapi.VFIO_DEVICE_RESET, 0);
    public IMigrationDataChannel AdoptDataChannel(int fd) => new LinuxDataChannel(fd);

    private static int Checked(int fd, string address, string node) => fd >= 0 ? fd : throw OpenError(-fd, address, node);

    /// <summary>What an open failure means for an administrator (docs/protocol.md checklist 73: busy is "in use", not a protocol error).</summary>
    public static VfioMigrationException OpenError(int errno, string address, string node) => errno switch
    {
        // Another file owns the group (a VM, another tool, another PowerShell session); the kernel does not say which.
        Errno.EBUSY => new VfioMigrationException($"{address}: {node} is in use by another process (a VM or another VFIO user has it open; 'fuser {node}' names it); the module never forces it.", VfioErrors.DeviceBusy, address),
        Errno.EACCES or Errno.EPERM => new VfioMigrationException($"{address}: no access to {node} ({Errno.Name(errno)}).", VfioErrors.PermissionDenied, address),
        Errno.ENOENT when node.EndsWith("/iommu", StringComparison.Ordinal) => new VfioMigrationException($"{address}: {node} does not exist: this kernel has no iommufd (CONFIG_IOMMUFD), which a device cdev needs.", VfioErrors.VfioNotAvailable, address),
        Errno.ENOENT when node.EndsWith("/vfio/vfio", StringComparison.Ordinal) => new VfioMigrationException($"{address}: {node} does not exist: the vfio modules are not loaded (modprobe vfio-pci).", VfioErrors.VfioNotAvailable, address),
        Errno.ENOENT => new VfioMigrationException($"{address}: {node} does not exist: the device is not bound to a VFIO driver.", VfioErrors.DeviceNotBound, address),
        _ => new VfioMigrationException($"{address}: cannot open {node}: {Errno.Name(errno)}.", VfioErrors.VfioCallFailed, address),
    };

    private static int Call(int rc, string address, string what) => rc >= 0 ? rc : throw new VfioCallException(address, what, -rc);

    public void Dispose()
    {
        FileDescriptorIo.Close(_device);
        FileDescriptorIo.Close(_iommufd);
        _device = _iommufd = -1;
        if (Interlocked.Exchange(ref _group, null) is { } group) _releaseGroup?.Invoke(group);
    }
}
