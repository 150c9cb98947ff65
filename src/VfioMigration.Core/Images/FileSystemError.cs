using System.Runtime.InteropServices;

namespace VfioMigration.Images;

/// <summary>
/// A failed file-system call as a module error that names the file and the errno: ENOSPC and EDQUOT are
/// <c>DiskFull</c>, EACCES and EPERM <c>PermissionDenied</c>, the rest <c>ImageWriteFailed</c> or
/// <c>ImageReadFailed</c> (EFBIG, past RLIMIT_FSIZE, naming the limit: <see cref="FileSizeLimit"/>) with the kernel's own words (EROFS "Read-only file system", ENAMETOOLONG, ...).
/// </summary>
public static class FileSystemError
{
    public static VfioMigrationException From(int errno, string path, string doing, bool writing, Exception? inner = null)
    {
        string what = $"{path}: {doing} failed: {Marshal.GetPInvokeErrorMessage(errno)} ({Name(errno)}).";
        var failed = writing ? VfioErrors.ImageWriteFailed : VfioErrors.ImageReadFailed;
        return errno switch
        {
            PosixFile.ENOSPC or PosixFile.EDQUOT => new VfioMigrationException($"{what} The file system is full; free space or save elsewhere.", VfioErrors.DiskFull, null, inner),
            PosixFile.EFBIG => new VfioMigrationException($"{what} The image would be larger than this process may write (its file size limit, RLIMIT_FSIZE: ulimit -f); raise the limit or save to a file system that takes larger files.", failed, null, inner),
            PosixFile.EACCES or PosixFile.EPERM => new VfioMigrationException($"{what} Permission denied.", VfioErrors.PermissionDenied, null, inner),
            PosixFile.ENOENT when !writing => new VfioMigrationException($"{path} does not exist.", VfioErrors.ImageNotFound, null, inner),
            _ => new VfioMigrationException(what, failed, null, inner),
        };
    }

    /// <summary>A .NET I/O exception from a file operation (its HResult is the errno on Linux) as a module error.</summary>
    public static VfioMigrationException From(Exception e, string path, string doing, bool writing) => e switch
    {
        VfioMigrationException v => v,
        UnauthorizedAccessException => From(PosixFile.EACCES, path, doing, writing, e),
        IOException io when io.HResult is > 0 and < 4096 => From(io.HResult, path, doing, writing, e),
        _ => new VfioMigrationException($"{path}: {doing} failed: {e.Message}", writing ? VfioErrors.ImageWriteFailed : VfioErrors.ImageReadFailed, null, e),
    };

    public static string Name(int errno) => errno switch
    {
        PosixFile.ENOSPC => "ENOSPC",
        PosixFile.EDQUOT => "EDQUOT",
        PosixFile.EFBIG => "EFBIG",
        PosixFile.EACCES => "EACCES",
        PosixFile.EPERM => "EPERM",
        PosixFile.EROFS => "EROFS",
        PosixFile.ENAMETOOLONG => "ENAMETOOLONG",
        PosixFile.ENOENT => "ENOENT",
        PosixFile.ELOOP => "ELOOP",
        PosixFile.EEXIST => "EEXIST",
        PosixFile.ENOTDIR => "ENOTDIR",
        PosixFile.EISDIR => "EISDIR",
        PosixFile.EINVAL => "EINVAL",
        PosixFile.EXDEV => "EXDEV",
        PosixFile.EWOULDBLOCK => "EWOULDBLOCK",
        PosixFile.ENXIO => "ENXIO",
        5 => "EIO",
        _ => "errno " + errno,
    };
}
