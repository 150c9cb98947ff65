using System.Buffers.Binary;
using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// The v2 migration uAPI of a simulated device: the kernel core's feature validation (docs/protocol.md §3.1), its next-hop walk
/// (docs/protocol.md §3.7), and a driver's arcs (docs/protocol.md §3.6) acting on the device model, with data sessions handed out as fds.
/// </summary>
internal sealed class SimulatedV2Migration
{
    private readonly SimulatedDevice _device;
    private SimulatedDataChannel? _session;

    public SimulatedV2Migration(SimulatedDevice device, MigrationCapabilities flags)
    {
        _device = device;
        Flags = flags & (MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy);
    }

    public MigrationCapabilities Flags { get; }
    public MigrationState State { get; private set; } = MigrationState.Running;
    public SimulatedDataChannel? Session => _session;
    /// <summary>Every arc executed, in order: what the device actually walked (for conformance checks).</summary>
    public List<MigrationArc> ArcHistory { get; } = new();

    /// <summary>Features 1, 2, 9 and 12; called after the generic header checks.</summary>
    public int Feature(uint flags, Span<byte> payload, uint argsz)
    {
        uint id = flags & VfioUapi.FeatureMask;
        switch (id)
        {
            case VfioUapi.FeatureMigration:
                {
                    int rc = CheckFeature(flags, argsz, VfioUapi.FeatureGet, 8);
                    if (rc <= 0) return rc;
                    BinaryPrimitives.WriteUInt64LittleEndian(payload, (ulong)Flags);
                    return 0;
                }
            case VfioUapi.FeatureMigDeviceState:
                {
                    int rc = CheckFeature(flags, argsz, VfioUapi.FeatureGet | VfioUapi.FeatureSet, 8);
                    if (rc <= 0) return rc;
                    if ((flags & VfioUapi.FeatureGet) != 0)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)State);
                        BinaryPrimitives.WriteInt32LittleEndian(payload[4..], -1);
                        return 0;
                    }
                    uint requested = BinaryPrimitives.ReadUInt32LittleEndian(payload);
                    int result = SetState(requested, out int fd);
                    // The kernel copies the struct back whatever happened: the requested state stays, data_fd is the
                    // new fd or -1.
                    BinaryPrimitives.WriteInt32LittleEndian(payload[4..], result == 0 ? fd : -1);
                    return result;
                }
            case VfioUapi.FeatureMigDataSize:
                {
                    int rc = CheckFeature(flags, argsz, VfioUapi.FeatureGet, 8);
                    if (rc <= 0) return rc;
                    BinaryPrimitives.WriteUInt64LittleEndian(payload, (ulong)StopCopyLength());
                    return 0;
                }
            case VfioUapi.FeatureMigPrecopyInfoV2:
                {
                    // vfio_main.c: PRE_COPY is checked before the feature's own check, so even a PROBE is refused
                    // without it; then SET only, no payload (any given is ignored).
                    if (!Flags.HasFlag(MigrationCapabilities.PreCopy)) return -Errno.EINVAL;
                    int rc = CheckFeature(flags, argsz, VfioUapi.FeatureSet, 0);
                    if (rc <= 0) return rc;
                    _device.PrecopyFlagsAreOutput = true;
                    return 0;
                }
            default:
                return int.MinValue; // not a migration feature
        }
    }

    /// <summary>The kernel's <c>vfio_check_feature</c>: 1 = go on, 0 = probe answered, negative = errno.</summary>
    public static int CheckFeature(uint flags, uint argsz, uint supported, int minPayload)
    {
        if ((flags & (VfioUapi.FeatureGet | VfioUapi.FeatureSet) & ~supported) != 0) return -Errno.EINVAL;
        if ((flags & VfioUapi.FeatureProbe) != 0) return 0;
        if ((flags & (VfioUapi.FeatureGet | VfioUapi.FeatureSet)) == 0) return -Errno.EINVAL;
        if (argsz - VfioUapi.FeatureHeaderSize < minPayload) return -Errno.EINVAL;
        return 1;
    }

    private long StopCopyLength()
    {
        if (_session?.Producer is { } p && !_session.SessionEnded) return p.RemainingStopCopyBytes;
        using var fresh = new SaveStreamProducer(_device.Model, preCopy: false);
        return fresh.RemainingStopCopyBytes;
    }

    private int SetState(uint requested, out int fd)
    {
        fd = -1;
        if (requested >= 8) return -Errno.EINVAL;
        var target = (MigrationState)requested;
        while (State != target)
        {
            var next = TransitionPlanner.NextState(State, target, Flags);
            if (next == MigrationState.Error) return -Errno.EINVAL;
            var arc = new MigrationArc(State, next);
            int rc = ExecuteArc(arc, out var opened);
            if (rc != 0) return rc;
            if (opened is not null)
            {
                if (next != target)
                {
                    // Only the final arc may open a session; a driver fails the SET otherwise.
                    opened.Dispose();
                    return -Errno.EINVAL;
                }
                fd = opened.Fd;
            }
        }
        return 0;
    }

    private int ExecuteArc(MigrationArc arc, out SimulatedDataChannel? opened)
    {
        opened = null;
        if (_device.Faults.Hit(FaultPoint.Transition, arc) is { } fault)
        {
            if (fault.EnterError) EnterError();
            return -fault.Errno;
        }
        var model = _device.Model;
        switch (arc.From, arc.To)
        {
            case (MigrationState.Stop, MigrationState.StopCopy):
                opened = OpenSession(new SaveStreamProducer(model, preCopy: false), null);
                break;
            case (MigrationState.Stop, MigrationState.Resuming):
                opened = OpenSession(null, new ResumeStreamConsumer(model));
                break;
            case (MigrationState.Running, MigrationState.PreCopy):
            case (MigrationState.RunningP2P, MigrationState.PreCopyP2P):
                opened = OpenSession(new SaveStreamProducer(model, preCopy: true), null);
                break;
            case (MigrationState.Resuming, MigrationState.Stop):
                {
                    int rc = _session!.Consumer!.Finish();
                    if (rc != 0)
                    {
                        if (_device.Options.FailedTransitionEntersError) EnterError();
                        return rc;
                    }
                    EndSession();
                    break;
                }
            case (MigrationState.StopCopy, MigrationState.Stop):
            case (MigrationState.PreCopy, MigrationState.Running):
            case (MigrationState.PreCopyP2P, MigrationState.RunningP2P):
                EndSession();
                break;
        }
        int level = model.SetRunLevel(RunLevelOf(arc.To));
        if (level != 0)
        {
            if (opened is not null) { EndSession(); opened = null; }
            if (_device.Options.FailedTransitionEntersError) EnterError();
            return level;
        }
        if (arc.To == MigrationState.StopCopy && _session?.Producer is { } producer)
        {
            bool fromPreCopy = producer.IsPreCopy;
            producer.SwitchToStopCopy();
            if (fromPreCopy) _device.NotePreCopyEnded(producer);
        }
        State = arc.To;
        ArcHistory.Add(arc);
        return 0;
    }

    private SimulatedDataChannel OpenSession(SaveStreamProducer? producer, ResumeStreamConsumer? consumer)
    {
        _session = _device.RegisterChannel(producer, consumer);
        return _session;
    }

    private void EndSession()
    {
        if (_session is null) return;
        _session.SessionEnded = true;
        _session.Producer?.Dispose();
        _session = null;
    }

    private void EnterError()
    {
        EndSession();
        _device.Model.SetRunLevel(RunLevel.Stopped);
        State = MigrationState.Error;
    }

    public void Reset()
    {
        EndSession();
        State = MigrationState.Running;
    }

    public static RunLevel RunLevelOf(MigrationState state) => state switch
    {
        MigrationState.Running or MigrationState.PreCopy => RunLevel.Running,
        MigrationState.RunningP2P or MigrationState.PreCopyP2P => RunLevel.NoPeerToPeer,
        _ => RunLevel.Stopped,
    };
}
