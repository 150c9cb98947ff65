using VfioMigration.Protocol;

namespace VfioMigration;

/// <summary>
/// A VFIO device as the module shows it: identity, protocol, capabilities and the migration state read from the
/// device when the object was made. Plain properties only, so it survives remoting serialization.
/// </summary>
public sealed class VfioDevice
{
    public required string Address { get; init; }
    public required VfioDeviceKind Kind { get; init; }
    public string? Driver { get; init; }
    public int? IommuGroup { get; init; }
    public string? VendorId { get; init; }
    public string? DeviceId { get; init; }
    public string? SubsystemVendorId { get; init; }
    public string? SubsystemId { get; init; }
    public string? ClassCode { get; init; }
    public string? DeviceNumber { get; init; }
    public bool IsSimulated { get; init; }
    /// <summary>Usable through VFIO; false for a candidate listed with -All (bound to another driver).</summary>
    public bool IsVfioBound { get; init; } = true;
    /// <summary>The IOMMU group is a no-IOMMU group: no DMA isolation.</summary>
    public bool NoIommu { get; init; }
    public string? GroupNode { get; init; }
    public string? DeviceNode { get; init; }
    public MigrationProtocol MigrationProtocol { get; init; }
    public MigrationCapabilities MigrationCapabilities { get; init; }
    /// <summary>The migration state; null for a device that cannot migrate or whose state could not be read.</summary>
    public MigrationState? State { get; init; }
    /// <summary>v1 only: the device_state bits as read, e.g. "RUNNING, NDMA".</summary>
    public string? DeviceStateBits { get; init; }
    /// <summary>v1 only: the raw device_state register.</summary>
    public uint? RawDeviceState { get; init; }
    /// <summary>Why the state could not be read, when it could not.</summary>
    public string? StateError { get; init; }

    public override string ToString() => Address;
}
