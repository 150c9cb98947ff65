using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using VfioMigration.Logging;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

using L = VfioMigration.Protocol.MigrationRegionLayout;

namespace VfioMigration.Drivers;

/// <summary>
/// The v1 protocol driver over the migration region: read-modify-write of device_state (reserved bits kept),
/// the save loop pending_bytes → data_offset → data_size → data, and the resume loop data_offset → data →
/// data_size. Each segment is framed in the byte stream it hands up as {u64 length, bytes}, so a restore replays
/// segments in the same order and sizes (docs/protocol.md §1.7).
/// </summary>
internal sealed class V1MigrationDriver : IDeviceMigration
{
    private const int FrameHeaderSize = 8;
    private readonly CheckedDeviceCalls _calls;
    private readonly RegionInfo _region;
    private readonly ILogger _logger;
    private readonly long _base;
    private readonly DeviceReset _reset;

    // Save: the segment being handed up.
    private readonly byte[] _frameHeader = new byte[FrameHeaderSize];
    private int _frameHeaderLeft;
    private ulong _segmentOffset;
    private ulong _segmentSize;
    private ulong _segmentDone;
    private ulong _lastPending;
    private bool _saveEnded;

    // Resume: the segment being replayed.
    private readonly byte[] _resumeHeader = new byte[FrameHeaderSize];
    private int _resumeHeaderFill;
    private ulong _resumeSize;
    private ulong _resumeDone;
    private ulong _resumeOffset;

    public V1MigrationDriver(CheckedDeviceCalls calls, RegionInfo region, ILogger<V1MigrationDriver> logger)
    {
        _calls = calls;
        _reset = new DeviceReset(calls);
        _region = region;
        _logger = logger;
        _base = (long)region.Offset;
        NdmaCapable = region.Has(VfioUapi.RegionCapMigrationNdma);
    }

    public string Address => _calls.Address;
    public MigrationProtocol Protocol => MigrationProtocol.V1;
    public bool NdmaCapable { get; }
    public RegionInfo Region => _region;

    /// <summary>v1 always has stop-copy and pre-copy (pre-copy is mandatory in v1); NDMA when the region says so.</summary>
    public Func<string?>? WhatResetLoses { get; set; }
    public string? ResetUnavailable => _reset.Unavailable;
    public MigrationCapabilities Capabilities => MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy
        | (NdmaCapable ? MigrationCapabilities.Ndma : MigrationCapabilities.None);

    /// <summary>v1 has no session another process can leave behind that a read would end: the state as read.</summary>
    public MigrationState ObserveState(out bool leftByAnotherProcess)
    {
        leftByAnotherProcess = false;
        return GetState();
    }

    public uint? ReadRawState() => _calls.ReadU32(_base + L.DeviceStateOffset, "device_state");

    public MigrationState GetState() => StateOf(ReadRawState()!.Value);

    private MigrationState StateOf(uint raw)
    {
        var c = StateCorrespondence.Classify(raw, NdmaCapable);
        return c.State ?? throw new VfioCallException(Address, $"device_state reads 0x{raw:X}, which v1 does not define", Errno.EINVAL);
    }

    public TransitionPlan Plan(MigrationState current, MigrationState target)
    {
        if (current == MigrationState.Error)
            return TransitionPlan.Refuse(current, target, "The device is in the Error state (0x6); only a device reset leaves it.");
        if (target == MigrationState.Error)
            return TransitionPlan.Refuse(current, target, "Error cannot be requested; it is only the result of a failed transition.");
        if (target is MigrationState.RunningP2P or MigrationState.PreCopyP2P && !NdmaCapable)
            return TransitionPlan.Refuse(current, target, $"{target} needs the NDMA bit, which this v1 device does not offer (no capability 6 on its migration region).");
        if (!Enum.IsDefined(target))
            return TransitionPlan.Refuse(current, target, $"{(int)target} is not a migration state.");
        // v1 device_state is a bitfield: every valid→valid change is one write (RFC rules).
        return TransitionPlan.Accept(current, target, current == target ? Array.Empty<MigrationArc>() : new[] { new MigrationArc(current, target) });
    }

    public TransitionResult RequestState(MigrationState target, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        uint raw = ReadRawState()!.Value;
        var from = StateOf(raw);
        var plan = Plan(from, target);
        if (plan.IsRefused) throw FailureRecovery.Refused(this, _logger, from, target, plan.RefusalReason!, Reachable(from));
        if (plan.Arcs.Count == 0)
        {
            CoreLog.TransitionCompleted(_logger, Address, from, target, "", "no change");
            return new TransitionResult(Address, from, target, plan.Arcs);
        }
        uint written = (raw & ~0xFu) | (uint)StateCorrespondence.ToV1Bits(target);
        CoreLog.V1StateWrite(_logger, Address, raw, written);
        int rc = _calls.TryWriteU32(_base + L.DeviceStateOffset, written);
        if (rc < 0)
        {
            string why = $"writing device_state 0x{written:X} failed with {Errno.Name(-rc)}";
            throw FailureRecovery.Failed(this, _logger, from, target, plan.Arcs[0], why, why, Array.Empty<MigrationArc>(), -rc, Reachable);
        }
        bool wasSaving = TransitionPlanner.IsSavingGroup(from), nowSaving = TransitionPlanner.IsSavingGroup(target);
        if (nowSaving && !wasSaving) StartSaveCursor();
        if (target == MigrationState.Resuming && from != MigrationState.Resuming) StartResumeCursor();
        CoreLog.TransitionCompleted(_logger, Address, from, target, plan.Arcs[0].ToString(), "ok");
        return new TransitionResult(Address, from, target, plan.Arcs) { OpenedSession = nowSaving && !wasSaving || target == MigrationState.Resuming };
    }

