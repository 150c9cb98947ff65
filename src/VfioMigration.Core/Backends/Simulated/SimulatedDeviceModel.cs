using System.Buffers.Binary;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// The device behind the uAPI: registers, device memory and a seeded workload that, while the device may run,
/// changes registers and memory, DMA-writes guest memory and writes peer-to-peer into a linked device. Its state
/// (registers, memory, workload position) is what a save stream must carry for the restored copy to be identical.
/// </summary>
public abstract class SimulatedDeviceModel
{
    public const int RegisterCount = 64;
    private const int DmaWriteSize = 64;
    private const int PeerWindowSlots = 64;

    private readonly Queue<PendingWrite> _inFlight = new();
    private readonly uint[] _registers = new uint[RegisterCount];

    protected SimulatedDeviceModel(SimulatedDeviceKind kind, long memorySize, ulong seed, GuestMemory guest)
    {
        Kind = kind;
        Memory = new PagedMemory(memorySize);
        if (memorySize < 4 * PagedMemory.PageSize)
            throw new ArgumentOutOfRangeException(nameof(memorySize), memorySize, "device memory must be at least 16 KiB");
        Random = new DeterministicRandom(seed);
        Guest = guest;
    }

    public SimulatedDeviceKind Kind { get; }
    /// <summary>What a stream's header must name for this device to accept it (vendor:device, or ccw CU type).</summary>
    public abstract uint Identity { get; }
    public PagedMemory Memory { get; }
    public GuestMemory Guest { get; }
    protected DeterministicRandom Random { get; }
    public RunLevel RunLevel { get; private set; } = RunLevel.Running;

    /// <summary>The device this one writes peer-to-peer into, through its BAR.</summary>
    public SimulatedDeviceModel? Peer { get; set; }

    public ReadOnlySpan<uint> Registers => _registers;
    public ulong Steps { get; private set; }
    public ulong PeerWritesSent { get; private set; }
    /// <summary>DMA writes into guest memory the device has started.</summary>
    public ulong GuestWritesSent { get; private set; }
    public ulong PeerWritesReceived { get; private set; }
    /// <summary>Peer-to-peer writes that arrived while this device was frozen: the multi-device hazard, counted.</summary>
    public ulong PeerWritesLost { get; private set; }
    public int InFlightWrites => _inFlight.Count;

    public bool IsFrozen => RunLevel == RunLevel.Stopped;

    /// <summary>One unit of device activity; does nothing while the device is stopped.</summary>
    public void Step()
    {
        if (IsFrozen) { OnIdleTick(); return; }
        DeliverInFlight();
        Steps++;
        _registers[0] = (uint)Steps;
        _registers[1 + (int)(Steps % 15)] = (uint)Random.Next();
        Span<byte> chunk = stackalloc byte[DmaWriteSize];
        Random.Fill(chunk);
        long workArea = Memory.Size - PagedMemory.PageSize; // last page is the peer-to-peer window
        Memory.Write(Random.NextInt((int)(workArea / DmaWriteSize)) * (long)DmaWriteSize, chunk);
        if (RunLevel is RunLevel.Running or RunLevel.NoPeerToPeer)
        {
            long iova = Random.NextInt((int)(Guest.Size / DmaWriteSize)) * (long)DmaWriteSize;
            GuestWritesSent++;
            _inFlight.Enqueue(new PendingWrite(null, iova, chunk.ToArray()));
        }
        if (RunLevel == RunLevel.Running && Peer is not null)
        {
            PeerWritesSent++;
            _registers[16] = (uint)PeerWritesSent;
            _inFlight.Enqueue(new PendingWrite(Peer, 0, chunk.ToArray()));
        }
        OnStep();
    }

    /// <summary>
    /// Changes what the device may do. Moving to a more restricted level first completes every write in flight,
    /// as NDMA and the P2P states require before the transition returns. Returns 0 or a negated errno.
    /// </summary>
    public virtual int SetRunLevel(RunLevel level)
    {
        if (level > RunLevel) DeliverInFlight();
        RunLevel = level;
        return 0;
    }

    /// <summary>VFIO_DEVICE_RESET of the device function: registers back to power-on, writes in flight dropped.</summary>
    public virtual void ResetFunction()
    {
        Array.Clear(_registers);
        _inFlight.Clear();
        RunLevel = RunLevel.Running;
    }

    /// <summary>Registers, counters and workload position; device memory travels separately, page by page.</summary>
    public byte[] CaptureState()
    {
        var extra = CaptureExtraState();
        var b = new byte[RegisterCount * 4 + 8 * 4 + 4 + extra.Length];
        for (int i = 0; i < RegisterCount; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i * 4), _registers[i]);
        int at = RegisterCount * 4;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at), Random.State);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at + 8), Steps);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at + 16), PeerWritesSent);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at + 24), PeerWritesReceived);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at + 32), extra.Length);
        extra.CopyTo(b.AsSpan(at + 36));
        return b;
    }

    /// <summary>Loads what <see cref="CaptureState"/> produced; false if the blob is malformed.</summary>
    public bool TryLoadState(ReadOnlySpan<byte> b)
    {
        const int fixedSize = RegisterCount * 4 + 36;
        if (b.Length < fixedSize) return false;
        int extraLength = BinaryPrimitives.ReadInt32LittleEndian(b[(fixedSize - 4)..]);
        if (extraLength < 0 || fixedSize + extraLength != b.Length) return false;
        if (!TryLoadExtraState(b[fixedSize..])) return false;
        for (int i = 0; i < RegisterCount; i++) _registers[i] = BinaryPrimitives.ReadUInt32LittleEndian(b[(i * 4)..]);
        int at = RegisterCount * 4;
        Random.State = BinaryPrimitives.ReadUInt64LittleEndian(b[at..]);
        Steps = BinaryPrimitives.ReadUInt64LittleEndian(b[(at + 8)..]);
        PeerWritesSent = BinaryPrimitives.ReadUInt64LittleEndian(b[(at + 16)..]);
        PeerWritesReceived = BinaryPrimitives.ReadUInt64LittleEndian(b[(at + 24)..]);
        _inFlight.Clear();
        return true;
    }

    /// <summary>A register write through BAR0 (or the equivalent); the guest driver's view of the device.</summary>
    public void WriteRegister(int index, uint value) => _registers[index] = value;

    protected virtual void OnStep() { }
    protected virtual void OnIdleTick() { }
    protected virtual byte[] CaptureExtraState() => Array.Empty<byte>();
    protected virtual bool TryLoadExtraState(ReadOnlySpan<byte> extra) => extra.IsEmpty;

    private void DeliverInFlight()
    {
        while (_inFlight.TryDequeue(out var w))
        {
            if (w.Target is null) Guest.DmaWrite(w.Iova, w.Data);
            else w.Target.ReceivePeerWrite(w.Data);
        }
    }

    private void ReceivePeerWrite(ReadOnlySpan<byte> data)
    {
        if (IsFrozen) { PeerWritesLost++; return; }
        long window = Memory.Size - PagedMemory.PageSize;
        Memory.Write(window + (long)(PeerWritesReceived % PeerWindowSlots) * DmaWriteSize, data);
        PeerWritesReceived++;
        _registers[17] = (uint)PeerWritesReceived;
    }

    private sealed record PendingWrite(SimulatedDeviceModel? Target, long Iova, byte[] Data);
}
