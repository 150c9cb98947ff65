using System.Buffers.Binary;
using System.Text;
using VfioMigration.Images;

namespace VfioMigration.Qemu;

/// <summary>
/// Big-endian reads from a QEMU stream of known length. Every read is checked against what is left before a byte
/// is read or a buffer sized, so a field that points past the end is a <c>QemuStreamTruncated</c> error naming the
/// field, never an allocation. Positions are offsets in the QEMU stream; errors report them as offsets of the file
/// (<see cref="ReportBase"/> added) or, for a compressed stream, of the decompressed stream.
/// </summary>
internal sealed class StreamCursor
{
    private readonly Stream _stream;
    private readonly byte[] _scratch = new byte[8];
    private byte[]? _skipBuffer;
    private int _pushedBack = -1;
    private readonly CancellationToken _cancellationToken;

    public StreamCursor(Stream stream, long length, string path, long reportBase, string where, CancellationToken cancellationToken = default)
    {
        _stream = stream;
        _cancellationToken = cancellationToken;
        Length = length;
        Path = path;
        ReportBase = reportBase;
        Where = where;
    }

    public string Path { get; }
    public long Length { get; }
    public long Position { get; private set; }
    public long Remaining => Length - Position;
    /// <summary>Added to positions in messages: where the QEMU stream starts in the file.</summary>
    public long ReportBase { get; }
    /// <summary>Says which bytes offsets count ("" for the file itself, " of the decompressed stream").</summary>
    public string Where { get; }

    public QemuStreamException Error(string message, long at, VfioError? error = null) =>
        new(Path + Where, message, error ?? VfioErrors.QemuStreamInvalid, ReportBase + at);

    /// <summary>Fails unless <paramref name="count"/> more bytes are there.</summary>
    public void Need(ulong count, string what)
    {
        if (count > (ulong)Remaining)
            throw Error($"{what} needs {count} bytes, but the stream ends {Remaining} bytes later: it is truncated or the field is damaged.", Position, VfioErrors.QemuStreamTruncated);
    }

    public byte U8(string what) { Fill(_scratch.AsSpan(0, 1), what); return _scratch[0]; }
    public ushort U16(string what) { Fill(_scratch.AsSpan(0, 2), what); return BinaryPrimitives.ReadUInt16BigEndian(_scratch); }
    public uint U32(string what) { Fill(_scratch.AsSpan(0, 4), what); return BinaryPrimitives.ReadUInt32BigEndian(_scratch); }
    public ulong U64(string what) { Fill(_scratch.AsSpan(0, 8), what); return BinaryPrimitives.ReadUInt64BigEndian(_scratch); }

    /// <summary>The next byte, left to be read again.</summary>
    public int Peek()
    {
        if (_pushedBack >= 0) return _pushedBack;
        if (Remaining <= 0) return -1;
        int b = _stream.ReadByte();
        if (b < 0) return -1;
        _pushedBack = b;
        return b;
    }

    /// <summary>A u8 length and that many bytes of text (QEMU's idstr and RAM block names).</summary>
    public string ShortText(string what)
    {
        int length = U8(what + " length");
        return Text(length, what);
    }

    public string Text(int length, string what)
    {
        Need((ulong)length, what);
        var bytes = new byte[length];
        Fill(bytes, what);
        foreach (byte b in bytes)
            if (b < 0x20 || b > 0x7e) throw Error($"{what} is not printable text.", Position - length);
        return Encoding.ASCII.GetString(bytes);
    }

    public void Fill(Span<byte> buffer, string what)
    {
        Need((ulong)buffer.Length, what);
        if (buffer.IsEmpty) return;
        int start = 0;
        if (_pushedBack >= 0)
        {
            buffer[0] = (byte)_pushedBack;
            _pushedBack = -1;
            start = 1;
        }
        var rest = buffer[start..];
        while (!rest.IsEmpty)
        {
            int n = ReadSome(rest);
            if (n == 0) throw Error($"the file ends inside {what} (it is shorter than when it was first read).", Position, VfioErrors.QemuStreamTruncated);
            rest = rest[n..];
        }
        Position += buffer.Length;
    }

    /// <summary>Passes over <paramref name="count"/> bytes (seeking when the stream can), handing them to <paramref name="sink"/> if given.</summary>
    public void Skip(ulong count, string what, ChunkHandler? sink = null)
    {
        Need(count, what);
        long left = (long)count;
        if (left > 0 && _pushedBack >= 0)
        {
            Span<byte> one = stackalloc byte[1];
            Fill(one, what);
            sink?.Invoke(one);
            left--;
        }
        if (sink is null && _stream.CanSeek)
        {
            _stream.Seek(left, SeekOrigin.Current);
            Position += left;
            return;
        }
        _skipBuffer ??= new byte[(int)Math.Min(1 << 20, Math.Max(left, 4096))];
        while (left > 0)
        {
            // A chunk of gigabytes in a compressed stream takes long to decompress: Ctrl+C is seen between megabytes.
            _cancellationToken.ThrowIfCancellationRequested();
            var part = _skipBuffer.AsSpan(0, (int)Math.Min(left, _skipBuffer.Length));
            Fill(part, what);
            sink?.Invoke(part);
            left -= part.Length;
        }
    }

    private int ReadSome(Span<byte> buffer)
    {
        try { return _stream.Read(buffer); }
        catch (IOException e) when (e is not EndOfStreamException)
        {
            throw new QemuStreamException(Path + Where, $"reading failed: {e.Message}", VfioErrors.ImageReadFailed, ReportBase + Position);
        }
        catch (InvalidDataException e)
        {
            throw Error($"the compressed data is damaged: {e.Message}", Position);
        }
    }
}
