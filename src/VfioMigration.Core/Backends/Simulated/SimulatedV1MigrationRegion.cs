using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

using L = VfioMigration.Protocol.MigrationRegionLayout;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// The v1 migration region of a simulated device (docs/protocol.md §1), read and written at byte offsets like the
/// kernel's: the register block at offset 0, a trapped data section after it. Follows the RFC (every valid→valid
/// transition; failure leaves the state unchanged or 0x6), or libvfio-user's restricted table in strict mode.
/// Each saved segment starts with an 8-byte prefix {u32 magic, u32 payload length}, so a strict device can tell
/// when a segment is replayed with a size other than the one it was read with.
/// </summary>
internal sealed class SimulatedV1MigrationRegion
{
    public const int DataSectionOffset = 4096;
    private const uint SegmentMagic = 0x31474553; // "SEG1"
    private const int SegmentPrefixSize = 8;

    private readonly SimulatedDevice _device;
    private readonly byte[] _data;
    private SaveStreamProducer? _producer;
    private ResumeStreamConsumer? _consumer;
    private int _stagedSize = -1;          // -1: no segment staged
    private readonly byte[] _prefix = new byte[SegmentPrefixSize];
    private int _prefixFill;
    private int _payloadLeft;

    public SimulatedV1MigrationRegion(SimulatedDevice device, bool ndma, bool strict, int dataSectionSize)
    {
        _device = device;
        Ndma = ndma;
        Strict = strict;
        _data = new byte[dataSectionSize];
    }

    public bool Ndma { get; }
    public bool Strict { get; }
    public uint DeviceState { get; private set; } = (uint)V1DeviceStateBits.Running;
    public long Size => DataSectionOffset + _data.Length;
    public MigrationState? State => StateCorrespondence.Classify(DeviceState, Ndma).State;

    public IReadOnlyList<RegionCapability> Capabilities =>
        Ndma
            ? new[] { RegionCapability.Type(VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration), RegionCapability.HeaderOnly(VfioUapi.RegionCapMigrationNdma) }
            : new[] { RegionCapability.Type(VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration) };

    private bool Saving => (DeviceState & (uint)V1DeviceStateBits.Saving) != 0 && !IsError;
    private bool Resuming => (DeviceState & (uint)V1DeviceStateBits.Resuming) != 0 && !IsError;
    private bool IsError => StateCorrespondence.Classify(DeviceState, Ndma).Kind == V1StateKind.Error;

    public int Read(long offset, Span<byte> buffer)
    {
        if (offset >= DataSectionOffset) return ReadData(offset - DataSectionOffset, buffer);
        if (L.WidthAt(offset) != buffer.Length) return -Errno.EINVAL;
        switch ((int)offset)
        {
            case L.DeviceStateOffset: BinaryPrimitives.WriteUInt32LittleEndian(buffer, DeviceState); break;
            case L.ReservedOffset: BinaryPrimitives.WriteUInt32LittleEndian(buffer, 0); break;
            case L.PendingBytesOffset:
                if (!Saving) return -Errno.EINVAL;
                _stagedSize = -1; // reading pending_bytes acknowledges the segment
                BinaryPrimitives.WriteUInt64LittleEndian(buffer, (ulong)PendingBytes());
                break;
            case L.DataOffsetOffset:
                if (Saving && _stagedSize < 0)
                {
                    int rc = StageSegment();
                    if (rc != 0) return rc;
                }
                else if (!Saving && !Resuming) return -Errno.EINVAL;
                BinaryPrimitives.WriteUInt64LittleEndian(buffer, DataSectionOffset);
                break;
            case L.DataSizeOffset:
                if (!Saving || _stagedSize < 0) return -Errno.EINVAL; // out of sequence: data_offset first
                BinaryPrimitives.WriteUInt64LittleEndian(buffer, (ulong)_stagedSize);
                break;
        }
        return buffer.Length;
    }

    public int Write(long offset, ReadOnlySpan<byte> buffer)
    {
        if (offset >= DataSectionOffset) return WriteData(offset - DataSectionOffset, buffer);
        if (L.WidthAt(offset) != buffer.Length) return -Errno.EINVAL;
        switch ((int)offset)
        {
            case L.DeviceStateOffset:
                {
                    int rc = Transition(BinaryPrimitives.ReadUInt32LittleEndian(buffer));
                    return rc != 0 ? rc : buffer.Length;
                }
            case L.ReservedOffset: return buffer.Length;
            case L.DataSizeOffset:
                {
                    if (!Resuming) return -Errno.EINVAL;
                    int rc = Consume(BinaryPrimitives.ReadUInt64LittleEndian(buffer));
                    return rc != 0 ? rc : buffer.Length;
                }
            default: return -Errno.EINVAL; // pending_bytes and data_offset are read-only
        }
    }

    public void Reset()
    {
        EndSave();
        _consumer = null;
        DeviceState = (uint)V1DeviceStateBits.Running;
    }

    private long PendingBytes()
    {
        var p = _producer!;
        if (p.IsComplete) return 0;
        if (p.IsPreCopy) return p.InitialBytesRemaining + p.DirtyBytes;
        return p.RemainingStopCopyBytes;
    }

