namespace VfioMigration.Backends.Simulated;

/// <summary>
/// Device memory of any size from KiB to GiB, allocated on first write in 1 MiB slabs: an idle large device costs
/// little, and a full one is a few large arrays the garbage collector never copies (per-page arrays made a 1 GiB
/// restore spend most of its time promoting pages between generations). Every write reports the pages it
/// touched, which is what dirty tracking listens to.
/// </summary>
public sealed class PagedMemory
{
    public const int PageSize = 4096;
    private const int PagesPerSlab = 256;
    private const int SlabSize = PageSize * PagesPerSlab;
    private readonly byte[]?[] _slabs;

    public PagedMemory(long size)
    {
        if (size <= 0 || size % PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"memory size must be a positive multiple of {PageSize}");
        Size = size;
        PageCount = (int)(size / PageSize);
        _slabs = new byte[]?[(PageCount + PagesPerSlab - 1) / PagesPerSlab];
    }

    public long Size { get; }
    public int PageCount { get; }

    /// <summary>Bytes actually allocated for the device's memory.</summary>
    public long AllocatedBytes => _slabs.Count(s => s is not null) * (long)SlabSize;

    /// <summary>Raised with the page index of every page a write touched.</summary>
    public event Action<int>? PageWritten;

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        CheckRange(offset, data.Length);
        while (!data.IsEmpty)
        {
            int page = (int)(offset / PageSize), inPage = (int)(offset % PageSize);
            int n = Math.Min(PageSize - inPage, data.Length);
            data[..n].CopyTo(WritablePage(page)[inPage..]);
            PageWritten?.Invoke(page);
            data = data[n..];
            offset += n;
        }
    }

    public void Read(long offset, Span<byte> data)
    {
        CheckRange(offset, data.Length);
        while (!data.IsEmpty)
        {
            int page = (int)(offset / PageSize), inPage = (int)(offset % PageSize);
            int n = Math.Min(PageSize - inPage, data.Length);
            Page(page).Slice(inPage, n).CopyTo(data);
            data = data[n..];
            offset += n;
        }
    }

    /// <summary>A page's bytes (zeros for a page never written), without allocating it.</summary>
    public ReadOnlySpan<byte> Page(int index)
    {
        if ((uint)index >= (uint)PageCount) throw new ArgumentOutOfRangeException(nameof(index));
        var slab = _slabs[index / PagesPerSlab];
        return slab is null ? ZeroPage : slab.AsSpan(index % PagesPerSlab * PageSize, PageSize);
    }

    /// <summary>Replaces a whole page, as a restore does; does not count as device activity.</summary>
    public void LoadPage(int index, ReadOnlySpan<byte> data)
    {
        if (data.Length != PageSize) throw new ArgumentException($"a page is {PageSize} bytes", nameof(data));
        data.CopyTo(WritablePage(index));
    }

    public bool ContentEquals(PagedMemory other)
    {
        if (other.Size != Size) return false;
        for (int i = 0; i < PageCount; i++)
            if (!Page(i).SequenceEqual(other.Page(i))) return false;
        return true;
    }

    private Span<byte> WritablePage(int index)
    {
        if ((uint)index >= (uint)PageCount) throw new ArgumentOutOfRangeException(nameof(index));
        int slab = index / PagesPerSlab;
        int pagesInSlab = Math.Min(PagesPerSlab, PageCount - slab * PagesPerSlab);
        var bytes = _slabs[slab] ??= new byte[pagesInSlab * PageSize];
        return bytes.AsSpan(index % PagesPerSlab * PageSize, PageSize);
    }

    private void CheckRange(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside memory of {Size} bytes");
    }

    private static readonly byte[] ZeroPage = new byte[PageSize];
}
