namespace VfioMigration.Linux;

/// <summary>
/// The syscall layer under the Linux transport: ioctl, pread/pwrite, read/write on a file descriptor, each
/// answering a byte count or -errno. Kept apart so it can be checked against files, pipes and sparse files where
/// no kernel device can exercise it.
/// </summary>
public static unsafe class FileDescriptorIo
{
    public static int Ioctl(int fd, uint request, Span<byte> argument)
    {
        fixed (byte* p = argument) return LibC.Result(LibC.Ioctl(fd, request, p));
    }

    public static int IoctlValue(int fd, uint request, nint value) => LibC.Result(LibC.IoctlValue(fd, request, value));

    public static int PositionalRead(int fd, long offset, Span<byte> buffer)
    {
        fixed (byte* p = buffer) return LibC.Result(LibC.Pread(fd, p, (nuint)buffer.Length, offset));
    }

    public static int PositionalWrite(int fd, long offset, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer) return LibC.Result(LibC.Pwrite(fd, p, (nuint)buffer.Length, offset));
    }

    public static int Read(int fd, Span<byte> buffer)
    {
        fixed (byte* p = buffer) return LibC.Result(LibC.Read(fd, p, (nuint)buffer.Length));
    }

    public static int Write(int fd, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* p = buffer) return LibC.Result(LibC.Write(fd, p, (nuint)buffer.Length));
    }

    /// <summary>open(2); returns the fd or -errno.</summary>
    public static int Open(string path, int flags) => LibC.Result(LibC.Open(path, flags | LibC.O_CLOEXEC));

    public static void Close(int fd)
    {
        if (fd >= 0) _ = LibC.Close(fd);
    }

    /// <summary>The device number (major, minor) of a device node, or null.</summary>
    public static (uint Major, uint Minor)? DeviceNumber(string path)
    {
        Span<byte> st = stackalloc byte[LibC.StatSize];
        fixed (byte* p = st)
        {
            if (LibC.Stat(path, p) != 0) return null;
        }
        ulong rdev = BitConverter.ToUInt64(st[LibC.StatRdevOffset..]);
        uint major = (uint)(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffUL));
        uint minor = (uint)((rdev & 0xff) | ((rdev >> 12) & ~0xffUL));
        return (major, minor);
    }
}
