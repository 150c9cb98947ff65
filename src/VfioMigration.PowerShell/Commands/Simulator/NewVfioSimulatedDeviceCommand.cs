using System.Globalization;
using System.Management.Automation;
using VfioMigration.Backends.Simulated;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>Adds a PCI function or ccw subchannel to the session's simulated host.</summary>
[Cmdlet(VerbsCommon.New, "VfioSimulatedDevice", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(VfioDevice))]
public sealed class NewVfioSimulatedDeviceCommand : VfioCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [AllowNull, AllowEmptyString]
    [Binding.NotEmpty("a PCI address (0000:3b:00.2) or ccw bus id (0.0.0100)")]
    public string Address { get; set; } = "";

    /// <summary>Pci (a PCI function, the default) or Ccw (an s390 ccw subchannel). The simulator has no mdevs.</summary>
    // The simulator's own kind, not VfioDeviceKind: pwsh completes an enum parameter from its type (an
    // ArgumentCompleter is not asked, and a ValidateSet would be pwsh's binding error, which -ErrorAction Stop
    // does not stop), so only the kinds it simulates are offered, and OneName refuses anything else.
    [Parameter]
    [Binding.OneName(typeof(SimulatedDeviceKind))]
    public SimulatedDeviceKind Kind { get; set; } = SimulatedDeviceKind.Pci;

    [Parameter]
    [Binding.OneName(typeof(MigrationProtocol))]
    public MigrationProtocol Protocol { get; set; } = MigrationProtocol.V2;

    /// <summary>v2: StopCopy plus any of P2P and PreCopy (StopCopy is added if missing). v1: Ndma or nothing.</summary>
    [Parameter]
    public MigrationCapabilities Capabilities { get; set; } = MigrationCapabilities.StopCopy;

    [Parameter]
    [Binding.InRange(16 * 1024, 64L << 30)]
    public long MemorySize { get; set; } = 1 << 20;

    [Parameter]
    [Binding.InRange(0, int.MaxValue)]
    public int? IommuGroup { get; set; }

    /// <summary>The driver the device is bound to. Default: sim_vfio_pci, the simulator's variant driver, for a PCI device that migrates; vfio-pci with -Protocol None; vfio_ccw for ccw. -Driver vfio-pci alone makes a plain vfio-pci device, without migration (plain vfio-pci has none); with -Protocol V1 or V2 it is refused.</summary>
    [Parameter]
    [Binding.NotEmpty("a driver name (vfio-pci, sim_vfio_pci, vfio_ccw)")]
    public string? Driver { get; set; }

    [Parameter]
    [Binding.Matches("^(0x)?[0-9a-fA-F]{1,4}$", "a PCI id", "1 to 4 hex digits, 0x optional (such as 1234 or 0x10de)")]
    public string VendorId { get; set; } = "1234";

    [Parameter]
    [Binding.Matches("^(0x)?[0-9a-fA-F]{1,4}$", "a PCI id", "1 to 4 hex digits, 0x optional (such as 1234 or 0x10de)")]
    public string DeviceId { get; set; } = "11e8";

    /// <summary>A PCI device this one is linked to peer-to-peer (both write into each other).</summary>
    [Parameter]
    [Binding.NotEmpty("the PCI address of a simulated device")]
    public string? PeerAddress { get; set; }

    [Parameter]
    public ulong Seed { get; set; } = 1;

    [Parameter]
    public SwitchParameter DmaLogging { get; set; }

    [Parameter]
    public SwitchParameter StrictV1 { get; set; }

    /// <summary>
    /// v1 with Ndma: what the NDMA bit stops. Rfc (the default): no DMA at all, as the December 2021 RFC wrote it.
    /// NoPeerToPeer: only peer-to-peer DMA, the reading its discussion ended with ("maybe should be NOP2P"); DMA
    /// into guest memory goes on until the device stops.
    /// </summary>
    [Parameter]
    [Binding.OneName(typeof(NdmaReading))]
    public NdmaReading NdmaReading { get; set; } = NdmaReading.Rfc;

    [Parameter]
    public SwitchParameter NoReset { get; set; }

    /// <summary>
    /// v2 with PreCopy: after this many bytes of a pre-copy session the device re-initializes its pre-copy data (a
    /// reconfiguration mid-save), once per session, announcing it with VFIO_PRECOPY_INFO_REINIT to an opener opted
    /// in to PRECOPY_INFOv2 (kernel 7.3).
    /// </summary>
    [Parameter]
    [Binding.InRange(0, long.MaxValue)]
    public long? PreCopyReinitAfter { get; set; }

    /// <summary>The device sits on a kernel before 7.3: feature 12 (PRECOPY_INFOv2) is unknown, PRECOPY_INFO flags only echo.</summary>
    [Parameter]
    public SwitchParameter NoPrecopyInfoV2 { get; set; }

    /// <summary>
    /// Defective driver personalities the device plays, to rehearse Test-VfioMigrationConformance: NotRunningAfterOpen,
    /// ResetKeepsState, ResetKeepsDataFd, FailedSetLeavesStrayState, PreCopyInitialBytesGrow, PreCopyInfoOmitsQueuedData, StopCopyEndsWithEnomsg,
    /// AcceptsTruncatedStream, DataSizeWrong, V1SpontaneousStateChange, QuiesceLeaksP2P, UndefinedMigrationFlags,
    /// ProbeWritesBack, SameStateSetFails, ArgszUnchecked, DmaLoggingRepeatedStart, and for PRECOPY_INFOv2 (kernel 7.3)
    /// PrecopyInfoV2ProbeRefused, PrecopyInfoV2WithoutPreCopy, PrecopyFlagsEchoedAfterOptIn, ReinitWithoutOptIn,
    /// PrecopyOptInSurvivesClose. A defect the device cannot play
    /// (a v1 defect on a v2 device, QuiesceLeaksP2P without P2P or Ndma) is an InvalidSimulatedDevice error.
    /// </summary>
    [Parameter]
    public SimulatedDefect[] Defect { get; set; } = Array.Empty<SimulatedDefect>();

    protected override void Process()
    {
        var host = Module.SimulatedHost;
        // -Driver vfio-pci alone makes a plain vfio-pci device: one without migration, as on a real host.
        var protocol = Driver == SimulatedDeviceOptions.PlainVfioPci && !MyInvocation.BoundParameters.ContainsKey(nameof(Protocol)) ? MigrationProtocol.None : Protocol;
        var caps = protocol == MigrationProtocol.V2 ? Capabilities | MigrationCapabilities.StopCopy : protocol == MigrationProtocol.None ? MigrationCapabilities.None : Capabilities;
        var options = new SimulatedDeviceOptions
        {
            Address = Address,
            Kind = Kind,
            Protocol = protocol,
            Capabilities = caps,
            MemorySize = MemorySize,
            IommuGroup = IommuGroup ?? NextGroup(host),
            Seed = Seed,
            PciIdentity = new PciIdentity(Hex(VendorId), Hex(DeviceId), Hex(VendorId), 0, 0x020000),
            DmaLogging = DmaLogging,
            StrictV1 = StrictV1,
            NdmaReading = NdmaReading,
            PreCopyReinitAfterBytes = PreCopyReinitAfter,
            PrecopyInfoV2 = !NoPrecopyInfoV2,
            SupportsReset = !NoReset,
            Defects = Defect,
        };
        if (Driver is not null) options = options with { Driver = Driver };
        if (!this.ShouldProcessOrRefuse(Address, $"Add simulated {options.Kind} device ({protocol}, {caps}, driver {options.Driver}, {MemorySize} bytes of device memory{(Defect.Length > 0 ? ", defects " + string.Join(", ", Defect) : "")})")) return;
        try
        {
            host.Add(options, PeerAddress);
            WriteObject(Module.Simulated.Describe(Address));
        }
        catch (VfioMigrationException e)
        {
            WriteVfioError(e, Address);
        }
        this.DrainLog();
    }

    private static ushort Hex(string s) => ushort.Parse(s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static int NextGroup(SimulatedHost host) => host.Devices.Select(d => d.Options.IommuGroup).DefaultIfEmpty(0).Max() + 1;
}
