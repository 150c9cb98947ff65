using System.Buffers.Binary;
using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// An s390 I/O subchannel under vfio-ccw. Channel programs take virtual time: a START is translated
/// (CP_PROCESSING), then runs on the channel (CP_PENDING) until its final interrupt posts an IRB. Per the NDMA RFC discussion (docs/protocol.md §2.2), a
/// transition to any stopped state first lets the program in flight complete, bounded by a timeout; while stopped,
/// no START is accepted. Each program writes a block of the device's storage (its memory).
/// </summary>
public sealed class SimulatedCcwModel : SimulatedDeviceModel
{
    public const int IoRegionSize = 124;      // orb[12] scsw[12] irb[96] ret_code u32, packed
    public const int OrbOffset = 0, ScswOffset = 12, IrbOffset = 24, RetCodeOffset = 120;
    public const int SchibSize = 52;
    public const int CmdRegionSize = 8;       // u32 command, u32 ret_code
    public const int CrwRegionSize = 8;       // u32 crw, u32 pad
    public const uint CommandHalt = 1, CommandClear = 2;
    private const int MaxQueuedCrws = 4;
    private const int BlockSize = 512;

    private readonly byte[] _io = new byte[IoRegionSize];
    private readonly byte[] _schib = new byte[SchibSize];
    private readonly byte[] _cmd = new byte[CmdRegionSize];
    private readonly List<uint> _crws = new();
    private long? _programEnd;          // null while idle or when the program hangs
    private long _processingEnd;
    private uint _programParm;

    public SimulatedCcwModel(ushort deviceNumber, ushort controlUnitType, long memorySize, ulong seed, GuestMemory guest)
        : base(SimulatedDeviceKind.Ccw, memorySize, seed, guest)
    {
        DeviceNumber = deviceNumber;
        ControlUnitType = controlUnitType;
        BinaryPrimitives.WriteUInt32BigEndian(_schib.AsSpan(4), 0x0080_0000u | deviceNumber); // dnv + devno
    }

    public ushort DeviceNumber { get; }
    public ushort ControlUnitType { get; }
    public override uint Identity => ControlUnitType;

    /// <summary>Virtual microseconds since the subchannel was created.</summary>
    public long NowMicros { get; private set; }
    public long StepMicros { get; set; } = 100;
    public long TranslateMicros { get; set; } = 50;
    public long ProgramMicros { get; set; } = 400;
    /// <summary>How long a stop may wait for the program in flight before it fails.</summary>
    public long QuiesceTimeoutMicros { get; set; } = 30_000;
    /// <summary>The next program started never completes (fault injection).</summary>
    public bool NextProgramHangs { get; set; }

    public SubchannelActivity Activity { get; private set; } = SubchannelActivity.Idle;
    public ulong ProgramsStarted { get; private set; }
    public ulong ProgramsCompleted { get; private set; }
    /// <summary>The I/O eventfd: incremented each time a final interrupt is posted.</summary>
    public ulong IoInterrupts { get; private set; }
    public ulong StartsRefused { get; private set; }
    public long LastQuiesceWaitMicros { get; private set; }
    public IReadOnlyList<uint> PendingCrws => _crws;
    public ReadOnlySpan<byte> IoRegion => _io;

    /// <summary>Reading the SCHIB region issues STORE SUBCHANNEL.</summary>
    public ReadOnlySpan<byte> StoreSubchannel() => _schib;

    /// <summary>Reading the CRW region hands out the oldest pending channel report word, or 0.</summary>
    public uint TakeCrw()
    {
        if (_crws.Count == 0) return 0;
        uint crw = _crws[0];
        _crws.RemoveAt(0);
        return crw;
    }

    public void QueueCrw(uint crw)
    {
        if (_crws.Count < MaxQueuedCrws) _crws.Add(crw);
    }

    /// <summary>A write to the I/O region: an ORB with the START function starts a program. Returns count or -errno.</summary>
    public int WriteIoRegion(int offset, ReadOnlySpan<byte> data)
    {
        if (offset < 0 || offset + data.Length > IoRegionSize) return -Errno.EINVAL;
        data.CopyTo(_io.AsSpan(offset));
        uint fctl = (BinaryPrimitives.ReadUInt32BigEndian(_io.AsSpan(ScswOffset)) >> 12) & 7;
        int rc;
        if ((fctl & 4) != 0)
            rc = RequestStart(BinaryPrimitives.ReadUInt32BigEndian(_io.AsSpan(OrbOffset)),
                ((BinaryPrimitives.ReadUInt32BigEndian(_io.AsSpan(OrbOffset + 4)) >> 18) & 1) != 0);
        else if ((fctl & 3) != 0)
            rc = -Errno.EOPNOTSUPP; // halt and clear go through the async command region
        else
            rc = -Errno.EINVAL;
        BinaryPrimitives.WriteInt32LittleEndian(_io.AsSpan(RetCodeOffset), rc);
        return rc != 0 ? rc : data.Length;
    }

    /// <summary>
    /// A write to the async command region. Policy while stopped: HALT and CLEAR are refused with EBUSY, since a
    /// quiesced subchannel must not change state; otherwise they end the program in flight at once.
    /// </summary>
    public int WriteCommandRegion(int offset, ReadOnlySpan<byte> data)
    {
        if (offset != 0 || data.Length != CmdRegionSize) return -Errno.EINVAL;
        data.CopyTo(_cmd);
        uint command = BinaryPrimitives.ReadUInt32LittleEndian(_cmd);
        int rc;
        if (command is not (CommandHalt or CommandClear)) rc = -Errno.EINVAL;
        else if (IsFrozen) rc = -Errno.EBUSY;
        else
        {
            if (Activity != SubchannelActivity.Idle) PostFinalInterrupt(halted: true);
            rc = 0;
        }
        BinaryPrimitives.WriteInt32LittleEndian(_cmd.AsSpan(4), rc);
        return rc != 0 ? rc : data.Length;
    }

