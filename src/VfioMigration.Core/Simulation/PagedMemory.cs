namespace VfioMigration.Simulation;

/// <summary>
/// Device memory of any size from KiB to GiB, allocated a page at a time on first write so a large idle device
/// costs little. Every write reports the pages it touched, which is what dirty tracking listens to.
/// </summary>
public sealed class PagedMemory
{
    public const int PageSize = 4096;
    private readonly byte[]?[] _pages;

    public PagedMemory(long size)
    {
        if (size <= 0 || size % PageSize != 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"memory size must be a positive multiple of {PageSize}");
        Size = size;
        _pages = new byte[]?[size / PageSize];
    }

    public long Size { get; }
    public int PageCount => _pages.Length;

    /// <summary>Raised with the page index of every page a write touched.</summary>
    public event Action<int>? PageWritten;

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        CheckRange(offset, data.Length);
        while (!data.IsEmpty)
        {
            int page = (int)(offset / PageSize), inPage = (int)(offset % PageSize);
            int n = Math.Min(PageSize - inPage, data.Length);
            data[..n].CopyTo((_pages[page] ??= new byte[PageSize]).AsSpan(inPage));
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
            if (_pages[page] is { } p) p.AsSpan(inPage, n).CopyTo(data);
            else data[..n].Clear();
            data = data[n..];
            offset += n;
        }
    }

    /// <summary>A page's bytes (zeros for a page never written), without allocating it.</summary>
    public ReadOnlySpan<byte> Page(int index) => _pages[index] ?? ZeroPage;

    /// <summary>Replaces a whole page, as a restore does; does not count as device activity.</summary>
    public void LoadPage(int index, ReadOnlySpan<byte> data)
    {
        if (data.Length != PageSize) throw new ArgumentException($"a page is {PageSize} bytes", nameof(data));
        data.CopyTo(_pages[index] ??= new byte[PageSize]);
    }

    public bool ContentEquals(PagedMemory other)
    {
        if (other.Size != Size) return false;
        for (int i = 0; i < _pages.Length; i++)
            if (!Page(i).SequenceEqual(other.Page(i))) return false;
        return true;
    }

    private void CheckRange(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + length}) is outside memory of {Size} bytes");
    }

    private static readonly byte[] ZeroPage = new byte[PageSize];
}
