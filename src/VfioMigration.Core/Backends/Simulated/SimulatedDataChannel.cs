using VfioMigration.Protocol;
using VfioMigration.Transport;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// A simulated v2 data fd: read-only for a save session, write-only for a resume session, a stream file (no
/// positional I/O), close-on-exec. Once its session ends, I/O fails with ENODEV, as in mtty and xe.
/// </summary>
internal sealed class SimulatedDataChannel : IMigrationDataChannel
{
    private readonly SimulatedDevice _device;

    internal SimulatedDataChannel(SimulatedDevice device, int fd, SaveStreamProducer? producer, ResumeStreamConsumer? consumer)
    {
        _device = device;
        Fd = fd;
        Producer = producer;
        Consumer = consumer;
    }

    public int Fd { get; }
    public bool CloseOnExec => true;
    public bool IsSaving => Producer is not null;
    internal SaveStreamProducer? Producer { get; }
    internal ResumeStreamConsumer? Consumer { get; }
    internal bool SessionEnded { get; set; }
    public bool IsClosed { get; private set; }

    public int Read(Span<byte> buffer) => _device.ChannelRead(this, buffer);
    public int Write(ReadOnlySpan<byte> buffer) => _device.ChannelWrite(this, buffer);
    public int Ioctl(uint request, Span<byte> argument) => _device.ChannelIoctl(this, request, argument);

    /// <summary>pread/pwrite on a stream file.</summary>
    public int PositionalRead(long offset, Span<byte> buffer) => -Errno.ESPIPE;

    public void Dispose()
    {
        if (IsClosed) return;
        IsClosed = true;
        _device.ChannelClosed(this);
    }
}
