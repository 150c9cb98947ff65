using System.Runtime.InteropServices;

namespace VfioMigration.Images;

/// <summary>
/// A file that appears whole or not at all: written to a temporary file (mode 0600) in the target's directory,
/// fsynced, renamed over the target, and the directory fsynced. Disposed without <see cref="Commit"/>, the
/// temporary file is removed and an existing target is untouched.
/// </summary>
public sealed partial class AtomicFile : IDisposable
{
    private readonly bool _overwrite;
    private FileStream? _stream;
    private bool _committed;

    private AtomicFile(string path, bool overwrite)
    {
        Path = System.IO.Path.GetFullPath(path);
        _overwrite = overwrite;
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        TempPath = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(Path)}.{Guid.NewGuid():N}.partial");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 20 };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        _stream = new FileStream(TempPath, options);
    }

    public string Path { get; }
    public string TempPath { get; }
    public Stream Stream => _wrapped ??= WrapForTests.Value is { } wrap ? wrap(_stream ?? throw new ObjectDisposedException(nameof(AtomicFile))) : _stream ?? throw new ObjectDisposedException(nameof(AtomicFile));

    /// <summary>Tests wrap the file stream to simulate a full disk (per async flow, so parallel tests do not see it).</summary>
    internal static readonly AsyncLocal<Func<Stream, Stream>?> WrapForTests = new();
    private Stream? _wrapped;

    /// <summary>Checks the target can be written before any work starts, then opens the temporary file.</summary>
    public static AtomicFile Create(string path, bool overwrite)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full);
        if (dir is null || !Directory.Exists(dir))
            throw new VfioMigrationException($"{full}: the directory {dir} does not exist.", "ImageDirectoryNotFound", null);
        if (Directory.Exists(full))
            throw new VfioMigrationException($"{full} is a directory; name a file.", "ImagePathIsDirectory", null);
        if (File.Exists(full) && !overwrite)
            throw new VfioMigrationException($"{full} already exists; use -Force to replace it.", "ImageExists", null);
        try
        {
            return new AtomicFile(full, overwrite);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new VfioMigrationException($"{full}: cannot write in {dir}: {e.Message}", "PermissionDenied", null, e);
        }
    }

    public void Commit()
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(AtomicFile));
        _wrapped?.Flush();
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        _wrapped = null;
        File.Move(TempPath, Path, _overwrite);
        _committed = true;
        SyncDirectory(System.IO.Path.GetDirectoryName(Path)!);
    }

    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
        if (!_committed && File.Exists(TempPath)) File.Delete(TempPath);
    }

    /// <summary>Makes the rename durable: fsync of the directory (Linux; elsewhere a no-op).</summary>
    private static void SyncDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = Open(dir, 0 /* O_RDONLY */);
        if (fd < 0) return;
        _ = Fsync(fd);
        _ = Close(fd);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
