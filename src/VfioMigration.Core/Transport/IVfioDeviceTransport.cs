namespace VfioMigration.Transport;

/// <summary>
/// The uAPI-level seam between the protocol drivers and a device: the calls a VFIO device fd answers, with the
/// kernel's buffers byte for byte. Every call returns what the syscall would: a non-negative result, or a negated
/// errno. The Linux transport passes these straight to ioctl/pread/pwrite; the simulator answers them itself.
/// </summary>
public interface IVfioDeviceTransport : IDisposable
{
    /// <summary>The device's address: a PCI BDF (<c>0000:3b:00.0</c>), mdev UUID or ccw bus id (<c>0.0.0100</c>).</summary>
    string Address { get; }

    /// <summary>VFIO_DEVICE_GET_INFO into a <c>vfio_device_info</c> buffer whose argsz the caller set.</summary>
    int GetDeviceInfo(Span<byte> info);

    /// <summary>VFIO_DEVICE_GET_REGION_INFO: argsz and index set by the caller; capability chain after the struct.</summary>
    int GetRegionInfo(Span<byte> info);

    /// <summary>pread on the device fd at an absolute offset (region offset + field offset).</summary>
    int Read(long offset, Span<byte> buffer);

    /// <summary>pwrite on the device fd at an absolute offset.</summary>
    int Write(long offset, ReadOnlySpan<byte> buffer);

    /// <summary>VFIO_DEVICE_FEATURE with a <c>vfio_device_feature</c> buffer (argsz, flags, payload).</summary>
    int Feature(Span<byte> argument);

    /// <summary>
    /// Takes ownership of a data fd that a MIG_DEVICE_STATE SET returned in its payload. The channel must be
    /// disposed (closing the fd never changes the migration state).
    /// </summary>
    IMigrationDataChannel AdoptDataChannel(int fd);

    /// <summary>VFIO_DEVICE_RESET.</summary>
    int Reset();
}
