using VfioMigration.Backends.Simulated;

/// <summary>Fills a simulated device's memory before the clock starts, as a real device's exists already.</summary>
static class DeviceMemory
{
    public static void Fill(PagedMemory memory)
    {
        var r = new DeterministicRandom(42);
        var page = new byte[PagedMemory.PageSize];
        for (int i = 0; i < memory.PageCount; i++)
        {
            r.Fill(page.AsSpan(0, 64)); // distinct pages without spending the run on random numbers
            memory.LoadPage(i, page);
        }
    }
}
