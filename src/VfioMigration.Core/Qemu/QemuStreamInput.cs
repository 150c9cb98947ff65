namespace VfioMigration.Qemu;

/// <summary>
/// Where a QEMU stream's bytes come from: a raw file (or the raw part of a libvirt save file) that can be read at
/// any offset, or a decompressing stream that can only be read again from the start. <see cref="Open"/> gives a
/// fresh stream at the QEMU stream's first byte each time it is called.
/// </summary>
internal sealed class QemuStreamInput
{
    public required string Path { get; init; }
    public required Func<Stream> Open { get; init; }
    /// <summary>The stream's length when known without reading it (raw files); null for a compressed stream.</summary>
    public long? Length { get; init; }
    /// <summary>Where the stream starts in the file, added to offsets in messages (raw streams).</summary>
    public long ReportBase { get; init; }
    /// <summary>Appended to the path in messages: "" for a raw stream, " (gzip stream)" and such for a compressed one.</summary>
    public string Where { get; init; } = "";
}
