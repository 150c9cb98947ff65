using Microsoft.Win32.SafeHandles;

namespace VfioMigration.Images;

/// <summary>
/// Image files are regular files. A path is checked before it is opened (a FIFO, device node, socket or
/// directory, or a link to one, is refused with <c>ImageNotRegularFile</c> / <c>ImagePathIsDirectory</c>), and it
/// is opened with O_NONBLOCK so that nothing swapped in between can block the open, then checked again on the
/// descriptor (fstat) before a byte is read.
/// </summary>
internal static class ImageFile
{
    /// <summary>
    /// The full path of an image file name, or <c>ImagePathInvalid</c>: empty, blank, a NUL byte, or a last
    /// component that is blank (a file named " " is never what was meant).
    /// </summary>
    public static string FullPath(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new VfioMigrationException($"'{path}' is not a file name: an image path must not be empty or blank.", VfioErrors.ImagePathInvalid);
        if (path.Contains('\0'))
            throw new VfioMigrationException($"'{path.Replace("\0", "\\0", StringComparison.Ordinal)}' is not a file name: it contains a NUL character.", VfioErrors.ImagePathInvalid);
        var full = Path.GetFullPath(path);
        var name = Path.GetFileName(full);
        if (name.Length > 0 && string.IsNullOrWhiteSpace(name))
            throw new VfioMigrationException($"'{path}' is not a file name: its name is blank.", VfioErrors.ImagePathInvalid);
        return full;
    }

    /// <summary>Refuses what is not a regular file (following links): errors name the path and what it is.</summary>
    internal static PosixFile.Status Check(string full)
    {
        int rc = PosixFile.Stat(full, followLinks: true, out var st);
        if (rc != 0) throw FileSystemError.From(rc, full, "reading the image", writing: false);
        Refuse(full, st.Type);
        return st;
    }

    internal static void Refuse(string full, PosixFile.FileType type)
    {
        if (type == PosixFile.FileType.Directory)
            throw new VfioMigrationException($"{full} is a directory, not an image file; name a file in it.", VfioErrors.ImagePathIsDirectory);
        if (type != PosixFile.FileType.Regular)
            throw new VfioMigrationException($"{full} is {PosixFile.Describe(type)}, not a regular file; images are regular files only.", VfioErrors.ImageNotRegularFile);
    }

    /// <summary>
    /// The read buffer of a file walked in large pieces (images, QEMU streams): a read at least this large goes from
    /// the file to the caller's memory directly, so a 1 MiB chunk is not copied through the stream's buffer (with a
    /// 1 MiB buffer every chunk was, 4 bytes off alignment).
    /// </summary>
    public const int ReadBufferSize = 64 << 10;

    /// <summary>Opens an image for reading: checked, opened without blocking, checked again on the descriptor.</summary>
    public static FileStream OpenRead(string path, int bufferSize = ReadBufferSize)
    {
        var full = FullPath(path);
        Check(full);
        int fd = PosixFile.Open(full, PosixFile.ORdOnly | PosixFile.ONonBlock | PosixFile.ONoCtty);
        if (fd < 0) throw FileSystemError.From(-fd, full, "opening the image", writing: false);
        int rc = PosixFile.Fstat(fd, out var st);
        if (rc != 0 || st.Type != PosixFile.FileType.Regular)
        {
            PosixFile.CloseQuietly(fd);
            if (rc != 0) throw FileSystemError.From(rc, full, "reading the image", writing: false);
            Refuse(full, st.Type);
        }
        return new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, bufferSize);
    }
}
