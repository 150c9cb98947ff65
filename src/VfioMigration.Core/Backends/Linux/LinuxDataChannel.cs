using VfioMigration.Transport;

namespace VfioMigration.Backends.Linux;

/// <summary>A kernel migration data fd; closing it never changes the device's state.</summary>
internal sealed class LinuxDataChannel : IMigrationDataChannel
{
    private int _fd;

    public LinuxDataChannel(int fd) => _fd = fd;

    public int Fd => _fd;
    public int Read(Span<byte> buffer) => _fd < 0 ? -Protocol.Errno.EBADF : FileDescriptorIo.Read(_fd, buffer);
    public int Write(ReadOnlySpan<byte> buffer) => _fd < 0 ? -Protocol.Errno.EBADF : FileDescriptorIo.Write(_fd, buffer);
    public int Ioctl(uint request, Span<byte> argument) => _fd < 0 ? -Protocol.Errno.EBADF : FileDescriptorIo.Ioctl(_fd, request, argument);

    public void Dispose()
    {
        FileDescriptorIo.Close(_fd);
        _fd = -1;
    }
}
