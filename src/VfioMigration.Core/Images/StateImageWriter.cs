using System.Buffers.Binary;
using System.IO.Hashing;

namespace VfioMigration.Images;

/// <summary>Writes one image to a stream: header first, then data chunks as they come, then summary and trailer.</summary>
internal sealed class StateImageWriter
{
    private readonly Stream _stream;
    private readonly XxHash128 _hash = new();
    private long _dataBytes;
    private long _chunks;

    public StateImageWriter(Stream stream, StateImageHeader header)
    {
        _stream = stream;
        var json = StateImageJsonWriter.Header(header);
        if (json.Length > StateImageFormat.MaxHeaderSize) throw new ArgumentException("image header too large", nameof(header));
        Span<byte> prefix = stackalloc byte[StateImageFormat.PrefixSize];
        StateImageFormat.Magic.CopyTo(prefix);
        BinaryPrimitives.WriteUInt16LittleEndian(prefix[8..], StateImageFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix[12..], (uint)json.Length);
        Put(prefix);
        Put(json);
    }

    public long DataBytes => _dataBytes;

    /// <summary>One chunk of migration data (split if larger than the format's chunk limit).</summary>
    public void WriteChunk(ReadOnlySpan<byte> data)
    {
        Span<byte> length = stackalloc byte[4];
        while (!data.IsEmpty)
        {
            int n = Math.Min(data.Length, StateImageFormat.MaxChunkSize);
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)n);
            Put(length);
            Put(data[..n]);
            _dataBytes += n;
            _chunks++;
            data = data[n..];
        }
    }

    /// <summary>Ends the image; returns the XXH128 checksum as 32 hex digits.</summary>
    public string Finish(StateImageSummary summary)
    {
        var json = StateImageJsonWriter.Summary(summary with { DataBytes = _dataBytes });
        Span<byte> u32 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(u32, 0);
        Put(u32);
        BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)json.Length);
        Put(u32);
        Put(json);
        Span<byte> trailer = stackalloc byte[24];
        StateImageFormat.TrailerMagic.CopyTo(trailer);
        BinaryPrimitives.WriteUInt64LittleEndian(trailer[8..], (ulong)_dataBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(trailer[16..], (ulong)_chunks);
        Put(trailer);
        var digest = _hash.GetHashAndReset();
        _stream.Write(digest);
        return Convert.ToHexString(digest).ToLowerInvariant();
    }

    private void Put(ReadOnlySpan<byte> bytes)
    {
        _hash.Append(bytes);
        _stream.Write(bytes);
    }
}
