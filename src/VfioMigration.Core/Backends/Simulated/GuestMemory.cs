namespace VfioMigration.Backends.Simulated;

/// <summary>
/// The simulated VM's memory that devices DMA into, addressed by IOVA. Device DMA logging (v2 features 6–8)
/// watches it; migration of guest memory itself is the VMM's business, not the device's.
/// </summary>
public sealed class GuestMemory
{
    public GuestMemory(long size) => Memory = new PagedMemory(size);

    public PagedMemory Memory { get; }
    public long Size => Memory.Size;
    public long DmaWrites { get; private set; }

    public event Action<long, int>? DmaWritten;

    public void DmaWrite(long iova, ReadOnlySpan<byte> data)
    {
        Memory.Write(iova, data);
        DmaWrites++;
        DmaWritten?.Invoke(iova, data.Length);
    }
}
