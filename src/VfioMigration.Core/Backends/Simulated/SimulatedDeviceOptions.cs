using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>Everything that makes one simulated device what it is.</summary>
public sealed record SimulatedDeviceOptions
{
    /// <summary>PCI BDF (<c>0000:3b:00.2</c>) or ccw subchannel bus id (<c>0.0.0100</c>).</summary>
    public required string Address { get; init; }
    public SimulatedDeviceKind Kind { get; init; } = SimulatedDeviceKind.Pci;
    public MigrationProtocol Protocol { get; init; } = MigrationProtocol.V2;
    /// <summary>v2: any combination containing StopCopy. v1: Ndma or nothing (StopCopy and PreCopy are implied).</summary>
    public MigrationCapabilities Capabilities { get; init; } = MigrationCapabilities.StopCopy;
    public long MemorySize { get; init; } = 64 * 1024;
    public int IommuGroup { get; init; }
    /// <summary>
    /// The driver the device is bound to. By default one that matches what the device can do: vfio_ccw for a ccw
    /// device, plain vfio-pci for a PCI device without migration, and the simulator's own variant driver
    /// (<see cref="VariantDriver"/>) for one that migrates, as a real device migrates only under its vendor's
    /// variant driver (plain vfio-pci has no migration; docs/protocol.md, and the PlainVfioPci blocker).
    /// </summary>
    public string Driver { get => _driver ?? DefaultDriver; init => _driver = value; }
    private readonly string? _driver;

    /// <summary>The simulator's own vfio-pci variant driver, named as the kernel names them (mlx5_vfio_pci, ...).</summary>
    public const string VariantDriver = "sim_vfio_pci";

    /// <summary>Plain vfio-pci, which offers no migration.</summary>
    public const string PlainVfioPci = "vfio-pci";

    private string DefaultDriver => Kind == SimulatedDeviceKind.Ccw ? "vfio_ccw" : Protocol == MigrationProtocol.None ? PlainVfioPci : VariantDriver;
    public ulong Seed { get; init; } = 1;
    public PciIdentity PciIdentity { get; init; } = new(0x1234, 0x11e8, 0x1af4, 0x1100, 0x00ff00);
    public ushort CcwDeviceNumber { get; init; } = 0x2b09;
    public ushort CcwControlUnitType { get; init; } = 0x3990;
    /// <summary>Whether VFIO_DEVICE_RESET works (vfio-pci needs FLR, PM or a bus reset).</summary>
    public bool SupportsReset { get; init; } = true;
    /// <summary>v2 DMA logging (features 6–8).</summary>
    public bool DmaLogging { get; init; }
    /// <summary>In pre-copy with nothing to send, read() returns 0 (as mtty does) instead of failing with ENOMSG.</summary>
    public bool PreCopyEmptyReadReturnsZero { get; init; }
    /// <summary>v1: reproduce libvfio-user's restricted transition table and exact segment sizes (docs/protocol.md §1.8).</summary>
    public bool StrictV1 { get; init; }
    /// <summary>v1 with Ndma: what the NDMA bit stops (the RFC's no DMA at all, or only peer-to-peer DMA).</summary>
    public NdmaReading NdmaReading { get; init; } = NdmaReading.Rfc;
    /// <summary>v1: size of the migration region's data section.</summary>
    public int V1DataSectionSize { get; init; } = 64 * 1024;
    /// <summary>A failed transition (resume validation, ccw quiesce timeout) leaves the device in Error rather than where it was.</summary>
    public bool FailedTransitionEntersError { get; init; }
    /// <summary>
    /// Closing the device leaves its migration state as it was, as mtty does (no open/close hook resets it): the
    /// next opener finds it in Stop, StopCopy, PreCopy or Resuming, without the data fd, which closed with its
    /// owner. Off: closing resets the device to Running, as vfio-pci does.
    /// </summary>
    public bool StateSurvivesClose { get; init; }
    /// <summary>
    /// The kernel knows PRECOPY_INFOv2 (feature 12, kernel 7.3): the opener may opt in to PRECOPY_INFO flags. Off:
    /// an older kernel, where feature 12 is an unknown id and the flags field is only ever echoed back.
    /// </summary>
    public bool PrecopyInfoV2 { get; init; } = true;
    /// <summary>
    /// v2 with PreCopy: once a pre-copy session has produced this many bytes the device re-initializes its pre-copy
    /// data (a reconfiguration mid-save), once per session: every page is initial data again. To an opener opted in
    /// to PRECOPY_INFOv2 it announces this with VFIO_PRECOPY_INFO_REINIT; to one that is not (or on an older kernel)
    /// it can only send the pages again as dirty data. Null: never.
    /// </summary>
    public long? PreCopyReinitAfterBytes { get; init; }
    /// <summary>Workload steps per uAPI call while the device runs: how busy it is.</summary>
    public int StepsPerAccess { get; init; } = 1;
    /// <summary>Defective driver personalities this device plays (conformance rehearsal); none by default.</summary>
    public IReadOnlyList<SimulatedDefect> Defects { get; init; } = Array.Empty<SimulatedDefect>();
}
