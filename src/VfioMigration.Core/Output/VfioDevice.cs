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
    public string? PeerAddress => Identity.PeerAddress;
    public string? PciParent => Identity.PciParent;
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
    /// The other processes holding the device, when the module could not open it because it is in use (from
    /// /proc: fdinfo on 6.18+, fd links to the group or cdev before); empty otherwise.
    /// </summary>
    public DeviceHolder[] Holders { get; init; } = Array.Empty<DeviceHolder>();
    /// <summary>The holders in words, "qemu-system-x86 (pid 4242, VM web1)"; null when nobody else holds the device.</summary>
    public string? HeldBy => Holders.Length == 0 ? null : string.Join("; ", Holders.Select(h => h.ToString()));
    /// <summary>Why some holders may be missing (processes the module may not read); null when all were read.</summary>
    public string? HoldersProblem { get; init; }
    /// <summary>
    /// The migration state of a device another process holds, as VFIO's debugfs shows it without opening the
    /// device (vfio/DEVICE/migration/state, kernel 6.8+); null when it cannot be read (<see cref="HeldStateProblem"/>).
    /// </summary>
    public MigrationState? HeldState { get; init; }
    /// <summary>The migration features debugfs shows for a held device (kernel 6.18+), e.g. "stop-copy, p2p, pre-copy".</summary>
    public string? HeldFeatures { get; init; }
    /// <summary>Why the state of a held device cannot be shown (no VFIO debugfs, not mounted, root-only, ...).</summary>
    public string? HeldStateProblem { get; init; }
    /// <summary>
    /// The device was found in a session state (PreCopy, PreCopyP2P, StopCopy, Resuming) that another process
    /// opened and left: its data fd is gone with that process. Looking leaves it so; the next state change, save or
    /// restore ends that session first (a resume by VFIO_DEVICE_RESET) and warns.
    /// </summary>
    public bool LeftByAnotherProcess { get; init; }

    public override string ToString() => Name;
}