    private IReadOnlyList<MigrationState> Reachable(MigrationState from) =>
        Enum.GetValues<MigrationState>().Where(t => t != from && !Plan(from, t).IsRefused).ToArray();

    private void StartSaveCursor()
    {
        _frameHeaderLeft = 0;
        _segmentSize = _segmentDone = 0;
        _lastPending = 0;
        _saveEnded = false;
    }

    private void StartResumeCursor()
    {
        _resumeHeaderFill = 0;
        _resumeSize = _resumeDone = 0;
    }

    public SaveReadResult ReadSaveData(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length && !_saveEnded)
        {
            if (_frameHeaderLeft > 0)
            {
                int n = Math.Min(_frameHeaderLeft, buffer.Length - total);
                _frameHeader.AsSpan(FrameHeaderSize - _frameHeaderLeft, n).CopyTo(buffer[total..]);
                _frameHeaderLeft -= n;
                total += n;
                continue;
            }
            if (_segmentDone < _segmentSize)
            {
                int n = (int)Math.Min(_segmentSize - _segmentDone, (ulong)(buffer.Length - total));
                _calls.ReadExact(_base + (long)(_segmentOffset + _segmentDone), buffer.Slice(total, n), "migration data section");
                _segmentDone += (ulong)n;
                total += n;
                continue;
            }
            // Segment done (or none yet): reading pending_bytes acknowledges it and asks for the next.
            _lastPending = _calls.ReadU64(_base + L.PendingBytesOffset, "pending_bytes");
            if (_lastPending == 0)
            {
                // Zero means "complete" only while RUNNING is clear; during pre-copy more may come later.
                if ((ReadRawState()!.Value & (uint)V1DeviceStateBits.Running) == 0) _saveEnded = true;
                break;
            }
            _segmentOffset = _calls.ReadU64(_base + L.DataOffsetOffset, "data_offset");
            _segmentSize = _calls.ReadU64(_base + L.DataSizeOffset, "data_size");
            _segmentDone = 0;
            if (_segmentOffset < L.RegisterBlockSize || _segmentOffset + _segmentSize > _region.Size)
                throw new VfioCallException(Address, $"data_offset {_segmentOffset} / data_size {_segmentSize} fall outside the migration region ({_region.Size} bytes)", Errno.EINVAL);
            if (_segmentSize == 0)
            {
                // Tolerable while running (nothing staged right now); while stopped the stream could never end.
                if ((ReadRawState()!.Value & (uint)V1DeviceStateBits.Running) == 0)
                    throw new VfioCallException(Address, $"the device reports {_lastPending} pending bytes but stages an empty segment while stopped; the save stream cannot complete", Errno.EIO);
                break;
            }
            BinaryPrimitives.WriteUInt64LittleEndian(_frameHeader, _segmentSize);
            _frameHeaderLeft = FrameHeaderSize;
        }
        if (total > 0) CoreLog.SaveRead(_logger, Address, total);
        return new SaveReadResult(total, total == 0 && _saveEnded);
    }

    /// <summary>v1 has only pending_bytes, which cannot tell initial from dirty data: it is reported as dirty bytes.</summary>
    public PrecopyInfo? GetPrecopyInfo() => new PrecopyInfo(0, _lastPending);

    public ulong? GetStopCopySize() => null;

    /// <summary>v1 has no DMA logging features.</summary>
    public bool ProbeDmaLogging() => false;

    public void WriteResumeData(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_resumeDone == _resumeSize && _resumeHeaderFill < FrameHeaderSize)
            {
                int n = Math.Min(FrameHeaderSize - _resumeHeaderFill, data.Length);
                data[..n].CopyTo(_resumeHeader.AsSpan(_resumeHeaderFill));
                _resumeHeaderFill += n;
                data = data[n..];
                if (_resumeHeaderFill < FrameHeaderSize) break;
                _resumeSize = BinaryPrimitives.ReadUInt64LittleEndian(_resumeHeader);
                _resumeDone = 0;
                _resumeOffset = _calls.ReadU64(_base + L.DataOffsetOffset, "data_offset");
                if (_resumeOffset < L.RegisterBlockSize || _resumeOffset + _resumeSize > _region.Size)
                    throw new VfioCallException(Address, $"a saved segment of {_resumeSize} bytes does not fit this device's data section (offset {_resumeOffset}, region {_region.Size} bytes)", Errno.EINVAL);
                if (_resumeSize == 0) CommitSegment();
                continue;
            }
            int take = (int)Math.Min(_resumeSize - _resumeDone, (ulong)data.Length);
            _calls.WriteExact(_base + (long)(_resumeOffset + _resumeDone), data[..take], "migration data section");
            _resumeDone += (ulong)take;
            data = data[take..];
            if (_resumeDone == _resumeSize) CommitSegment();
        }
    }

    /// <summary>data_size = segment length: the device consumes the segment before the write returns.</summary>
    private void CommitSegment()
    {
        _calls.WriteU64(_base + L.DataSizeOffset, _resumeSize, "data_size");
        _resumeHeaderFill = 0;
        _resumeSize = _resumeDone = 0;
    }

    public void Reset()
    {
        string before;
        try { before = $"0x{ReadRawState():X}"; } catch (VfioCallException) { before = "unknown"; }
        int rc = _reset.Run();
        StartSaveCursor();
        StartResumeCursor();
        CoreLog.DeviceReset(_logger, Address, before, rc < 0 ? Errno.Name(-rc) : "ok");
        _calls.Check(rc, "VFIO_DEVICE_RESET");
    }

    public void Dispose() { }
}
