using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json;

namespace VfioMigration.Images;

/// <summary>Receives one chunk of an image's migration data.</summary>
public delegate void ChunkHandler(ReadOnlySpan<byte> chunk);

/// <summary>
/// Reads an image: the header when opened, then the data chunks streamed to a callback with the checksum computed
/// on the way, then the summary and trailer, which must account for every chunk and byte and end the file.
/// Any damage is a <see cref="StateImageException"/> that names the field.
/// </summary>
public sealed class StateImageReader
{
    private readonly Stream _stream;
    private readonly XxHash128 _hash = new();
    private byte[] _buffer = new byte[64 * 1024];

    private StateImageReader(Stream stream, string path, StateImageHeader header)
    {
        _stream = stream;
        Path = path;
        Header = header;
    }

    public string Path { get; }
    public StateImageHeader Header { get; }
    public StateImageSummary? Summary { get; private set; }
    public string? Checksum { get; private set; }
    public long DataBytes { get; private set; }

    public static StateImageReader Open(Stream stream, string path)
    {
        var hash = new XxHash128();
        Span<byte> prefix = stackalloc byte[StateImageFormat.PrefixSize];
        if (!TryFill(stream, prefix)) throw new StateImageException(path, "magic", "too short to be a device state image.");
        if (!prefix[..8].SequenceEqual(StateImageFormat.Magic)) throw new StateImageException(path, "magic", "not a device state image (bad magic).");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
        if (version != StateImageFormat.Version)
            throw new StateImageException(path, "formatVersion", $"image format version {version} is not supported (this module reads version {StateImageFormat.Version}).", VfioErrors.ImageVersionUnsupported);
        uint headerLength = BinaryPrimitives.ReadUInt32LittleEndian(prefix[12..]);
        if (headerLength == 0 || headerLength > StateImageFormat.MaxHeaderSize)
            throw new StateImageException(path, "headerLength", $"header length {headerLength} is out of range.");
        var json = new byte[headerLength];
        if (!TryFill(stream, json)) throw new StateImageException(path, "header", "truncated inside the header.");
        StateImageHeader? header;
        try { header = JsonSerializer.Deserialize<StateImageHeader>(json, StateImageJson.Options); }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new StateImageException(path, "header", $"the header is not valid: {e.Message}");
        }
        if (header is null || header.Device is null) throw new StateImageException(path, "header", "the header names no device.");
        // Metadata keys are read as property names, which the string converter does not see.
        if (header.ProtocolMetadata?.Keys.Any(k => k.Any(DisplayText.NeedsEscape)) == true)
            header = header with { ProtocolMetadata = header.ProtocolMetadata.GroupBy(kv => DisplayText.Escape(kv.Key)).ToDictionary(g => g.Key, g => g.Last().Value) };
        if (header.FormatVersion != version) throw new StateImageException(path, "formatVersion", "the header's format version disagrees with the file's.");
        StateImageHeaderCheck.Validate(header, path);
        var reader = new StateImageReader(stream, path, header);
        reader._hash.Append(prefix);
        reader._hash.Append(json);
        return reader;
    }

    /// <summary>Reads all data, handing each chunk to <paramref name="onChunk"/> (or just verifying).</summary>
    public void ReadData(ChunkHandler? onChunk, CancellationToken cancellationToken = default)
    {
        Span<byte> u32 = stackalloc byte[4];
        long chunks = 0, bytes = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Fill(u32, "chunk length");
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(u32);
            if (length == 0) break;
            if (length > StateImageFormat.MaxChunkSize) throw new StateImageException(Path, "chunkLength", $"chunk {chunks} claims {length} bytes, more than the format allows.");
            if (_buffer.Length < length) _buffer = new byte[length];
            var chunk = _buffer.AsSpan(0, (int)length);
            Fill(chunk, $"chunk {chunks}");
            onChunk?.Invoke(chunk);
            chunks++;
            bytes += length;
        }
        Fill(u32, "summary length");
        uint summaryLength = BinaryPrimitives.ReadUInt32LittleEndian(u32);
        if (summaryLength > StateImageFormat.MaxSummarySize) throw new StateImageException(Path, "summaryLength", $"summary length {summaryLength} is out of range.");
        var summary = new byte[summaryLength];
        Fill(summary, "summary");
        Span<byte> trailer = stackalloc byte[24];
        Fill(trailer, "trailer");
        if (!trailer[..8].SequenceEqual(StateImageFormat.TrailerMagic)) throw new StateImageException(Path, "trailer", "the trailer is missing or damaged.");
        ulong recordedBytes = BinaryPrimitives.ReadUInt64LittleEndian(trailer[8..]);
        ulong recordedChunks = BinaryPrimitives.ReadUInt64LittleEndian(trailer[16..]);
        var computed = _hash.GetHashAndReset();
        Span<byte> stored = stackalloc byte[16];
        if (!TryFill(_stream, stored)) throw new StateImageException(Path, "checksum", "truncated inside the checksum.", VfioErrors.ImageTruncated);
        if (_stream.ReadByte() != -1) throw new StateImageException(Path, "length", "bytes follow the end of the image (it was extended or concatenated).");
        if (!stored.SequenceEqual(computed))
            throw new StateImageException(Path, "checksum", $"checksum mismatch: the image was modified or damaged (recorded {Convert.ToHexString(stored).ToLowerInvariant()}, computed {Convert.ToHexString(computed).ToLowerInvariant()}).", VfioErrors.ImageChecksumMismatch);
        if (recordedBytes != (ulong)bytes || recordedChunks != (ulong)chunks)
            throw new StateImageException(Path, "length", $"the trailer records {recordedBytes} bytes in {recordedChunks} chunks, the image holds {bytes} in {chunks}.");
        StateImageSummary? parsed;
        try { parsed = JsonSerializer.Deserialize<StateImageSummary>(summary, StateImageJson.Options); }
        catch (Exception e) when (e is JsonException or ArgumentException or NotSupportedException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new StateImageException(Path, "summary", $"the summary is not valid: {e.Message}");
        }
        CheckSummary(parsed);
        Summary = parsed; // only a summary that passed its checks is ever shown
        DataBytes = bytes;
        Checksum = Convert.ToHexString(stored).ToLowerInvariant();
    }

    /// <summary>
    /// The longest duration a summary may record: a year. Every value the save writes is far below it, and every
    /// value up to it is a TimeSpan, so a checksum-valid image with a damaged or crafted summary is ImageInvalid,
    /// never an overflow where it is shown.
    /// </summary>
    public const double MaxSummaryMilliseconds = 365.0 * 24 * 3600 * 1000;

    /// <summary>What the summary must hold beyond being JSON: counts and durations that are not negative, durations up to a year.</summary>
    private void CheckSummary(StateImageSummary? s)
    {
        void Fail(string what) => throw new StateImageException(Path, "summary", $"the summary's {what}.");
        if (s is null) Fail("record is missing");
        if (s!.PreCopyRounds < 0) Fail($"preCopyRounds ({s.PreCopyRounds}) is negative");
        if (s.PreCopyBytes < 0) Fail($"preCopyBytes ({s.PreCopyBytes}) is negative");
        if (!(s.DowntimeMilliseconds is >= 0 and <= MaxSummaryMilliseconds)) Fail($"downtimeMilliseconds ({s.DowntimeMilliseconds}) is not between 0 and {MaxSummaryMilliseconds} (a year)");
        if (!(s.DurationMilliseconds is >= 0 and <= MaxSummaryMilliseconds)) Fail($"durationMilliseconds ({s.DurationMilliseconds}) is not between 0 and {MaxSummaryMilliseconds} (a year)");
    }

    private void Fill(Span<byte> buffer, string what)
    {
        if (!TryFill(_stream, buffer)) throw new StateImageException(Path, "length", $"truncated in the {what}: the image ends early.", VfioErrors.ImageTruncated);
        _hash.Append(buffer);
    }

    private static bool TryFill(Stream stream, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int n = stream.Read(buffer);
            if (n == 0) return false;
            buffer = buffer[n..];
        }
        return true;
    }
}
