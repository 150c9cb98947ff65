using System.Buffers.Binary;
using System.IO.Compression;
using Crc32 = System.IO.Hashing.Crc32;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;
using SharpCompress.Compressors.ZStandard;

namespace VfioMigration.Libvirt;

/// <summary>
/// The QEMU stream of a compressed libvirt save file, decompressed from the file's current position to its end
/// (gzip by .NET; bzip2, xz and zstd by SharpCompress). Everything a decompressor can throw on bad data, while it
/// is created (bzip2 reads its header then) or while it reads, whatever the library's exception type, is reported
/// as <see cref="InvalidDataException"/>, which the stream reader turns into the module's error naming the file;
/// a failing read of the file itself stays an <see cref="IOException"/>. At the end every format is held to the
/// same rule: the compressed data ends exactly at the end of the file, whole. bzip2 and zstd decoders check that
/// themselves; gzip's and xz's stop at the end of their data without looking at what follows, so their trailers
/// are checked here (gzip: CRC32 and size of the one member libvirt writes; xz: index, footer and sizes).
/// </summary>
internal sealed class DecompressedStream : ReadOnlyStream
{
    /// <summary>An xz index larger than this is refused (libvirt's single xz stream has a few records).</summary>
    private const int MaxXzIndexBytes = 16 * 1024 * 1024;

    private readonly Stream _file;
    private readonly SourceStream _source;
    private readonly LibvirtSaveFormat _format;
    private readonly long _start;
    private readonly Crc32? _crc;
    private Stream? _inner;
    private bool _ended;
    private long _total;

    /// <param name="file">The save file, positioned where the compressed stream starts; left open.</param>
    /// <param name="format">The compression.</param>
    public DecompressedStream(Stream file, LibvirtSaveFormat format)
    {
        _file = file;
        _source = new SourceStream(file);
        _format = format;
        _start = file.Position;
        _crc = format == LibvirtSaveFormat.Gzip ? new Crc32() : null;
    }

    public override int Read(Span<byte> buffer)
    {
        if (_ended || buffer.IsEmpty) return 0;
        int n;
        try
        {
            _inner ??= Create();
            n = _inner.Read(buffer);
        }
        catch (Exception e) when (e is not (OperationCanceledException or SourceReadException or InvalidDataException))
        {
            // SharpCompress's InvalidFormatException and ArchiveOperationException, ZstdException, EndOfStreamException,
            // and whatever a decoder's own bug throws on crafted data (index, overflow, argument, memory).
            throw new InvalidDataException(e.Message, e);
        }
        if (n == 0)
        {
            _ended = true;
            CheckEnd();
            return 0;
        }
        _total += n;
        _crc?.Append(buffer[..n]);
        return n;
    }

    private Stream Create() => _format switch
    {
        LibvirtSaveFormat.Gzip => new GZipStream(_source, CompressionMode.Decompress, leaveOpen: true),
        LibvirtSaveFormat.Bzip2 => BZip2Stream.Create(_source, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: true, tolerateTruncatedStream: false),
        LibvirtSaveFormat.Xz => new XZStream(_source),
        LibvirtSaveFormat.Zstd => new DecompressionStream(_source, 1 << 17, checkEndOfStream: true, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(_format), _format, "not a compressed format"),
    };

    private void CheckEnd()
    {
        long payload = _file.Length - _start;
        switch (_format)
        {
            case LibvirtSaveFormat.Gzip:
            {
                // RFC 1952: the member ends with CRC32 and ISIZE (the length mod 2^32) of its data, little-endian.
                if (payload < 18) throw new InvalidDataException("the gzip data is shorter than a gzip header and trailer.");
                var trailer = Tail(8, 0);
                if (BinaryPrimitives.ReadUInt32LittleEndian(trailer) != _crc!.GetCurrentHashAsUInt32() || BinaryPrimitives.ReadUInt32LittleEndian(trailer.AsSpan(4)) != (uint)_total)
                    throw new InvalidDataException($"the gzip trailer at the end of the file (CRC32 and size) does not match the {_total} bytes decompressed: the compressed data is cut short, has other bytes after it, or is damaged.");
                break;
            }
            case LibvirtSaveFormat.Xz:
                CheckXz(payload);
                break;
        }
    }

