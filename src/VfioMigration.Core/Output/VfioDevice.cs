using VfioMigration.Protocol;

namespace VfioMigration;

/// <summary>
/// A VFIO device as the module shows it: identity, protocol, capabilities and the migration state read from the
/// device when the object was made. Plain properties only, so it survives remoting serialization.
/// </summary>
public sealed class VfioDevice
{
    /// <summary>
    /// The one way to make the output object: the device's identity as discovery found it; what its driver reports
    /// (protocol, capabilities, state) goes in the initializer.
    /// </summary>
    internal VfioDevice(DeviceIdentity identity) => Identity = identity;

    /// <summary>What the device is; the properties below show it as they always have.</summary>
    internal DeviceIdentity Identity { get; }

    /// <summary>
    /// The kernel's name of the device (dev_name: a PCI address such as 0000:3b:00.2, an s390 bus id such as
    /// 0.0.0100, an mdev UUID). Called Name, not Address, because PowerShell's member enumeration finds an array's
    /// own Address() method before the elements' property: (Get-VfioDevice).Address on two devices breaks.
    /// </summary>
    public string Name => Identity.Address;
    public VfioDeviceKind Kind => Identity.Kind;
    public string? Driver => Identity.Driver;
    public int? IommuGroup => Identity.IommuGroup;
    public string? VendorId => Identity.VendorId;
    public string? DeviceId => Identity.DeviceId;
    public string? SubsystemVendorId => Identity.SubsystemVendorId;
    public string? SubsystemId => Identity.SubsystemId;
    public string? ClassCode => Identity.ClassCode;
    public string? DeviceNumber => Identity.DeviceNumber;
    public bool IsSimulated => Identity.IsSimulated;
    /// <summary>Usable through VFIO; false for a candidate listed with -All (bound to another driver).</summary>
    public bool IsVfioBound => Identity.IsVfioBound;
    /// <summary>The IOMMU group is a no-IOMMU group: no DMA isolation.</summary>
    public bool NoIommu => Identity.NoIommu;
    public string? GroupNode => Identity.GroupNode;
    public string? DeviceNode => Identity.DeviceNode;
    /// <summary>The migration uAPI the device speaks: None, V1 (migration region) or V2 (feature state machine).</summary>
    public MigrationProtocol Protocol { get; init; }
    /// <summary>What its migration supports: StopCopy, P2P, PreCopy (v2 flags), Ndma (v1).</summary>
    public MigrationCapabilities Capabilities { get; init; }
    /// <summary>The migration state; null for a device that cannot migrate or whose state could not be read.</summary>
    public MigrationState? State { get; init; }
    /// <summary>v1 only: the device_state bits as read, e.g. "RUNNING, NDMA".</summary>
    public string? DeviceStateBits => RawDeviceState is { } raw ? StateCorrespondence.Describe(raw) : null;
    /// <summary>v1 only: the raw device_state register.</summary>
    public uint? RawDeviceState { get; init; }
    /// <summary>Why the state could not be read, when it could not.</summary>
    public string? StateError { get; init; }
    /// <summary>
    /// The device was found in a session state (PreCopy, PreCopyP2P, StopCopy, Resuming) that another process
    /// opened and left: its data fd is gone with that process. Looking leaves it so; the next state change, save or
    /// restore ends that session first (a resume by VFIO_DEVICE_RESET) and warns.
    /// </summary>
    public bool LeftByAnotherProcess { get; init; }

    public override string ToString() => Name;
}
