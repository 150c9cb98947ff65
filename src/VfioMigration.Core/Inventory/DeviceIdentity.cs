namespace VfioMigration.Inventory;

/// <summary>What discovery knows about a device without opening it (sysfs, or the simulator's configuration).</summary>
public sealed record DeviceIdentity
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
    /// <summary>ccw: the device number behind the subchannel, e.g. 0.0.2b09.</summary>
    public string? DeviceNumber { get; init; }
    public bool IsSimulated { get; init; }
}
