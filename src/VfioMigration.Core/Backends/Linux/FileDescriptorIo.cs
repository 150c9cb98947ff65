using System.Runtime.InteropServices;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// The syscall layer under the Linux transport: ioctl, pread/pwrite, read/write on a file descriptor, each
/// answering a byte count or -errno. Kept apart so it can be checked against files, pipes and sparse files where
/// no kernel device can exercise it.
/// </summary>
internal static unsafe class FileDescriptorIo
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

    /// <summary>The device number (major, minor) of a character device node; null when it is missing or not one.</summary>
    public static (uint Major, uint Minor)? DeviceNumber(string path)
    {
        Span<byte> st = stackalloc byte[LibC.StatxSize];
        st.Clear();
        fixed (byte* p = st)
        {
            if (LibC.Statx(LibC.AT_FDCWD, path, 0, LibC.STATX_TYPE, p) != 0) return null;
        }
        return CharDeviceNumber(st);
    }

    /// <summary>A <c>struct statx</c>'s rdev (native byte order), if it describes a character device.</summary>
    public static (uint Major, uint Minor)? CharDeviceNumber(ReadOnlySpan<byte> statx)
    {
        int mode = MemoryMarshal.Read<ushort>(statx[LibC.StatxModeOffset..]);
        if ((mode & LibC.S_IFMT) != LibC.S_IFCHR) return null;
        return (MemoryMarshal.Read<uint>(statx[LibC.StatxRdevMajorOffset..]), MemoryMarshal.Read<uint>(statx[LibC.StatxRdevMinorOffset..]));
    }
}
