using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Transport;

namespace VfioMigration.Linux;

/// <summary>
/// A real VFIO device, opened the legacy way: container <c>/dev/vfio/vfio</c> (API version, extension check,
/// IOMMU type), the IOMMU group node, then the device fd by name. Every device call is the ioctl or pread/pwrite
/// itself. Disposing closes the device fd (which resets the device), the group and the container.
/// </summary>
public sealed class LinuxVfioTransport : IVfioDeviceTransport
{
    public const uint IommuType1 = 1, IommuType1v2 = 3, IommuNoIommu = 8;
    private const uint GroupViable = 1;
    private int _container = -1, _group = -1, _device = -1, _iommufd = -1;

    /// <summary><c>struct vfio_device_bind_iommufd</c>: argsz, flags, iommufd, out_devid.</summary>
    public const int BindIommufdSize = 16;

    private LinuxVfioTransport(string address) => Address = address;

    public string Address { get; }
    public int DeviceFd => _device;

    /// <summary>Opens <paramref name="address"/> through its group node; failures are clear, specific errors.</summary>
    public static LinuxVfioTransport Open(string address, string groupNode, string containerNode, bool noIommu)
    {
        var t = new LinuxVfioTransport(address);
        try
        {
            t._container = Checked(FileDescriptorIo.Open(containerNode, LibC.O_RDWR), address, containerNode);
            int version = FileDescriptorIo.IoctlValue(t._container, VfioUapi.VFIO_GET_API_VERSION, 0);
            if (version != 0) throw new VfioMigrationException($"{address}: VFIO API version {version} is not the one this module speaks (0).", "VfioApiVersion", address);
            t._group = Checked(FileDescriptorIo.Open(groupNode, LibC.O_RDWR), address, groupNode);
            Span<byte> status = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(status, 8);
            Call(FileDescriptorIo.Ioctl(t._group, VfioUapi.VFIO_GROUP_GET_STATUS, status), address, "VFIO_GROUP_GET_STATUS");
            if ((BinaryPrimitives.ReadUInt32LittleEndian(status[4..]) & GroupViable) == 0)
                throw new VfioMigrationException($"{address}: IOMMU group {groupNode} is not viable: every device in the group must be bound to a VFIO driver (or none).", "VfioGroupNotViable", address);
            Span<byte> containerFd = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(containerFd, t._container);
            Call(FileDescriptorIo.Ioctl(t._group, VfioUapi.VFIO_GROUP_SET_CONTAINER, containerFd), address, "VFIO_GROUP_SET_CONTAINER");
            uint type = noIommu ? IommuNoIommu
                : FileDescriptorIo.IoctlValue(t._container, VfioUapi.VFIO_CHECK_EXTENSION, (nint)IommuType1v2) > 0 ? IommuType1v2 : IommuType1;
            int rc = FileDescriptorIo.IoctlValue(t._container, VfioUapi.VFIO_SET_IOMMU, (nint)type);
            if (rc == -Errno.EPERM && !noIommu)
                throw new VfioMigrationException($"{address}: VFIO_SET_IOMMU was refused (EPERM): the host has no interrupt remapping (enable it in firmware or with intremap=on), or vfio_iommu_type1 needs allow_unsafe_interrupts.", "PermissionDenied", address);
            Call(rc, address, $"VFIO_SET_IOMMU({type})");
            var name = System.Text.Encoding.UTF8.GetBytes(address + "\0");
            t._device = Call(FileDescriptorIo.Ioctl(t._group, VfioUapi.VFIO_GROUP_GET_DEVICE_FD, name), address, "VFIO_GROUP_GET_DEVICE_FD");
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens a device through its cdev (<c>/dev/vfio/devices/vfioX</c>, kernels with CONFIG_VFIO_DEVICE_CDEV): bind
    /// to a fresh iommufd before any other ioctl (checklist 72). No IOAS is attached: migration needs no DMA
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

    /// <summary>What an open failure means for an administrator (checklist 73: busy is "in use", not a protocol error).</summary>
    public static VfioMigrationException OpenError(int errno, string address, string node) => errno switch
    {
        Errno.EBUSY => new VfioMigrationException($"{address}: {node} is in use by another process (a running VM holds the group); the module never forces it.", "DeviceBusy", address),
        Errno.EACCES or Errno.EPERM => new VfioMigrationException($"{address}: no access to {node} ({Errno.Name(errno)}).", "PermissionDenied", address),
        Errno.ENOENT when node.EndsWith("/iommu", StringComparison.Ordinal) => new VfioMigrationException($"{address}: {node} does not exist: this kernel has no iommufd (CONFIG_IOMMUFD), which a device cdev needs.", "VfioNotAvailable", address),
        Errno.ENOENT when node.EndsWith("/vfio/vfio", StringComparison.Ordinal) => new VfioMigrationException($"{address}: {node} does not exist: the vfio modules are not loaded (modprobe vfio-pci).", "VfioNotAvailable", address),
        Errno.ENOENT => new VfioMigrationException($"{address}: {node} does not exist: the device is not bound to a VFIO driver.", "DeviceNotBound", address),
        _ => new VfioMigrationException($"{address}: cannot open {node}: {Errno.Name(errno)}.", "VfioCallFailed", address),
    };

    private static int Call(int rc, string address, string what) => rc >= 0 ? rc : throw new VfioCallException(address, what, -rc);

    public void Dispose()
    {
        FileDescriptorIo.Close(_device);
        FileDescriptorIo.Close(_iommufd);
        FileDescriptorIo.Close(_group);
        FileDescriptorIo.Close(_container);
        _device = _iommufd = _group = _container = -1;
    }
}
