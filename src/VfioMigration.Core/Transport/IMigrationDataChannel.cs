namespace VfioMigration.Transport;

/// <summary>
/// A v2 migration data fd: a stream file, read-only while saving and write-only while resuming. Calls return the
/// syscall's answer: a byte count, or a negated errno.
/// </summary>
public interface IMigrationDataChannel : IDisposable
{
    int Fd { get; }

    /// <summary>read(); 0 is end of stream in STOP_COPY and "nothing now" in PRE_COPY (as is -ENOMSG).</summary>
    int Read(Span<byte> buffer);

    /// <summary>write().</summary>
    int Write(ReadOnlySpan<byte> buffer);

    /// <summary>ioctl on the data fd; VFIO_MIG_GET_PRECOPY_INFO is the only one defined.</summary>
    int Ioctl(uint request, Span<byte> argument);
}
