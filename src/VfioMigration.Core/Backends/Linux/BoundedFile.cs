namespace VfioMigration.Backends.Linux;

/// <summary>
/// Reads kernel-made files (/proc, debugfs) that report no size (seq files say 0): at most a limit of bytes, so a
/// file that grows without end, or a fake one, cannot make a reader take unbounded memory.
/// </summary>
internal static class BoundedFile
{
    /// <summary>
    /// Up to <paramref name="limit"/> bytes of the file and whether it had more. Throws what opening and reading
    /// throw (IOException, UnauthorizedAccessException); the callers turn those into reasons.
    /// </summary>
    public static (byte[] Bytes, bool Truncated) Read(string path, int limit)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1, FileOptions.None);
        var buffer = new byte[limit + 1];
        int total = 0;
        while (total < buffer.Length)
        {
            int n = f.Read(buffer, total, buffer.Length - total);
            if (n <= 0) break;
            total += n;
        }
        return total > limit ? (buffer[..limit], true) : (buffer[..total], false);
    }
}
