using System.Buffers.Binary;
using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// v2 device DMA logging (features 6–8, docs/protocol.md §3.10): logs the device's writes to guest memory by IOVA.
/// As in the kernel, the range array and the report bitmap are user pointers in the payload.
/// </summary>
internal sealed unsafe class DmaLoggingTracker
{
    private const int MaxRanges = 4096 / 16;
    private const long TrackPage = 4096;
    private readonly HashSet<long> _dirtyPages = new();
    private List<(ulong Iova, ulong Length)>? _ranges;

    public DmaLoggingTracker(GuestMemory guest) => guest.DmaWritten += OnDmaWrite;

    public bool Started => _ranges is not null;

    public int Start(ReadOnlySpan<byte> control)
    {
        ulong pageSize = BinaryPrimitives.ReadUInt64LittleEndian(control);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(control[8..]);
        ulong ptr = BinaryPrimitives.ReadUInt64LittleEndian(control[16..]);
        if (_ranges is not null) return -Errno.EBUSY;
        if (count == 0 || pageSize == 0 || (pageSize & (pageSize - 1)) != 0) return -Errno.EINVAL;
        if (count > MaxRanges) return -Errno.E2BIG;
        if (ptr == 0) return -Errno.EFAULT;
        var raw = new ReadOnlySpan<byte>((void*)ptr, (int)count * 16);
        var ranges = new List<(ulong, ulong)>();
        for (int i = 0; i < count; i++)
        {
            ulong iova = BinaryPrimitives.ReadUInt64LittleEndian(raw[(i * 16)..]);
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(raw[(i * 16 + 8)..]);
            if (length == 0 || iova % pageSize != 0 || length % pageSize != 0) return -Errno.EINVAL;
            if (iova + length < iova) return -Errno.EOVERFLOW;
            ranges.Add((iova, length));
        }
        ranges.Sort();
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i - 1].Item1 + ranges[i - 1].Item2 > ranges[i].Item1) return -Errno.EINVAL;
        _ranges = ranges;
        _dirtyPages.Clear();
        return 0;
    }

    public int Stop()
    {
        _ranges = null;
        _dirtyPages.Clear();
        return 0;
    }

    public int Report(ReadOnlySpan<byte> report)
    {
        ulong iova = BinaryPrimitives.ReadUInt64LittleEndian(report);
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(report[8..]);
        ulong pageSize = BinaryPrimitives.ReadUInt64LittleEndian(report[16..]);
        ulong ptr = BinaryPrimitives.ReadUInt64LittleEndian(report[24..]);
        if (pageSize < 4096 || (pageSize & (pageSize - 1)) != 0) return -Errno.EINVAL;
        if (_ranges is null) return -Errno.EINVAL;
        if (length == 0 || iova % pageSize != 0 || !_ranges.Any(r => iova >= r.Iova && iova + length <= r.Iova + r.Length))
            return -Errno.EINVAL;
        if (ptr == 0) return -Errno.EFAULT;
        ulong pages = (length + pageSize - 1) / pageSize;
        var bitmap = new Span<ulong>((void*)ptr, (int)((pages + 63) / 64));
        for (ulong p = 0; p < pages; p++)
        {
            bool dirty = false;
            for (ulong a = iova + p * pageSize; a < iova + (p + 1) * pageSize; a += TrackPage)
                dirty |= _dirtyPages.Remove((long)a);
            if (dirty) bitmap[(int)(p / 64)] |= 1UL << (int)(p % 64); // only ever sets bits
        }
        return 0;
    }

    private void OnDmaWrite(long iova, int length)
    {
        if (_ranges is null) return;
        for (long a = iova / TrackPage * TrackPage; a < iova + length; a += TrackPage)
            if (_ranges.Any(r => (ulong)a >= r.Iova && (ulong)a < r.Iova + r.Length)) _dirtyPages.Add(a);
    }
}
