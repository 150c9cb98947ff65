using System.Runtime.InteropServices;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// The few libc calls the Linux transport needs, through LibraryImport. Each returns the raw result; on failure
/// the errno is in <see cref="Marshal.GetLastPInvokeError"/> (SetLastError = true).
/// </summary>
internal static unsafe partial class LibC
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    // glibc declares the request as unsigned long; the VFIO requests carry no size bits, so nint is exact.
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int IoctlValue(int fd, nuint request, nint value);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(int fd, void* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint Pwrite(int fd, void* buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nuint count);

    /// <summary>
    /// statx(2) (glibc 2.28+). Unlike <c>struct stat</c>, whose layout differs per architecture (st_rdev at 40 on
    /// x86_64, 32 on arm64 and riscv64) and whose <c>stat</c> symbol needs glibc 2.33, <c>struct statx</c> is one
    /// fixed layout on every architecture (include/uapi/linux/stat.h).
    /// </summary>
    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statx(int dirfd, string path, int flags, uint mask, void* statxBuffer);

    public const int AT_FDCWD = -100;
    public const uint STATX_TYPE = 0x1;

    /// <summary><c>struct statx</c>: 256 bytes; stx_mode (u16) at 28, stx_rdev_major and stx_rdev_minor (u32) at 128 and 132.</summary>
    public const int StatxSize = 256, StatxModeOffset = 28, StatxRdevMajorOffset = 128, StatxRdevMinorOffset = 132;

    public const int S_IFMT = 0xf000, S_IFCHR = 0x2000;

    /// <summary>A syscall result: the value, or -errno.</summary>
    public static int Result(nint rc) => rc >= 0 ? (int)rc : -Marshal.GetLastPInvokeError();
}
