using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VfioMigration.Drivers;
using VfioMigration.Logging;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Conformance;

/// <summary>
/// Checks one device (and optionally a second compatible one, for the round trip) against the VFIO migration uAPI:
/// the checklist (docs/protocol.md §8) items that a real device can be held to, plus what a VMM depends on. Plumbing
/// checks send raw <c>VFIO_DEVICE_FEATURE</c> buffers through the transport; higher-level checks go through the v1
/// and v2 drivers. Works on any <see cref="IVfioDeviceTransport"/>, real or simulated.
/// <para>
/// Destructive: the device is reset and moved through every state. The suite never sends STOP_COPY → PRE_COPY or
/// PRE_COPY_P2P to a device (kernels before the 2026 fix lock up, docs/protocol.md §3.12); that check is about our own refusal.
/// Whatever happens, it resets the device at the end and reports the state it is left in
/// (<see cref="FinalState"/>).
/// </para>
/// </summary>
public sealed partial class ConformanceSuite
{
    private const string Uapi = "include/uapi/linux/vfio.h";
    private const int ReadChunk = 1 << 20;
    private const long MaxStreamBytes = 1L << 30;

    private readonly CountingTransport _t;
    private readonly IVfioDeviceTransport? _peerTransport;
    private readonly IConformanceObserver? _observer;
    private readonly IConformanceObserver? _peerObserver;
    private readonly ILoggerFactory _loggers;
    private readonly List<ConformanceResult> _results = new();
    private readonly List<IMigrationDataChannel> _adopted = new();
    private Action<ConformanceResult>? _onResult;
    private IDeviceMigration _driver = null!;
    private CancellationToken _cancel;
    private byte[]? _stream;
    private IVfioDeviceTransport? _reopened;

    /// <param name="device">The device under test, open; the suite does not dispose it.</param>
    /// <param name="peer">A second, compatible device (same kind, ids, driver) for the round trip; null = the device itself.</param>
    /// <param name="observer">What can be seen of the device beyond its uAPI (simulator); null for a real device.</param>
    /// <param name="peerObserver">The same for the peer.</param>
    /// <param name="log">Where the suite logs each call and check (the module drains it onto the pipeline).</param>
    public ConformanceSuite(IVfioDeviceTransport device, IVfioDeviceTransport? peer, IConformanceObserver? observer,
        IConformanceObserver? peerObserver, LogQueue log)
        : this(device, peer, observer, peerObserver, log.Loggers) { }

    /// <param name="device">The device under test, open; the suite does not dispose it.</param>
    /// <param name="peer">A second, compatible device (same kind, ids, driver) for the round trip; null = the device itself.</param>
    /// <param name="observer">What can be seen of the device beyond its uAPI (simulator); null for a real device.</param>
    /// <param name="peerObserver">The same for the peer.</param>
    /// <param name="loggers">Where the suite logs each call and check; null logs nothing.</param>
    internal ConformanceSuite(IVfioDeviceTransport device, IVfioDeviceTransport? peer = null, IConformanceObserver? observer = null,
        IConformanceObserver? peerObserver = null, ILoggerFactory? loggers = null)
    {
        _t = new CountingTransport(device);
        _peerTransport = peer;
        _observer = observer;
        _peerObserver = peerObserver;
        _loggers = loggers ?? NullLoggerFactory.Instance;
    }

    public string Address => _t.Address;

    /// <summary>Only the checks of these areas (<see cref="ConformanceArea"/>); null = all.</summary>
    public IReadOnlyCollection<string>? Areas { get; init; }

    /// <summary>
    /// Closes the device's handle (the one given, or the last this returned) and opens the device again, for the
    /// check that an opt-in ends with the open (PRECOPY_INFOv2, docs/protocol.md checklist 83). The suite goes on
    /// over the handle it returns and disposes it at the end; null: that check is not applicable.
    /// </summary>
    public Func<IVfioDeviceTransport>? Reopen { get; init; }

    /// <summary>
    /// v1 with NDMA, where DMA can be observed: which reading of NDMA the device follows, "RFC" (no DMA at all) or
    /// "NOP2P" (only peer-to-peer DMA stops; docs/protocol.md §2.2, checklist 84); null otherwise.
    /// </summary>
    public string? NdmaReading { get; private set; }

