namespace VfioMigration;

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
    /// <summary>Bound to vfio-pci, a vfio variant driver, vfio_ccw or an mdev vendor driver: usable through VFIO.</summary>
    public bool IsVfioBound { get; init; } = true;
    /// <summary>The group node to open (<c>/dev/vfio/12</c>, <c>/dev/vfio/noiommu-3</c>), when it exists.</summary>
    public string? GroupNode { get; init; }
    /// <summary>The device cdev (<c>/dev/vfio/devices/vfio0</c>) when the kernel offers one and its numbers match.</summary>
    public string? DeviceNode { get; init; }
    /// <summary>The group is a no-IOMMU group (unsafe mode: no DMA isolation, taints the kernel).</summary>
    public bool NoIommu { get; init; }
    /// <summary>What discovery could not read or found wrong, for this device.</summary>
    public string? Problem { get; init; }
}