    public ReadOnlySpan<byte> CommandRegion => _cmd;

    public override int SetRunLevel(RunLevel level)
    {
        if (level == RunLevel.Stopped && !IsFrozen && Activity != SubchannelActivity.Idle)
        {
            long wait = _programEnd is { } end ? Math.Max(0, end - NowMicros) : long.MaxValue;
            if (wait > QuiesceTimeoutMicros) return -Errno.ETIMEDOUT;
            NowMicros += wait;
            LastQuiesceWaitMicros = wait;
            Complete();
        }
        else if (level == RunLevel.Stopped) LastQuiesceWaitMicros = 0;
        return base.SetRunLevel(level);
    }

    public override void ResetFunction()
    {
        base.ResetFunction();
        Activity = SubchannelActivity.Idle;
        _programEnd = null;
        _crws.Clear();
        Array.Clear(_io);
    }

    protected override void OnStep()
    {
        NowMicros += StepMicros;
        Complete();
        // The guest's channel I/O: start the next program whenever the subchannel is idle.
        if (Activity == SubchannelActivity.Idle)
            RequestStart((uint)Steps, transportMode: false);
        if (Steps % 7 == 0) QueueCrw(0x0044_0000u | DeviceNumber);
    }

    private int RequestStart(uint intparm, bool transportMode)
    {
        if (IsFrozen) { StartsRefused++; return -Errno.EIO; }
        Complete();
        if (Activity == SubchannelActivity.CpProcessing) return -Errno.EAGAIN;
        if (Activity == SubchannelActivity.CpPending) return -Errno.EBUSY;
        if (transportMode) return -Errno.EOPNOTSUPP;
        _programParm = intparm;
        ProgramsStarted++;
        Activity = SubchannelActivity.CpProcessing;
        _processingEnd = NowMicros + TranslateMicros;
        _programEnd = NextProgramHangs ? null : NowMicros + TranslateMicros + ProgramMicros;
        NextProgramHangs = false;
        return 0;
    }

    /// <summary>Moves the subchannel on to the current virtual time.</summary>
    private void Complete()
    {
        if (Activity == SubchannelActivity.CpProcessing && NowMicros >= _processingEnd)
            Activity = SubchannelActivity.CpPending;
        if (Activity != SubchannelActivity.Idle && _programEnd is { } end && NowMicros >= end)
            PostFinalInterrupt(halted: false);
    }

    private void PostFinalInterrupt(bool halted)
    {
        if (!halted)
        {
            // The program's effect: one block of storage written with data derived from its parameter.
            Span<byte> block = stackalloc byte[BlockSize];
            var r = new DeterministicRandom(_programParm);
            r.Fill(block);
            long blocks = (Memory.Size - PagedMemory.PageSize) / BlockSize;
            Memory.Write(_programParm % blocks * BlockSize, block);
        }
        Span<byte> scsw = _io.AsSpan(IrbOffset, 12);
        uint fctl = halted ? 2u : 4u;
        BinaryPrimitives.WriteUInt32BigEndian(scsw, (fctl << 12) | 0x07);     // status pending, primary, secondary
        BinaryPrimitives.WriteUInt32BigEndian(scsw[4..], _programParm);
        BinaryPrimitives.WriteUInt32BigEndian(scsw[8..], 0x0C00_0000u);        // channel end + device end
        scsw.CopyTo(_schib.AsSpan(28));
        BinaryPrimitives.WriteUInt32BigEndian(_schib, _programParm);
        ProgramsCompleted++;
        BinaryPrimitives.WriteUInt64BigEndian(_schib.AsSpan(40), ProgramsCompleted);
        IoInterrupts++;
        Activity = SubchannelActivity.Idle;
        _programEnd = null;
    }

    protected override byte[] CaptureExtraState()
    {
        var b = new byte[IoRegionSize + SchibSize + CmdRegionSize + 8 + 8 + 4 + 4 * _crws.Count];
        _io.CopyTo(b, 0);
        _schib.CopyTo(b, IoRegionSize);
        _cmd.CopyTo(b, IoRegionSize + SchibSize);
        int at = IoRegionSize + SchibSize + CmdRegionSize;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), ProgramsStarted);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at + 8), ProgramsCompleted);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at + 16), _crws.Count);
        for (int i = 0; i < _crws.Count; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at + 20 + 4 * i), _crws[i]);
        return b;
    }

    protected override bool TryLoadExtraState(ReadOnlySpan<byte> b)
    {
        int at = IoRegionSize + SchibSize + CmdRegionSize;
        if (b.Length < at + 20) return false;
        int count = BinaryPrimitives.ReadInt32LittleEndian(b[(at + 16)..]);
        if (count < 0 || count > MaxQueuedCrws || b.Length != at + 20 + 4 * count) return false;
        b[..IoRegionSize].CopyTo(_io);
        b.Slice(IoRegionSize, SchibSize).CopyTo(_schib);
        b.Slice(IoRegionSize + SchibSize, CmdRegionSize).CopyTo(_cmd);
        ProgramsStarted = BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
        ProgramsCompleted = BinaryPrimitives.ReadUInt64LittleEndian(b[(at + 8)..]);
        _crws.Clear();
        for (int i = 0; i < count; i++) _crws.Add(BinaryPrimitives.ReadUInt32LittleEndian(b[(at + 20 + 4 * i)..]));
        Activity = SubchannelActivity.Idle;
        _programEnd = null;
        return true;
    }
}
