using Microsoft.Extensions.Logging;
using VfioMigration.Logging;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Drivers;

/// <summary>
/// The v2 protocol driver: MIG_DEVICE_STATE, planned in userspace and executed one arc per SET, so that a failure
/// is pinned to the arc that failed and the kernel is never asked for a path it might mishandle (docs/protocol.md §3.12). After a
/// failed SET the state is read back with a GET (docs/protocol.md checklist 18, 75).
/// </summary>
internal sealed class V2MigrationDriver : IDeviceMigration
{
    private readonly CheckedDeviceCalls _calls;
    private readonly ILogger _logger;
    private IMigrationDataChannel? _session;
    private MigrationState _sessionState;
    private bool _checkedFoundState;
    private bool? _precopyFlagsAreOutput;
    private readonly DeviceReset _reset;

    public V2MigrationDriver(CheckedDeviceCalls calls, MigrationCapabilities flags, ILogger<V2MigrationDriver> logger)
    {
        _calls = calls;
        _reset = new DeviceReset(calls);
        Capabilities = flags;
        _logger = logger;
    }

    public string Address => _calls.Address;
    public MigrationProtocol Protocol => MigrationProtocol.V2;
    public Func<string?>? WhatResetLoses { get; set; }
    public string? ResetUnavailable => _reset.Unavailable;
    public MigrationCapabilities Capabilities { get; }
    public bool HasOpenSession => _session is not null;

    /// <summary>
    /// The device's state. The first read after opening also takes over what another process left: see
    /// <see cref="TakeOverFoundState"/> (so opening costs no extra call, and the state reported is the one the
    /// device is in once the orphaned session has been ended).
    /// </summary>
    public MigrationState GetState()
    {
        var s = ReadState();
        if (_checkedFoundState) return s;
        _checkedFoundState = true;
        return _session is null && IsSessionState(s) ? EndFoundSession(s) : s;
    }

    public MigrationState ObserveState(out bool leftByAnotherProcess)
    {
        var s = ReadState();
        // Once checked, a session state is ours (or ending the found one failed, which the state change reported).
        leftByAnotherProcess = !_checkedFoundState && _session is null && IsSessionState(s);
        return s;
    }

