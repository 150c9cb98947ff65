using System.Text.Json.Serialization;

namespace VfioMigration;

/// <summary>
/// What a device is, as its backend's discovery finds it without opening it (sysfs, or the simulator's
/// configuration): the one record of a device's identity. The output object (<see cref="VfioDevice"/>) shows it,
/// an image records it (<see cref="Images.ImageDevice"/>) and a restore compares it
/// (<see cref="Images.ImageIdentityCheck"/>). Ids are lower-case hex without 0x, as sysfs shows them.
/// The fields marked [JsonIgnore] say where the device sits on this host; an image does not record them, and the
/// order of the others is the order an image's device record lists them in (docs/image-format.md).
/// </summary>
public sealed record DeviceIdentity
{
    /// <summary>The kernel's name of the device: PCI address, ccw subchannel bus id or mdev UUID.</summary>
    public required string Address { get; init; }
    public required VfioDeviceKind Kind { get; init; }
    /// <summary>PCI: the vendor id, e.g. 15b3.</summary>
    public string? VendorId { get; init; }
    /// <summary>PCI: the device id; ccw: the control unit type; mdev: the mdev type.</summary>
    public string? DeviceId { get; init; }
    public string? SubsystemVendorId { get; init; }
    public string? SubsystemId { get; init; }
    /// <summary>PCI: the class code, 6 hex digits.</summary>
    public string? ClassCode { get; init; }
    /// <summary>ccw: the device number behind the subchannel, e.g. 0.0.2b09.</summary>
    public string? DeviceNumber { get; init; }
    /// <summary>The bound driver's name (vfio-pci, mlx5_vfio_pci, vfio_ccw, ...).</summary>
    public string? Driver { get; init; }
    [JsonIgnore]
    public int? IommuGroup { get; init; }
    [JsonIgnore]
    public bool IsSimulated { get; init; }
    /// <summary>Bound to vfio-pci, a vfio variant driver, vfio_ccw or an mdev vendor driver: usable through VFIO.</summary>
    [JsonIgnore]
    public bool IsVfioBound { get; init; } = true;
    /// <summary>The group node to open (<c>/dev/vfio/12</c>, <c>/dev/vfio/noiommu-3</c>), when it exists.</summary>
    [JsonIgnore]
    public string? GroupNode { get; init; }
    /// <summary>The device cdev (<c>/dev/vfio/devices/vfio0</c>) when the kernel offers one and its numbers match.</summary>
    [JsonIgnore]
    public string? DeviceNode { get; init; }
    /// <summary>The group is a no-IOMMU group (unsafe mode: no DMA isolation, taints the kernel).</summary>
    [JsonIgnore]
    public bool NoIommu { get; init; }
    /// <summary>
    /// Simulated PCI: the device this one DMA-writes into peer-to-peer, null for none. A real host cannot say (the
    /// uAPI does not expose peer links), so there it is always null.
    /// </summary>
    [JsonIgnore]
    public string? PeerAddress { get; init; }
    /// <summary>
    /// Real PCI: what the function sits under in sysfs, its parent bridge (0000:00:1c.0) or root bus (pci0000:00);
    /// null where unknown (the simulator, an mdev).
    /// </summary>
    [JsonIgnore]
    public string? PciParent { get; init; }
    /// <summary>What discovery could not read or found wrong, for this device.</summary>
    [JsonIgnore]
    public string? Problem { get; init; }
}
