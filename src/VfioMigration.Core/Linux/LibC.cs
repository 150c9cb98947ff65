using System.Runtime.InteropServices;

namespace VfioMigration.Linux;

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

    [LibraryImport("libc", EntryPoint = "stat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Stat(string path, void* statBuffer);

    /// <summary>x86_64 <c>struct stat</c>: 144 bytes, st_rdev at offset 40.</summary>
    public const int StatSize = 144, StatRdevOffset = 40;

    /// <summary>A syscall result: the value, or -errno.</summary>
    public static int Result(nint rc) => rc >= 0 ? (int)rc : -Marshal.GetLastPInvokeError();
}
