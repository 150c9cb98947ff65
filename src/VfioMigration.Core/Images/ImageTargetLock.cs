namespace VfioMigration.Images;

/// <summary>
/// One save per image path at a time, across processes: an exclusive, non-blocking flock on
/// <c>.&lt;name&gt;.lock</c> next to the target (a long name shortened, <see cref="SideFileName"/>), held from before the temporary file is created until the image is
/// renamed into place or given up. A second saver gets <c>ImageBusy</c> before it touches its device. The lock
/// file is removed by its holder; a taker that finds it was removed between open and flock tries again.
/// </summary>
internal sealed class ImageTargetLock : IDisposable
{
    private readonly string _path;
    private int _fd;

    private ImageTargetLock(string path, int fd)
    {
        _path = path;
        _fd = fd;
    }

    public static ImageTargetLock Acquire(string target)
    {
        var dir = Path.GetDirectoryName(target)!;
        var lockPath = Path.Combine(dir, LockName(Path.GetFileName(target)));
        for (int attempt = 0; attempt < 16; attempt++)
        {
            int fd = OpenOurs(target, lockPath);
            if (fd == -PosixFile.ENOENT) continue; // removed by its holder between our look and our open
            if (fd < 0) throw FileSystemError.From(-fd, target, $"creating the lock file {lockPath}", writing: true);
            int rc = PosixFile.Lock(fd, PosixFile.LockEx | PosixFile.LockNb);
            if (rc != 0)
            {
                PosixFile.CloseQuietly(fd);
                if (rc == PosixFile.EWOULDBLOCK)
                    throw new VfioMigrationException($"{target}: another save to this file is in progress (it holds {lockPath}); wait for it or save elsewhere.", VfioErrors.ImageBusy);
                throw FileSystemError.From(rc, target, $"locking {lockPath}", writing: true);
            }
            // The previous holder may have removed the file between our open and our flock: then ours is stale.
            if (PosixFile.Fstat(fd, out var mine) == 0 && IsNamed(lockPath, mine))
                return new ImageTargetLock(lockPath, fd);
            PosixFile.CloseQuietly(fd);
        }
        throw new VfioMigrationException($"{target}: could not take {lockPath}: it keeps being replaced.", VfioErrors.ImageBusy);
    }

    /// <summary>
    /// Creates the lock file, or opens one left by a save of this user (a crash leaves it: it is only a name to
    /// flock). Anything else by that name (a FIFO, a device node, another user's file) is refused before it is
    /// opened (opening a FIFO or a device can act on it) and checked again once open; it is never used, so never
    /// removed. Returns the fd, or a negative errno.
    /// </summary>
    private static int OpenOurs(string target, string lockPath)
    {
        int fd = PosixFile.Open(lockPath, PosixFile.ORdWr | PosixFile.OCreat | PosixFile.OExcl | PosixFile.ONoFollow | PosixFile.OCloExec, 0x180 /* 0600 */);
        if (fd != -PosixFile.EEXIST) return fd;
        int rc = PosixFile.Stat(lockPath, followLinks: false, out var named);
        if (rc != 0) return -rc;
        RefuseForeign(target, lockPath, named);
        fd = PosixFile.Open(lockPath, PosixFile.ORdWr | PosixFile.ONoFollow | PosixFile.ONonBlock | PosixFile.OCloExec);
        if (fd < 0) return fd;
        if (PosixFile.Fstat(fd, out var opened) != 0 || opened.Type != PosixFile.FileType.Regular || opened.Uid != PosixFile.EffectiveUid)
        {
            PosixFile.CloseQuietly(fd);
            RefuseForeign(target, lockPath, opened);
            throw new VfioMigrationException($"{target}: {lockPath} changed while it was opened; save again.", VfioErrors.ImageBusy);
        }
        return fd;
    }

    private static void RefuseForeign(string target, string lockPath, PosixFile.Status found)
    {
        if (found.Type != PosixFile.FileType.Regular)
            throw new VfioMigrationException($"{target}: {lockPath} is {PosixFile.Describe(found.Type)}, not a lock file of a save; it was left as it is. Remove it if nothing uses it, or save under another name.", VfioErrors.ImageLockUnsafe);
        if (found.Uid != PosixFile.EffectiveUid)
            throw new VfioMigrationException($"{target}: {lockPath} belongs to uid {found.Uid}, not to this user (uid {PosixFile.EffectiveUid}), so it is not a lock file of a save of ours; it was left as it is. Remove it if nothing uses it, or save under another name.", VfioErrors.ImageLockUnsafe);
    }

    private static bool IsNamed(string path, PosixFile.Status file) =>
        PosixFile.Stat(path, followLinks: false, out var named) == 0
        && file.Inode == named.Inode && file.DevMajor == named.DevMajor && file.DevMinor == named.DevMinor;

    /// <summary>The lock file's name for an image named <paramref name="name"/>, within NAME_MAX (<see cref="SideFileName"/>).</summary>
    internal static string LockName(string name) => $".{SideFileName.Stem(name, ".lock".Length)}.lock";

    /// <summary>
    /// Removes the lock file, then lets go of the lock (in that order, see <see cref="Acquire"/>); a file that
    /// replaced ours under its name is not ours to remove. Never throws.
    /// </summary>
    public void Dispose()
    {
        if (_fd < 0) return;
        if (PosixFile.Fstat(_fd, out var mine) == 0 && IsNamed(_path, mine)) _ = PosixFile.Remove(_path);
        PosixFile.CloseQuietly(_fd);
        _fd = -1;
    }
}