    /// <summary>
    /// The xz stream (tukaani xz-file-format 1.2.1) must end the file: its footer's CRC32 and flags, its index's
    /// CRC32, and the sizes the index records (the blocks' compressed sizes must add up to the file, their
    /// uncompressed sizes to what was decompressed).
    /// </summary>
    private void CheckXz(long payload)
    {
        if (payload < 12 + 8 + 12) throw new InvalidDataException("the xz data is shorter than an xz header, index and footer.");
        var footer = Tail(12, 0);
        if (footer[10] != (byte)'Y' || footer[11] != (byte)'Z')
            throw new InvalidDataException("the file does not end with an xz stream footer: the compressed data is cut short or has other bytes after it.");
        if (Crc32.HashToUInt32(footer.AsSpan(4, 6)) != BinaryPrimitives.ReadUInt32LittleEndian(footer))
            throw new InvalidDataException("the xz stream footer at the end of the file is damaged (its CRC32 does not match).");
        var header = new byte[12];
        _file.Seek(_start, SeekOrigin.Begin);
        _file.ReadExactly(header);
        if (header[6] != footer[8] || header[7] != footer[9])
            throw new InvalidDataException("the xz stream footer's flags differ from the stream header's.");
        long indexSize = (BinaryPrimitives.ReadUInt32LittleEndian(footer.AsSpan(4)) + 1L) * 4;
        if (indexSize > payload - 24 || indexSize > MaxXzIndexBytes)
            throw new InvalidDataException($"the xz index size in the footer ({indexSize} bytes) does not fit the file.");
        var index = Tail((int)indexSize, 12);
        if (Crc32.HashToUInt32(index.AsSpan(0, index.Length - 4)) != BinaryPrimitives.ReadUInt32LittleEndian(index.AsSpan(index.Length - 4)))
            throw new InvalidDataException("the xz index is damaged (its CRC32 does not match).");
        int at = 0;
        if (index[at++] != 0) throw new InvalidDataException("the xz index does not start with its indicator byte 00.");
        ulong records = VarInt(index, ref at);
        ulong blocks = 0, uncompressed = 0;
        for (ulong r = 0; r < records; r++)
        {
            ulong unpadded = VarInt(index, ref at), size = VarInt(index, ref at);
            try
            {
                blocks = checked(blocks + ((unpadded + 3) & ~3UL));
                uncompressed = checked(uncompressed + size);
            }
            catch (OverflowException) { throw new InvalidDataException("the xz index records sizes past any file."); }
        }
        if (blocks + 12 + (ulong)indexSize + 12 != (ulong)payload)
            throw new InvalidDataException($"the xz stream is {blocks + 12 + (ulong)indexSize + 12} bytes by its index, but {payload} bytes of the file follow the libvirt header: it has other bytes after it, or more than one stream.");
        if (uncompressed != (ulong)_total)
            throw new InvalidDataException($"the xz index records {uncompressed} uncompressed bytes, but {_total} were decompressed.");
    }

    private static ulong VarInt(byte[] b, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; shift < 63; shift += 7)
        {
            if (at >= b.Length - 4) throw new InvalidDataException("the xz index ends inside a record.");
            byte x = b[at++];
            value |= (ulong)(x & 0x7f) << shift;
            if ((x & 0x80) == 0) return value;
        }
        throw new InvalidDataException("the xz index has a number longer than 9 bytes.");
    }

    /// <summary><paramref name="count"/> bytes of the file that end <paramref name="before"/> bytes before its end.</summary>
    private byte[] Tail(int count, int before)
    {
        var bytes = new byte[count];
        try
        {
            _file.Seek(_file.Length - before - count, SeekOrigin.Begin);
            _file.ReadExactly(bytes);
        }
        catch (EndOfStreamException) { throw new InvalidDataException("the file became shorter while it was read."); }
        return bytes;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _inner is not null)
        {
            // A decoder may check its end again as it is closed; what it finds was reported by the reads, or is moot after an error.
            try { _inner.Dispose(); }
            catch (Exception e) when (e is not OperationCanceledException) { }
        }
        base.Dispose(disposing);
    }

    /// <summary>A failing read of the file itself, kept apart from the decoders' complaints about the data.</summary>
    private sealed class SourceReadException(IOException inner) : IOException(inner.Message, inner);

    /// <summary>The file as the decoder sees it: not closed with the decoder, its read errors marked as the file's.</summary>
    private sealed class SourceStream(Stream file) : ReadOnlyStream
    {
        // The xz decoder asks where it is (to size its index); it never moves.
        public override long Length => file.Length;
        public override long Position { get => file.Position; set => throw new NotSupportedException(); }

        public override int Read(Span<byte> buffer)
        {
            try { return file.Read(buffer); }
            catch (IOException e) { throw new SourceReadException(e); }
        }
    }
}
