namespace VfioMigration.Qemu;

/// <summary>
/// A QEMU stream or save file that cannot be read as such: the message names the file, where in it (a byte offset
/// of the file, or of the decompressed stream) and what was wrong.
/// </summary>
internal sealed class QemuStreamException : VfioMigrationException
{
    public QemuStreamException(string path, string message, VfioError? error = null, long? offset = null)
        : base(offset is { } o ? $"{path}: at byte {o}: {message}" : $"{path}: {message}", error ?? VfioErrors.QemuStreamInvalid)
    {
        Path = path;
        Offset = offset;
    }

    public string Path { get; }
    /// <summary>Where the problem is, when it is at a place.</summary>
    public long? Offset { get; }
}
