namespace VfioMigration.Qemu;

/// <summary>
/// Where a QEMU stream's bytes come from: a file (a raw stream, or a libvirt save file with the stream after its
/// header), opened once per walk so that the description at the end and the sections are read from one descriptor,
/// never from two files that happened to have the same name. A compressed stream is read through
/// <see cref="Decompress"/> from <see cref="Offset"/>.
/// </summary>
internal sealed class QemuStreamInput
{
    public required string Path { get; init; }
    /// <summary>Opens the file, seekable; the walk disposes it.</summary>
    public required Func<Stream> Open { get; init; }
    /// <summary>Where the QEMU stream (or its compressed form) starts in the file.</summary>
    public long Offset { get; init; }
    /// <summary>
    /// For a compressed stream: a decompressing view of the file from its current position to its end, which leaves
    /// the file open and reports every failure of the compressed data as <see cref="InvalidDataException"/>. Null
    /// for a raw stream.
    /// </summary>
    public Func<Stream, Stream>? Decompress { get; init; }
    /// <summary>Added to offsets in messages: where a raw stream starts in the file (0 for a compressed one, whose offsets are of the decompressed stream).</summary>
    public long ReportBase => Decompress is null ? Offset : 0;
    /// <summary>Appended to the path in messages: "" for a raw stream, " (gzip stream)" and such for a compressed one.</summary>
    public string Where { get; init; } = "";
}