    private MigrationState ReadState()
    {
        var b = DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureGet, MigrationState.Running);
        _calls.Check(_calls.Transport.Feature(b), "VFIO_DEVICE_FEATURE GET MIG_DEVICE_STATE");
        uint raw = DeviceFeatureBuffer.ReadDeviceState(b);
        if (raw >= 8) throw new VfioCallException(Address, $"GET MIG_DEVICE_STATE returned unknown state {raw}", Errno.EINVAL);
        return (MigrationState)raw;
    }

    public uint? ReadRawState() => null;

    public TransitionPlan Plan(MigrationState current, MigrationState target) => TransitionPlanner.Plan(current, target, Capabilities);

    /// <summary>Whether a state belongs to a data session (the device returned a data fd on entering it).</summary>
    public static bool IsSessionState(MigrationState s) =>
        s is MigrationState.PreCopy or MigrationState.PreCopyP2P or MigrationState.StopCopy or MigrationState.Resuming;

    /// <summary>
    /// Reads the state and, when the device is in a session state (PreCopy, PreCopyP2P, StopCopy, Resuming) with no
    /// data fd of ours, ends that session first: another process left it (mtty keeps its state across close and
    /// reopen) and nobody can read or write it any more. A save session ends by its closing arc (StopCopy → Stop,
    /// PreCopy → Running, PreCopyP2P → RunningP2P: the device stays as running or stopped as it was found); an
    /// abandoned resume ends by VFIO_DEVICE_RESET, never RESUMING → STOP, which would make the device load a partial
    /// stream (vfio.h: leaving RESUMING completes a resume; mtty answers EINVAL and stays in RESUMING, and 6.12's
    /// mtty can crash on it). Logs a warning saying what was found and done. Returns the state now; throws
    /// <see cref="MigrationTransitionException"/> (AbandonedSession) when the session could not be ended.
    /// </summary>
    public MigrationState TakeOverFoundState()
    {
        _checkedFoundState = true;
        var found = ReadState();
        return _session is null && IsSessionState(found) ? EndFoundSession(found) : found;
    }

    /// <summary>Where ending a found session leaves the device: a save session's closing arc keeps it as running or stopped as it was; an aborted resume (a reset) is Running.</summary>
    public static MigrationState FoundSessionEnd(MigrationState found) =>
        found switch { MigrationState.StopCopy => MigrationState.Stop, MigrationState.PreCopy or MigrationState.Resuming => MigrationState.Running, _ => MigrationState.RunningP2P };

    private MigrationState EndFoundSession(MigrationState found)
    {
        string action;
        int rc;
        var to = FoundSessionEnd(found);
        if (found == MigrationState.Resuming)
        {
            action = "aborted the abandoned resume with VFIO_DEVICE_RESET";
            rc = _reset.Run();
        }
        else
        {
            action = $"ended the save session: {found} -> {to}";
            var b = DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureSet, to);
            rc = _calls.Transport.Feature(b);
            if (rc >= 0 && DeviceFeatureBuffer.ReadDataFd(b) is var fd and >= 0) _calls.Transport.AdoptDataChannel(fd).Dispose();
        }
        var now = this.TryGetState();
        CoreLog.AbandonedSessionEnded(_logger, Address, found, rc < 0 ? $"tried: {action}, which failed with {Errno.Name(-rc)}" : action, now?.ToString() ?? "an unreadable state");
        if (rc < 0 || now is not { } n || IsSessionState(n))
            throw new MigrationTransitionException(Address, found, to,
                $"the device was found in {found} with no migration data fd of this process (another process left the session), and ending that session failed ({(rc < 0 ? Errno.Name(-rc) : $"the device is still in {now?.ToString() ?? "an unreadable state"}")}); {(found == MigrationState.Resuming ? "a resume can only be aborted by a reset" : "a reset returns it to Running")}.",
                now, now is { } s ? TransitionPlanner.ReachableFrom(s, Capabilities) : Array.Empty<MigrationState>(), Array.Empty<MigrationArc>(), VfioErrors.AbandonedSession, rc < 0 ? -rc : Errno.EINVAL, _reset.Unavailable);
        return n;
    }

    public TransitionResult RequestState(MigrationState target, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var from = GetState();
        // In a session state without our data fd: only if ending the found session failed before; try again.
        if (_session is null && IsSessionState(from)) from = EndFoundSession(from);
        var plan = Plan(from, target);
        if (plan.IsRefused) throw FailureRecovery.Refused(this, _logger, from, target, plan.RefusalReason!, TransitionPlanner.ReachableFrom(from, Capabilities));
        CoreLog.TransitionPlanned(_logger, Address, from, target, plan.ToString());
        var done = new List<MigrationArc>(plan.Arcs.Count);
        bool opened = false;
        foreach (var arc in plan.Arcs)
        {
            var b = DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureSet, arc.To);
            int rc = _calls.Transport.Feature(b);
            if (rc < 0)
            {
                Fail(from, target, arc, done, $"{Errno.Name(-rc)} from the device", -rc);
            }
            done.Add(arc);
            CoreLog.ArcDone(_logger, Address, arc.ToString());
            int fd = DeviceFeatureBuffer.ReadDataFd(b);
            if (TransitionPlanner.ClosesSession(arc)) CloseSession();
            if (fd >= 0)
            {
                var channel = _calls.Transport.AdoptDataChannel(fd);
                if (_session is not null || !TransitionPlanner.OpensSession(arc))
                {
                    channel.Dispose();
                    Fail(from, target, arc, done, $"the device returned data fd {fd} on an arc that opens no session (data fd out of sync)", Errno.EINVAL);
                }
                _session = channel;
                opened = true;
            }
            else if (TransitionPlanner.OpensSession(arc))
            {
                Fail(from, target, arc, done, "the device opened no data fd on an arc that must open one", Errno.EINVAL);
            }
            _sessionState = arc.To;
        }
        CoreLog.TransitionCompleted(_logger, Address, from, target, ArcText(done), "ok");
        return new TransitionResult(Address, from, target, done) { OpenedSession = opened };
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void Fail(MigrationState from, MigrationState target, MigrationArc arc, List<MigrationArc> done, string why, int errno) =>
        throw FailureRecovery.Failed(this, _logger, from, target, arc, why, $"arc {arc} failed: {why}", done, errno,
            // The arc that just failed is not offered again as a way on.
            s => TransitionPlanner.ReachableFrom(s, Capabilities).Where(t => !(s == arc.From && Plan(s, t).Arcs[0] == arc)).ToArray(),
            // A data fd stays ours only while the device is still in a session state.
            now => { if (now is { } n && !TransitionPlanner.IsSavingGroup(n) && n != MigrationState.Resuming) CloseSession(); });

    public SaveReadResult ReadSaveData(Span<byte> buffer)
    {
        var session = _session ?? throw new VfioMigrationException($"{Address}: no save session of this process is open (enter PreCopy or StopCopy first; the device is in {this.TryGetState()?.ToString() ?? "an unreadable state"}).", VfioErrors.NoDataSession, Address);
        int rc = session.Read(buffer);
        if (rc == -Errno.ENOMSG) return new SaveReadResult(0, false);
        if (rc < 0) throw new VfioCallException(Address, "read migration data fd", -rc);
        return new SaveReadResult(rc, rc == 0 && _sessionState == MigrationState.StopCopy);
    }

    /// <summary>
    /// PRECOPY_INFO on the pre-copy data fd. The first call opts the device in to PRECOPY_INFOv2 (feature 12) when
    /// it offers PRE_COPY, and the flags (REINIT) are read only when that opt-in succeeded: before it the field is
    /// reserved and drivers echo back the caller's bytes (docs/protocol.md §3.8, checklist 77).
    /// </summary>
    public PrecopyInfo? GetPrecopyInfo()
    {
        if (_session is null || _sessionState is not (MigrationState.PreCopy or MigrationState.PreCopyP2P)) return null;
        bool flagsAreOutput = _precopyFlagsAreOutput ??= OptInPrecopyInfoV2();
        var b = PrecopyInfo.CreateRequest();
        int rc = _session.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, b);
        if (rc < 0) throw new VfioCallException(Address, "VFIO_MIG_GET_PRECOPY_INFO", -rc);
        var info = PrecopyInfo.Parse(b, flagsAreOutput);
        if (info.Reinit) CoreLog.PreCopyReinit(_logger, Address, info.InitialBytes);
        return info;
    }

    /// <summary>
    /// Whether this open of the device reports PRECOPY_INFO flags: SET feature 12 once per open (the kernel clears
    /// the opt-in at close), only on a device with PRE_COPY (the kernel refuses it otherwise). Kernels before 7.3
    /// do not know the feature (ENOTTY from vfio-pci and from mtty on 6.12, EINVAL from a driver without a feature
    /// handler): then the flags stay unread.
    /// </summary>
    private bool OptInPrecopyInfoV2()
    {
        if (!Capabilities.HasFlag(MigrationCapabilities.PreCopy)) return false;
        int rc = _calls.Transport.Feature(DeviceFeatureBuffer.Create(VfioUapi.FeatureMigPrecopyInfoV2, VfioUapi.FeatureSet, 0));
        CoreLog.PrecopyInfoV2(_logger, Address, rc == 0 ? "opted in; PRECOPY_INFO flags are read" : $"{Errno.Name(-rc)} (a kernel before 7.3); PRECOPY_INFO flags are not read");
        return rc == 0;
    }

    /// <summary>Whether PRECOPY_INFO flags are read on this open: null until the first pre-copy info was asked for.</summary>
    public bool? PrecopyFlagsAreOutput => _precopyFlagsAreOutput;

    public ulong? GetStopCopySize()
    {
        var (b, rc) = _calls.FeatureGet(VfioUapi.FeatureMigDataSize, 8);
        if (rc is -Errno.ENOTTY or -Errno.EINVAL) return null;
        _calls.Check(rc, "VFIO_DEVICE_FEATURE GET MIG_DATA_SIZE");
        return DeviceFeatureBuffer.ReadU64Payload(b);
    }

    public bool ProbeDmaLogging()
    {
        var probe = DeviceFeatureBuffer.Create(VfioUapi.FeatureDmaLoggingStart, VfioUapi.FeatureProbe | VfioUapi.FeatureSet, 0);
        try { return _calls.Transport.Feature(probe) == 0; }
        catch (VfioMigrationException) { return false; }
    }

    public void WriteResumeData(ReadOnlySpan<byte> data)
    {
        var session = _session ?? throw new VfioMigrationException($"{Address}: no resume session of this process is open (enter Resuming first; the device is in {this.TryGetState()?.ToString() ?? "an unreadable state"}).", VfioErrors.NoDataSession, Address);
        while (!data.IsEmpty)
        {
            int rc = session.Write(data);
            if (rc < 0) throw new VfioCallException(Address, "write migration data fd", -rc);
            if (rc == 0) throw new VfioCallException(Address, "write migration data fd accepted nothing", Errno.EIO);
            data = data[rc..];
        }
    }

    public void Reset()
    {
        string before;
        try { before = GetState().ToString(); } catch (VfioCallException) { before = "unknown"; }
        int rc = _reset.Run();
        CloseSession();
        CoreLog.DeviceReset(_logger, Address, before, rc < 0 ? Errno.Name(-rc) : "ok");
        _calls.Check(rc, "VFIO_DEVICE_RESET");
    }

    private void CloseSession()
    {
        _session?.Dispose();
        _session = null;
    }

    private static string ArcText(IEnumerable<MigrationArc> arcs) => string.Join(", ", arcs);

    public void Dispose() => CloseSession();
}
