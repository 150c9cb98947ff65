using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Transport;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// One open IOMMU group: its group fd and the container it is attached to. The kernel lets one file own a group
/// at a time (a second open of the node is EBUSY), so every device of the group a session opens (the functions of
/// a multifunction device, VFs without ACS) gets its device fd from this one group fd; the group and its container
/// close with the last of them. The container type follows the group kind: NOIOMMU for a true no-IOMMU group
/// (<c>/dev/vfio/noiommu-N</c>), TYPE1v2 (else TYPE1) for the rest, emulated-IOMMU (mdev) groups included; the
/// container must have its IOMMU set before VFIO_GROUP_GET_DEVICE_FD (EINVAL otherwise).
/// </summary>
public sealed class VfioGroup : IDisposable
{
    private const uint IommuType1 = LinuxVfioTransport.IommuType1, IommuType1v2 = LinuxVfioTransport.IommuType1v2, IommuNoIommu = LinuxVfioTransport.IommuNoIommu;
    private const uint GroupViable = 1;
    private readonly Func<string, int> _deviceFd;
    private int _container, _group, _references;

    /// <summary>A group over open fds; <paramref name="deviceFd"/> answers a device fd or -errno (tests inject it).</summary>
    internal VfioGroup(string node, int container, int group, Func<string, int>? deviceFd = null)
    {
        Node = node;
        _container = container;
        _group = group;
        _deviceFd = deviceFd ?? (name =>
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(name + "\0");
            return FileDescriptorIo.Ioctl(_group, VfioUapi.VFIO_GROUP_GET_DEVICE_FD, bytes);
        });
    }

    /// <summary>The group node, e.g. <c>/dev/vfio/12</c>.</summary>
    public string Node { get; }

    /// <summary>How many open devices use the group.</summary>
    public int References => Volatile.Read(ref _references);

    public bool IsClosed => _group < 0;

    /// <summary>
    /// Opens the group node for <paramref name="address"/> (the device that asks first): container, API version,
    /// viability, SET_CONTAINER, SET_IOMMU. Failures are clear, specific errors (EBUSY: in use by another process).
    /// </summary>
    public static VfioGroup Open(string address, string groupNode, string containerNode, bool noIommu)
    {
        int container = -1, group = -1;
        try
        {
            container = Checked(FileDescriptorIo.Open(containerNode, LibC.O_RDWR), address, containerNode);
            int version = FileDescriptorIo.IoctlValue(container, VfioUapi.VFIO_GET_API_VERSION, 0);
            if (version != 0) throw new VfioMigrationException($"{address}: VFIO API version {version} is not the one this module speaks (0).", VfioErrors.VfioApiVersion, address);
            group = Checked(FileDescriptorIo.Open(groupNode, LibC.O_RDWR), address, groupNode);
            Span<byte> status = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(status, 8);
            Call(FileDescriptorIo.Ioctl(group, VfioUapi.VFIO_GROUP_GET_STATUS, status), address, "VFIO_GROUP_GET_STATUS");
            if ((BinaryPrimitives.ReadUInt32LittleEndian(status[4..]) & GroupViable) == 0)
                throw new VfioMigrationException($"{address}: IOMMU group {groupNode} is not viable: every device in the group must be bound to a VFIO driver (or none).", VfioErrors.VfioGroupNotViable, address);
            Span<byte> containerFd = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(containerFd, container);
            Call(FileDescriptorIo.Ioctl(group, VfioUapi.VFIO_GROUP_SET_CONTAINER, containerFd), address, "VFIO_GROUP_SET_CONTAINER");
            uint type = noIommu ? IommuNoIommu
                : FileDescriptorIo.IoctlValue(container, VfioUapi.VFIO_CHECK_EXTENSION, (nint)IommuType1v2) > 0 ? IommuType1v2 : IommuType1;
            int rc = FileDescriptorIo.IoctlValue(container, VfioUapi.VFIO_SET_IOMMU, (nint)type);
            if (rc == -Errno.EPERM && !noIommu)
                throw new VfioMigrationException($"{address}: VFIO_SET_IOMMU was refused (EPERM): the host has no interrupt remapping (enable it in firmware or with intremap=on), or vfio_iommu_type1 needs allow_unsafe_interrupts.", VfioErrors.PermissionDenied, address);
            Call(rc, address, $"VFIO_SET_IOMMU({type})");
            return new VfioGroup(groupNode, container, group);
        }
        catch
        {
            FileDescriptorIo.Close(group);
            FileDescriptorIo.Close(container);
            throw;
        }
    }

    /// <summary>VFIO_GROUP_GET_DEVICE_FD by name (BDF, mdev UUID, ccw bus id); counts a reference on success.</summary>
    public int OpenDevice(string address)
    {
        if (IsClosed) throw new ObjectDisposedException(nameof(VfioGroup), $"the group {Node} is closed");
        int fd = Call(_deviceFd(address), address, "VFIO_GROUP_GET_DEVICE_FD");
        Interlocked.Increment(ref _references);
        return fd;
    }

    /// <summary>A device of the group was closed; true when it was the last one (the caller then disposes the group).</summary>
    public bool Release() => Interlocked.Decrement(ref _references) <= 0;

    private static int Checked(int fd, string address, string node) => fd >= 0 ? fd : throw LinuxVfioTransport.OpenError(-fd, address, node);

    private static int Call(int rc, string address, string what) => rc >= 0 ? rc : throw new VfioCallException(address, what, -rc);

    public void Dispose()
    {
        FileDescriptorIo.Close(_group);
        FileDescriptorIo.Close(_container);
        _group = _container = -1;
    }
}
