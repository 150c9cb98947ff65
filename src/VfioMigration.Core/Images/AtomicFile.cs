using System.Text.RegularExpressions;

namespace VfioMigration.Images;

/// <summary>
/// A file that appears whole or not at all: written to a temporary file <c>.&lt;name&gt;.&lt;32 hex&gt;.partial</c>
/// (a long name shortened so that it fits NAME_MAX, <see cref="SideFileName"/>)
/// (mode 0600, O_EXCL | O_NOFOLLOW) in the target's directory, fsynced, renamed over the target (without
/// <c>overwrite</c>: renameat2 RENAME_NOREPLACE, so a file that appeared meanwhile is never replaced),
/// and the directory fsynced. Only a regular file is ever replaced. While it is open the target's
/// <see cref="ImageTargetLock"/> is held, which also makes it safe to remove temporary files an earlier save of ours
/// left (SIGKILL, power loss). Every failure is a <see cref="VfioMigrationException"/> naming the target
/// (<see cref="FileSystemError"/>); disposed without <see cref="Commit"/>, the temporary file is removed and an
/// existing target is untouched, and disposing never throws.
/// </summary>
internal sealed class AtomicFile : IDisposable
{
    private const int BufferSize = 1 << 20;
    /// <summary>Writes at least this long (a chunk of device data) go from the caller's memory rather than gathered; smaller ones (QEMU's 80 KiB copies) are gathered into 1 MiB.</summary>
    private const int DirectWrite = 256 << 10;
    /// <summary>Every write but the last starts and ends on a page boundary, so no page is written back twice.</summary>
    private const int PageSize = 4096;
    private readonly bool _overwrite;
    private readonly ImageTargetLock _lock;
    private readonly SinkStream _sink;
    private int _fd;
    private bool _prepared;
    private bool _committed;
    private bool _disposed;

    private AtomicFile(string path, bool overwrite, ImageTargetLock targetLock, int fd, string tempPath, int staleRemoved)
    {
        Path = path;
        _overwrite = overwrite;
        _lock = targetLock;
        _fd = fd;
        TempPath = tempPath;
        StaleRemoved = staleRemoved;
        _sink = new SinkStream(this);
    }

    public string Path { get; }
    public string TempPath { get; }
    /// <summary>Temporary files of earlier, interrupted saves to this target that were removed.</summary>
    public int StaleRemoved { get; }
    public Stream Stream => _wrapped ??= WrapForTests.Value is { } wrap ? wrap(_sink) : _sink;

    /// <summary>Tests wrap the file stream to simulate a full disk (per async flow, so parallel tests do not see it).</summary>
    internal static readonly AsyncLocal<Func<Stream, Stream>?> WrapForTests = new();
    /// <summary>Tests see each write to the file: its offset and length in bytes.</summary>
    internal static readonly AsyncLocal<Action<long, long>?> WroteForTests = new();
    /// <summary>Tests fail a step ("write", "fsync", "close", "rename") with the errno this returns (0: no fault).</summary>
    internal static readonly AsyncLocal<Func<string, int>?> FailForTests = new();
    private Stream? _wrapped;