    private int StageSegment()
    {
        var payload = _data.AsSpan(SegmentPrefixSize);
        int n = _device.ReadSave(_producer!, payload);
        if (n < 0) return n;
        if (n == 0) { _stagedSize = 0; return 0; }
        BinaryPrimitives.WriteUInt32LittleEndian(_data, SegmentMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(_data.AsSpan(4), (uint)n);
        _stagedSize = SegmentPrefixSize + n;
        return 0;
    }

    private int ReadData(long at, Span<byte> buffer)
    {
        if (!Saving || _stagedSize < 0 || at + buffer.Length > _stagedSize) return -Errno.EINVAL;
        if (_device.Faults.Check(FaultPoint.StreamRead) is var f and < 0) return f;
        _data.AsSpan((int)at, buffer.Length).CopyTo(buffer);
        return buffer.Length;
    }

    private int WriteData(long at, ReadOnlySpan<byte> buffer)
    {
        if (!Resuming || at + buffer.Length > _data.Length) return -Errno.EINVAL;
        buffer.CopyTo(_data.AsSpan((int)at));
        return buffer.Length;
    }

    /// <summary>A data_size write while resuming: the device takes the segment before the write returns.</summary>
    private int Consume(ulong size)
    {
        if (size > (ulong)_data.Length) return -Errno.EINVAL;
        if (_device.Faults.Check(FaultPoint.StreamWrite) is var f and < 0) return f;
        var segment = _data.AsSpan(0, (int)size);
        if (Strict)
        {
            // Same order and same sizes as on the source (docs/protocol.md §1.7): one whole segment per data_size write.
            if (size < SegmentPrefixSize || BinaryPrimitives.ReadUInt32LittleEndian(segment) != SegmentMagic
                || BinaryPrimitives.ReadUInt32LittleEndian(segment[4..]) + (ulong)SegmentPrefixSize != size)
                return -Errno.EINVAL;
        }
        return Deframe(segment);
    }

    /// <summary>Strips segment prefixes from the written bytes, however they were split, and feeds the payload on.</summary>
    private int Deframe(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (_payloadLeft == 0)
            {
                int n = Math.Min(bytes.Length, SegmentPrefixSize - _prefixFill);
                bytes[..n].CopyTo(_prefix.AsSpan(_prefixFill));
                _prefixFill += n;
                bytes = bytes[n..];
                if (_prefixFill < SegmentPrefixSize) break;
                _prefixFill = 0;
                if (BinaryPrimitives.ReadUInt32LittleEndian(_prefix) != SegmentMagic) return -Errno.EFAULT;
                _payloadLeft = (int)BinaryPrimitives.ReadUInt32LittleEndian(_prefix.AsSpan(4));
                continue;
            }
            int take = Math.Min(bytes.Length, _payloadLeft);
            int rc = _consumer!.Write(bytes[..take]);
            if (rc != 0) return rc;
            _payloadLeft -= take;
            bytes = bytes[take..];
        }
        return 0;
    }

    private int Transition(uint value)
    {
        var current = StateCorrespondence.Classify(DeviceState, Ndma);
        if (current.Kind == V1StateKind.Error) return -Errno.EINVAL; // only a reset leaves 0x6
        var next = StateCorrespondence.Classify(value, Ndma);
        if (!next.IsWritable) return -Errno.EINVAL;
        if (Strict && !StrictTableAllows(DeviceState & 0x7, value & 0x7)) return -Errno.EINVAL;
        var arc = new MigrationArc(current.State!.Value, next.State!.Value);
        if (_device.Faults.Hit(FaultPoint.Transition, arc) is { } fault)
        {
            if (fault.EnterError) EnterError();
            return -fault.Errno;
        }
        uint was = DeviceState;
        bool wasSaving = (was & 0x2) != 0, nowSaving = (value & 0x2) != 0;
        bool wasResuming = (was & 0x4) != 0, nowResuming = (value & 0x4) != 0;
        if (wasResuming && !nowResuming)
        {
            int rc = _consumer!.Finish();
            if (rc != 0 || _payloadLeft != 0 || _prefixFill != 0)
            {
                if (_device.Options.FailedTransitionEntersError) EnterError();
                return rc != 0 ? rc : -Errno.EINVAL;
            }
            _consumer = null;
        }
        int level = _device.Model.SetRunLevel(RunLevelOf(value));
        if (level != 0)
        {
            if (_device.Options.FailedTransitionEntersError) EnterError();
            return level;
        }
        bool running = (value & 0x1) != 0;
        if (wasSaving && !nowSaving) EndSave();
        if (!wasSaving && nowSaving) { _producer = new SaveStreamProducer(_device.Model, preCopy: running); _stagedSize = -1; }
        else if (nowSaving && !running) _producer!.SwitchToStopCopy();
        if (!wasResuming && nowResuming) { _consumer = new ResumeStreamConsumer(_device.Model); _prefixFill = 0; _payloadLeft = 0; }
        DeviceState = value;
        return 0;
    }

    private void EndSave()
    {
        _producer?.Dispose();
        _producer = null;
        _stagedSize = -1;
    }

    private void EnterError()
    {
        EndSave();
        _consumer = null;
        _device.Model.SetRunLevel(RunLevel.Stopped);
        DeviceState = (DeviceState & ~0xFu) | 0x6;
    }

    private RunLevel RunLevelOf(uint bits) =>
        (bits & 0x1) == 0 ? RunLevel.Stopped
        : (bits & 0x8) == 0 ? RunLevel.Running
        : _device.Options.NdmaReading == NdmaReading.NoPeerToPeer ? RunLevel.NoPeerToPeer : RunLevel.NoDma;

    /// <summary>libvfio-user's v1 table (docs/protocol.md §1.8), including its quirks: 0x3→0x3 refused, a write of 0x6 accepted there but not here.</summary>
    private static bool StrictTableAllows(uint from, uint to) => (from, to) switch
    {
        (0x0, 0x0 or 0x1) => true,
        (0x1, _) => true,
        (0x2, 0x0 or 0x1 or 0x2) => true,
        (0x3, 0x0 or 0x1 or 0x2) => true,
        (0x4, 0x1 or 0x4) => true,
        _ => false,
    };
}
