using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VfioMigration.Images;

/// <summary>
/// The few file syscalls the image code needs beyond .NET's file API, each returning the errno it failed with:
/// open with O_NOFOLLOW / O_NONBLOCK / O_EXCL, statx (the one stat call whose struct layout is the same on every
/// architecture, include/uapi/linux/stat.h), pwrite, pwritev, fsync, sync_file_range, renameat2 (RENAME_NOREPLACE), link,
/// unlink, flock.
/// </summary>
internal static unsafe partial class PosixFile
{
    public const int AtFdCwd = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const int AtEmptyPath = 0x1000;
    public const uint RenameNoReplace = 1;
    public const int LockEx = 2, LockNb = 4, LockUn = 8;

    public const int ORdOnly = 0, OWrOnly = 1, ORdWr = 2, OCreat = 0x40, OExcl = 0x80, ONoCtty = 0x100, OAppend = 0x400, ONonBlock = 0x800, OCloExec = 0x80000;
    // O_DIRECTORY and O_NOFOLLOW differ between x86 and the arm family (asm-generic vs arch/arm64 fcntl.h).
    private static readonly bool ArmFlags = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;
    public static int ONoFollow => ArmFlags ? 0x8000 : 0x20000;
    public static int ODirectory => ArmFlags ? 0x4000 : 0x10000;

    public const int EINTR = 4, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENOSPC = 28, EROFS = 30, EWOULDBLOCK = 11,
        ENAMETOOLONG = 36, ELOOP = 40, EFBIG = 27, EDQUOT = 122, EXDEV = 18, ENXIO = 6, ENOENT = 2, EACCES = 13, EPERM = 1;

    /// <summary>The type bits of st_mode (S_IFMT).</summary>
    public enum FileType { Fifo = 0x1000, CharacterDevice = 0x2000, Directory = 0x4000, BlockDevice = 0x6000, Regular = 0x8000, Symlink = 0xA000, Socket = 0xC000 }

    public readonly record struct Status(FileType Type, int Mode, uint Uid, ulong Inode, ulong Size, uint DevMajor, uint DevMinor);

    public static string Describe(FileType type) => type switch
    {
        FileType.Fifo => "a FIFO (named pipe)",
        FileType.CharacterDevice => "a character device",
        FileType.BlockDevice => "a block device",
        FileType.Directory => "a directory",
        FileType.Symlink => "a symbolic link",
        FileType.Socket => "a socket",
        _ => "a regular file",
    };

    /// <summary>stat (or lstat with <paramref name="followLinks"/> false); 0 or an errno.</summary>
    public static int Stat(string path, bool followLinks, out Status status) => StatAt(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, out status);

    /// <summary>fstat of an open descriptor; 0 or an errno.</summary>
    public static int Fstat(int fd, out Status status) => StatAt(fd, "", AtEmptyPath, out status);

    private static int StatAt(int dirfd, string path, int flags, out Status status)
    {
        status = default;
        byte* buffer = stackalloc byte[256];
        // STATX_TYPE | STATX_MODE | STATX_UID | STATX_INO | STATX_SIZE
        if (Statx(dirfd, path, flags, 0x1 | 0x2 | 0x8 | 0x100 | 0x200, buffer) != 0) return Marshal.GetLastPInvokeError();
        var s = new ReadOnlySpan<byte>(buffer, 256);
        int mode = BinaryPrimitives.ReadUInt16LittleEndian(s[28..]);
        status = new Status((FileType)(mode & 0xF000), mode & 0xFFF, BinaryPrimitives.ReadUInt32LittleEndian(s[20..]),
            BinaryPrimitives.ReadUInt64LittleEndian(s[32..]), BinaryPrimitives.ReadUInt64LittleEndian(s[40..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[136..]), BinaryPrimitives.ReadUInt32LittleEndian(s[140..]));
        return 0;
    }

    /// <summary>open(2), retried on EINTR; the descriptor, or -errno.</summary>
    public static int Open(string path, int flags, int mode = 0)
    {
        while (true)
        {
            int fd = OpenNative(path, flags | OCloExec, mode);
            if (fd >= 0) return fd;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR) return -errno;
        }
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>; 0 or an errno.</summary>
    public static int WriteAll(int fd, ReadOnlySpan<byte> data, long offset) => WriteAll(fd, ReadOnlySpan<byte>.Empty, data, offset);

    /// <summary>
    /// Writes <paramref name="first"/> and then <paramref name="second"/> as one run of bytes at
    /// <paramref name="offset"/> (pwritev, so neither is copied to join them); 0 or an errno.
    /// </summary>
    public static int WriteAll(int fd, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, long offset)
    {
        fixed (byte* a = first, b = second)
        {
            long done = 0, total = (long)first.Length + second.Length;
            var iov = stackalloc IoVec[2];
            while (done < total)
            {
                nint n;
                if (done < first.Length) // something of the first part is left: both parts, from there
                {
                    iov[0] = new IoVec(a + done, first.Length - (int)done);
                    iov[1] = new IoVec(b, second.Length);
                    n = Pwritev(fd, iov, 2, offset + done);
                }
                else // only the second part, or what is left of it (also the whole of a one-part write)
                {
                    long from = done - first.Length;
                    n = Pwrite(fd, b + from, (nint)(second.Length - from), offset + done);
                }
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == EINTR) continue;
                    return errno;
                }
                if (n == 0) return ENOSPC;
                done += n;
            }
        }
        return 0;
    }

    /// <summary>struct iovec (include/uapi/linux/uio.h): a base address and a length in bytes.</summary>
    private readonly struct IoVec(byte* start, nint length)
    {
        public readonly byte* Base = start;
        public readonly nint Length = length;
    }

    public static int Sync(int fd) => Fsync(fd) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// sync_file_range(SYNC_FILE_RANGE_WRITE): starts writing a range to disk and returns without waiting, so the
    /// disk works while the caller goes on; the fsync at the end still makes it durable and reports any error.
    /// 0 or an errno (file systems that do not support it answer EINVAL or ESPIPE; callers ignore it).
    /// </summary>
    public static int StartWriteback(int fd, long offset, long length) =>
        SyncFileRange(fd, offset, length, 2 /* SYNC_FILE_RANGE_WRITE */) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>rename, or with <paramref name="noReplace"/> renameat2(RENAME_NOREPLACE); 0 or an errno.</summary>
    public static int Rename(string from, string to, bool noReplace) =>
        Renameat2(AtFdCwd, from, AtFdCwd, to, noReplace ? RenameNoReplace : 0) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static int HardLink(string from, string to) => Link(from, to) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static int Remove(string path) => Unlink(path) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static int Lock(int fd, int operation) => Flock(fd, operation) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static void CloseQuietly(int fd)
    {
        if (fd >= 0) _ = Close(fd);
    }

    public static int CloseChecked(int fd) => Close(fd) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static uint EffectiveUid => Geteuid();

    /// <summary>fsync of a directory, so that a rename in it survives a crash; 0 or an errno.</summary>
    public static int SyncDirectory(string dir)
    {
        int fd = Open(dir, ORdOnly | ODirectory);
        if (fd < 0) return -fd;
        int rc = Sync(fd);
        CloseQuietly(fd);
        return rc;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenNative(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static partial nint Pwrite(int fd, byte* buffer, nint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwritev", SetLastError = true)]
    private static partial nint Pwritev(int fd, IoVec* iov, int iovcnt, long offset);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long nbytes, uint flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string oldpath, string newpath);

    [LibraryImport("libc", EntryPoint = "unlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Unlink(string path);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint Geteuid();
}
