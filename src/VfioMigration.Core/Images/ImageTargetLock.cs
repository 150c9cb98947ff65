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
            int fd = PosixFile.Open(lockPath, PosixFile.ORdWr | PosixFile.OCreat | PosixFile.ONoFollow, 0x180 /* 0600 */);
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
            if (PosixFile.Fstat(fd, out var mine) == 0 && PosixFile.Stat(lockPath, followLinks: false, out var named) == 0
                && mine.Inode == named.Inode && mine.DevMajor == named.DevMajor && mine.DevMinor == named.DevMinor)
                return new ImageTargetLock(lockPath, fd);
            PosixFile.CloseQuietly(fd);
        }
        throw new VfioMigrationException($"{target}: could not take {lockPath}: it keeps being replaced.", VfioErrors.ImageBusy);
    }

    /// <summary>The lock file's name for an image named <paramref name="name"/>, within NAME_MAX (<see cref="SideFileName"/>).</summary>
    internal static string LockName(string name) => $".{SideFileName.Stem(name, ".lock".Length)}.lock";

    /// <summary>Removes the lock file, then lets go of the lock (in that order, see <see cref="Acquire"/>). Never throws.</summary>
    public void Dispose()
    {
        if (_fd < 0) return;
        _ = PosixFile.Remove(_path);
        PosixFile.CloseQuietly(_fd);
        _fd = -1;
    }
}