    /// <summary>Checks the target before any work starts, takes its lock, removes our stale temporary files, opens the temporary file.</summary>
    public static AtomicFile Create(string path, bool overwrite)
    {
        var full = ImageFile.FullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full);
        var name = System.IO.Path.GetFileName(full);
        if (dir is null || name.Length == 0)
            throw new VfioMigrationException($"{full} is a directory; name a file.", VfioErrors.ImagePathIsDirectory);
        int rc = PosixFile.Stat(dir, followLinks: true, out var d);
        if (rc == PosixFile.ENOENT || rc == 0 && d.Type != PosixFile.FileType.Directory)
            throw new VfioMigrationException($"{full}: the directory {dir} does not exist.", VfioErrors.ImageDirectoryNotFound);
        if (rc != 0) throw FileSystemError.From(rc, full, $"looking at the directory {dir}", writing: true);
        CheckTarget(full, overwrite);
        FileSizeLimit.HandleSignal();
        var targetLock = ImageTargetLock.Acquire(full);
        try
        {
            int stale = RemoveStale(dir, name);
            var temp = System.IO.Path.Combine(dir, $".{TempStem(name)}.{Guid.NewGuid():N}.partial");
            int fd = PosixFile.Open(temp, PosixFile.OWrOnly | PosixFile.OCreat | PosixFile.OExcl | PosixFile.ONoFollow, 0x180 /* 0600 */);
            if (fd < 0) throw FileSystemError.From(-fd, full, "creating the temporary file", writing: true);
            return new AtomicFile(full, overwrite, targetLock, fd, temp, stale);
        }
        catch
        {
            targetLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// What may be at the target: nothing, or a regular file (replaced only with <c>overwrite</c>).
    /// A device node, FIFO, socket or directory, or a link to one, is refused even with it.
    /// </summary>
    public static void CheckTarget(string full, bool overwrite)
    {
        int rc = PosixFile.Stat(full, followLinks: false, out var st);
        if (rc == PosixFile.ENOENT) return;
        if (rc != 0) throw FileSystemError.From(rc, full, "looking at the target", writing: true);
        if (st.Type == PosixFile.FileType.Symlink)
        {
            rc = PosixFile.Stat(full, followLinks: true, out var target);
            if (rc == 0) ImageFile.Refuse(full, target.Type);
        }
        else ImageFile.Refuse(full, st.Type);
        if (!overwrite) throw new VfioMigrationException($"{full} already exists.", VfioErrors.ImageExists);
    }

    /// <summary>What stands for the image's name in its temporary files' names: ".", it, "." and 32 hex digits and ".partial" fit NAME_MAX (<see cref="SideFileName"/>).</summary>
    internal static string TempStem(string name) => SideFileName.Stem(name, 1 + 32 + ".partial".Length);

    /// <summary>Temporary files named as ours for this target, regular and owned by us: leftovers, since we hold the lock.</summary>
    private static int RemoveStale(string dir, string name)
    {
        string stem = TempStem(name);
        var pattern = new Regex($"^\\.{Regex.Escape(stem)}\\.[0-9a-f]{{32}}\\.partial$", RegexOptions.CultureInvariant);
        int removed = 0;
        try
        {
            foreach (var file in Directory.EnumerateFiles(dir, $".{stem}.*.partial"))
            {
                if (!pattern.IsMatch(System.IO.Path.GetFileName(file))) continue;
                if (PosixFile.Stat(file, followLinks: false, out var st) != 0 || st.Type != PosixFile.FileType.Regular || st.Uid != PosixFile.EffectiveUid) continue;
                if (PosixFile.Remove(file) == 0) removed++;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* an unlistable directory has no leftovers we can see */ }
        return removed;
    }

    /// <summary>Bytes written so far.</summary>
    public long Length => _sink.Position;

    /// <summary>Writes what is buffered, fsyncs and closes the temporary file; the image is then durable but not yet in place.</summary>
    public void Prepare()
    {
        if (_prepared) return;
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        _wrapped?.Flush();
        _sink.Flush();
        Step("fsync", () => PosixFile.Sync(_fd), "syncing the image to disk (fsync)");
        int fd = _fd;
        _fd = -1;
        Step("close", () => PosixFile.CloseChecked(fd), "closing the image");
        _prepared = true;
    }

    /// <summary>Puts the image in place (after <see cref="Prepare"/>), then releases the target.</summary>
    public void Commit()
    {
        Prepare();
        CheckTarget(Path, _overwrite); // a FIFO or device node put there while we wrote is still not replaced
        Step("rename", () =>
        {
            int rc = PosixFile.Rename(TempPath, Path, noReplace: !_overwrite);
            if (rc == PosixFile.EINVAL && !_overwrite)
            {
                // A file system without RENAME_NOREPLACE: link() also refuses an existing name.
                rc = PosixFile.HardLink(TempPath, Path);
                if (rc == 0) _ = PosixFile.Remove(TempPath);
            }
            if (rc == PosixFile.EEXIST)
                throw new VfioMigrationException($"{Path} was created by someone else while this save ran; it was left as it is.", VfioErrors.ImageExists);
            return rc;
        }, "renaming the image into place");
        _committed = true;
        _ = PosixFile.SyncDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _lock.Dispose();
    }

    /// <summary>Removes an image this object committed (a later member of its set failed). Never throws.</summary>
    public void Retract()
    {
        if (_committed && PosixFile.Stat(Path, false, out var st) == 0 && st.Type == PosixFile.FileType.Regular) _ = PosixFile.Remove(Path);
        _committed = false;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        PosixFile.CloseQuietly(_fd);
        _fd = -1;
        if (!_committed) _ = PosixFile.Remove(TempPath);
        _lock.Dispose();
    }

    private void Step(string step, Func<int> call, string doing)
    {
        int rc = FailForTests.Value?.Invoke(step) ?? 0;
        if (rc == 0) rc = call();
        if (rc != 0) throw FileSystemError.From(rc, Path, doing, writing: true);
    }

    /// <summary>Writes <paramref name="gathered"/> and then <paramref name="data"/> at <paramref name="offset"/>, and starts their writeback.</summary>
    private void WriteAt(ReadOnlySpan<byte> gathered, ReadOnlySpan<byte> data, long offset)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        int rc = FailForTests.Value?.Invoke("write") ?? 0;
        if (rc == 0) rc = PosixFile.WriteAll(_fd, gathered, data, offset);
        if (rc != 0) throw FileSystemError.From(rc, Path, "writing the image", writing: true);
        WroteForTests.Value?.Invoke(offset, gathered.Length + data.Length);
        // The disk starts on what was just written while the save produces the next megabyte, instead of taking
        // the whole image at the fsync (as dd conv=fsync does). Errors are the fsync's to report.
        _ = PosixFile.StartWriteback(_fd, offset, gathered.Length + data.Length);
    }

    /// <summary>
    /// A write-only stream with its own buffer, so that giving up never flushes (and fails) again. Small writes (the
    /// header, each chunk's length, the summary) are gathered into one 1 MiB buffer; a write of at least
    /// <see cref="DirectWrite"/> bytes (a chunk of device data) goes to the file from the caller's memory, together
    /// with what is gathered, in one pwritev, up to its last page boundary (the rest is gathered), so device data is
    /// not copied in user space on its way to the file (perf of a 1 GiB save: that copy was 0.05–0.08 s of 0.9 s)
    /// and every write but the last covers whole pages. Each write's writeback is started with
    /// sync_file_range, so the disk works while the save reads the next megabyte and the final fsync waits for the
    /// tail only. The write happens in the caller's thread: handing each buffer to a pool thread cost more than it
    /// overlapped on a 2-core machine (strace: ~30 sched_yield calls per megabyte while the two threads waited on
    /// each other; whole-process pairs of a 1 GiB save: 1.7–2.3 s written here against 2.3–3.8 s handed off,
    /// bench/ and README "Benchmarks").
    /// </summary>
    private sealed class SinkStream(AtomicFile file) : Stream
    {
        private readonly byte[] _buffer = new byte[BufferSize];
        private int _buffered;
        private long _flushed;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _flushed + _buffered;
        public override long Position { get => Length; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> data)
        {
            if (data.Length >= DirectWrite)
            {
                // Up to the last page boundary from where it is; the rest, under a page, is gathered.
                int tail = (int)((_flushed + _buffered + data.Length) % PageSize);
                WriteThrough(data[..^tail]);
                data = data[^tail..];
            }
            while (!data.IsEmpty)
            {
                int n = Math.Min(BufferSize - _buffered, data.Length);
                data[..n].CopyTo(_buffer.AsSpan(_buffered));
                _buffered += n;
                data = data[n..];
                if (_buffered == BufferSize) WriteBuffered();
            }
        }

        public override void Flush()
        {
            if (_buffered > 0) WriteBuffered();
        }

        /// <summary>Writes the buffer at its offset; on failure what is buffered is given up with the file.</summary>
        private void WriteBuffered() => WriteThrough(ReadOnlySpan<byte>.Empty);

        /// <summary>Writes what is buffered and then <paramref name="data"/>, from where they are, at the buffer's offset.</summary>
        private void WriteThrough(ReadOnlySpan<byte> data)
        {
            int length = _buffered;
            _buffered = 0;
            file.WriteAt(_buffer.AsSpan(0, length), data, _flushed);
            _flushed += length + data.Length;
        }
    }
}