    /// <summary>The protocol the device speaks, once <see cref="Run"/> has found out.</summary>
    public MigrationProtocol Protocol { get; private set; }

    /// <summary>The device's capabilities, once <see cref="Run"/> has found out.</summary>
    public MigrationCapabilities Capabilities { get; private set; }

    /// <summary>The state the device reported when the run opened it (v2); null when it could not be read that way.</summary>
    public MigrationState? InitialState { get; private set; }

    /// <summary>How many MIG_DEVICE_STATE SETs asked the device under test for a state change during the run (for the audit log).</summary>
    public int StateChanges => _t.StateSets;

    /// <summary>The state the device was left in after the final reset; null if it has no migration or could not be read.</summary>
    public MigrationState? FinalState { get; private set; }

    /// <summary>What went wrong with the final reset, if anything (the device may then not be Running).</summary>
    public string? FinalProblem { get; private set; }

    /// <summary>
    /// Runs every check that applies, in order: plumbing, state machine, data sessions, resume, DMA logging (v2);
    /// region, state machine, resume, NDMA (v1). <paramref name="onResult"/> sees each result as it is decided.
    /// </summary>
    public IReadOnlyList<ConformanceResult> Run(Action<ConformanceResult>? onResult = null, CancellationToken cancellationToken = default)
    {
        _onResult = onResult;
        _cancel = cancellationToken;
        // The first thing the suite does: read the state of the device as it was opened (docs/protocol.md checklist 10 / 49).
        var (openRc, openState) = RawGetV2();
        InitialState = openState;
        try
        {
            _driver = MigrationDriverFactory.Open(_t, _loggers);
        }
        catch (VfioMigrationException e)
        {
            Emit(new ConformanceResult
            {
                Device = Address,
                Number = 74,
                Check = "plumbing.detect",
                Name = "Migration support can be detected",
                Area = ConformanceArea.Plumbing,
                Outcome = ConformanceOutcome.Failed,
                Observed = e.Message,
                Reason = "the device's migration support could not be read",
                Required = "GET MIGRATION succeeds with STOP_COPY set, or fails with ENOTTY (then a v1 region or none)",
                Source = $"{Uapi}, VFIO_DEVICE_FEATURE_MIGRATION; drivers/vfio/vfio_main.c vfio_ioctl_device_feature_migration",
            });
            return _results;
        }
        Protocol = _driver.Protocol;
        Capabilities = _driver.Capabilities;
        try
        {
            switch (Protocol)
            {
                case MigrationProtocol.V2:
                    RunV2(openRc, openState);
                    break;
                case MigrationProtocol.V1:
                    RunV1();
                    break;
                default:
                    RunNone();
                    break;
            }
        }
        finally
        {
            DisposeAdopted();
            FinalReset();
            _driver.Dispose();
            _reopened?.Dispose();
        }
        return _results;
    }

    private void RunNone()
    {
        Check(4, "plumbing.probe-none", ConformanceArea.Plumbing, "PROBE of MIGRATION answers ENOTTY on a device without migration",
            "ENOTTY (the device has no migration support)", $"{Uapi}, VFIO_DEVICE_FEATURE_MIGRATION; drivers/vfio/vfio_main.c vfio_ioctl_device_feature",
            () =>
            {
                var (rc, _) = Feature(VfioUapi.FeatureProbe | VfioUapi.FeatureMigration, 0);
                return rc == -Errno.ENOTTY ? Pass(Rc(rc)) : Fail(Rc(rc), "a device without migration must answer ENOTTY");
            }, prepare: false);
        Emit(new ConformanceResult
        {
            Device = Address,
            Number = 74,
            Check = "migration",
            Name = "Migration checks",
            Area = ConformanceArea.Fsm,
            Outcome = ConformanceOutcome.NotApplicable,
            Observed = "",
            Reason = "the device has no migration support (feature 1 ENOTTY, no v1 region)",
            Required = "-",
            Source = $"{Uapi}, VFIO_DEVICE_FEATURE_MIGRATION",
        });
    }

    private void FinalReset()
    {
        if (Protocol == MigrationProtocol.None) return;
        try
        {
            _driver.Reset();
            var s = _driver.GetState();
            if (s != MigrationState.Running)
            {
                // A device whose reset does not return Running: try the ordinary way back, and say so either way.
                FinalProblem = $"after VFIO_DEVICE_RESET the device reports {s}, not Running";
                try { _driver.RequestState(MigrationState.Running); s = _driver.GetState(); }
                catch (VfioMigrationException e) { FinalProblem += $"; going to Running failed too: {e.Message}"; }
            }
            FinalState = s;
        }
        catch (VfioMigrationException e)
        {
            FinalProblem = $"the final VFIO_DEVICE_RESET failed: {e.Message}";
            FinalState = _driver.TryGetState();
        }
    }

    // ---- running one check ----

    private readonly record struct Verdict(ConformanceOutcome Outcome, string Observed, string? Reason);

    private static Verdict Pass(string observed) => new(ConformanceOutcome.Passed, observed, null);
    private static Verdict Fail(string observed, string reason) => new(ConformanceOutcome.Failed, observed, reason);
    private static Verdict NotApplicable(string reason) => new(ConformanceOutcome.NotApplicable, "", reason);

    /// <summary>Runs one check from a freshly reset, Running device (unless <paramref name="prepare"/> is false).</summary>
    private void Check(int number, string id, string area, string name, string required, string source, Func<Verdict> body,
        bool prepare = true, string? peer = null)
    {
        _cancel.ThrowIfCancellationRequested();
        if (!Wanted(area)) return;
        var clock = Stopwatch.StartNew();
        Verdict v;
        try
        {
            if (prepare) Fresh();
            v = body();
        }
        catch (VfioMigrationException e)
        {
            v = Fail(e.Message, "the check could not complete: the device failed a call it must answer");
        }
        catch (InvalidOperationException e)
        {
            v = Fail(e.Message, "the check could not complete");
        }
        finally
        {
            DisposeAdopted();
        }
        Emit(new ConformanceResult
        {
            Device = Address,
            Number = number,
            Check = id,
            Name = name,
            Area = area,
            Outcome = v.Outcome,
            Observed = v.Observed,
            Reason = v.Reason,
            Required = required,
            Source = source,
            Peer = peer,
            Duration = clock.Elapsed,
        });
    }

    private bool Wanted(string area) => Areas is null || Areas.Contains(area, StringComparer.OrdinalIgnoreCase);

    private void Emit(ConformanceResult r)
    {
        if (!Wanted(r.Area)) return;
        _results.Add(r);
        _onResult?.Invoke(r);
    }

    /// <summary>A known start: reset, then Running by ordinary SETs if the reset did not get there.</summary>
    private void Fresh()
    {
        DisposeAdopted();
        try { _driver.Reset(); }
        catch (VfioCallException) { /* a device without reset still gets the ordinary way back */ }
        if (_driver.GetState() != MigrationState.Running) _driver.RequestState(MigrationState.Running);
    }

    private void DisposeAdopted()
    {
        foreach (var c in _adopted) c.Dispose();
        _adopted.Clear();
    }

    // ---- raw uAPI helpers ----

    private (int Rc, byte[] Buffer) Feature(uint flags, int payload, uint? argsz = null, Action<byte[]>? fill = null, byte pattern = 0)
    {
        var b = new byte[VfioUapi.FeatureHeaderSize + payload];
        if (pattern != 0) b.AsSpan(VfioUapi.FeatureHeaderSize).Fill(pattern);
        BinaryPrimitives.WriteUInt32LittleEndian(b, argsz ?? (uint)b.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), flags);
        fill?.Invoke(b);
        return (_t.Feature(b), b);
    }

    /// <summary>SET MIG_DEVICE_STATE as one ioctl (the kernel walks any path); returns rc and the copied-back struct.</summary>
    private (int Rc, uint State, int Fd) RawSet(uint target)
    {
        var (rc, b) = Feature(VfioUapi.FeatureSet | VfioUapi.FeatureMigDeviceState, 8, fill: x =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(x.AsSpan(8), target);
            BinaryPrimitives.WriteInt32LittleEndian(x.AsSpan(12), 0x5EED);
        });
        return (rc, DeviceFeatureBuffer.ReadDeviceState(b), DeviceFeatureBuffer.ReadDataFd(b));
    }

    private (int Rc, MigrationState? State) RawGetV2()
    {
        var (rc, b) = Feature(VfioUapi.FeatureGet | VfioUapi.FeatureMigDeviceState, 8);
        if (rc < 0) return (rc, null);
        uint s = DeviceFeatureBuffer.ReadDeviceState(b);
        return (rc, s < 8 ? (MigrationState)s : null);
    }

    private MigrationState? StateNow() => _driver.TryGetState();

    private IMigrationDataChannel? Adopt(int fd)
    {
        if (fd < 0) return null;
        var c = _t.AdoptDataChannel(fd);
        _adopted.Add(c);
        return c;
    }

    private static string Rc(int rc) => rc < 0 ? Errno.Name(-rc) : $"rc {rc}";
    private static string StateText(MigrationState? s) => s?.ToString() ?? "unreadable";

    /// <summary>Reads a save fd until read() returns 0 (or fails); returns the bytes and the last rc.</summary>
    private static (byte[] Bytes, int LastRc) ReadToEnd(IMigrationDataChannel fd)
    {
        using var ms = new MemoryStream();
        var buf = new byte[ReadChunk];
        while (true)
        {
            int rc = fd.Read(buf);
            if (rc <= 0) return (ms.ToArray(), rc);
            ms.Write(buf, 0, rc);
            if (ms.Length > MaxStreamBytes) throw new InvalidOperationException($"the save stream exceeds {MaxStreamBytes} bytes without end of stream");
        }
    }

    /// <summary>A whole save stream of this device through its driver (STOP_COPY to end of stream), cached.</summary>
    private byte[] SavedStream()
    {
        if (_stream is not null) return _stream;
        _stream = SaveDevice().Bytes;
        Fresh();
        return _stream;
    }

    /// <summary>
    /// Saves the device under test and leaves it in StopCopy. v2 reads its own fd to read() = 0 and takes ENOMSG
    /// there as the end too: the end-of-stream rule is a check of its own (data.stopcopy-eof), and one broken rule
    /// must not fail every check that needs a stream.
    /// </summary>
    private (byte[] Bytes, byte[]? Captured) SaveDevice()
    {
        if (Protocol != MigrationProtocol.V2) return SaveThroughDriver(_driver, _observer);
        _driver.RequestState(MigrationState.Stop);
        var (rc, _, fd) = RawSet((uint)MigrationState.StopCopy);
        var c = Adopt(fd) ?? throw new InvalidOperationException($"SET Stop -> StopCopy returned {Rc(rc)} and no data fd");
        var (bytes, last) = ReadToEnd(c);
        if (last < 0 && last != -Errno.ENOMSG) throw new InvalidOperationException($"reading the save stream failed after {bytes.Length} bytes: {Rc(last)}");
        return (bytes, _observer?.CaptureState());
    }

    /// <summary>Saves a device with its driver: STOP_COPY, read to end, state captured while stopped; leaves it in StopCopy.</summary>
    private static (byte[] Bytes, byte[]? Captured) SaveThroughDriver(IDeviceMigration d, IConformanceObserver? observer)
    {
        d.RequestState(MigrationState.StopCopy);
        using var ms = new MemoryStream();
        var buf = new byte[ReadChunk];
        int idle = 0;
        while (true)
        {
            var r = d.ReadSaveData(buf);
            if (r.EndOfStream) break;
            if (r.Bytes == 0 && ++idle > 1000) throw new InvalidOperationException("the save stream in StopCopy never ends");
            ms.Write(buf, 0, r.Bytes);
            if (ms.Length > MaxStreamBytes) throw new InvalidOperationException($"the save stream exceeds {MaxStreamBytes} bytes without end of stream");
        }
        return (ms.ToArray(), observer?.CaptureState());
    }
}
