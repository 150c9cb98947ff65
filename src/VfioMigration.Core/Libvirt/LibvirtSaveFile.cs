using System.IO.Compression;
using System.Text;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;
using SharpCompress.Compressors.ZStandard;
using VfioMigration.Images;
using VfioMigration.Qemu;

namespace VfioMigration.Libvirt;

/// <summary>
/// A libvirt save file opened: its header, its domain XML, and its QEMU stream as a <see cref="QemuStreamInput"/>
/// (raw: a window of the file; compressed: decompressed on the way, gzip by .NET, bzip2, xz and zstd by
/// SharpCompress; lzop has no maintained .NET reader and is refused, saying so).
/// </summary>
internal sealed class LibvirtSaveFile
{
    private LibvirtSaveFile(LibvirtSaveHeader header, LibvirtDomain domain, QemuStreamInput input)
    {
        Header = header;
        Domain = domain;
        Input = input;
    }

    public LibvirtSaveHeader Header { get; }
    public LibvirtDomain Domain { get; }
    public QemuStreamInput Input { get; }

    public static LibvirtSaveFile Open(string fullPath)
    {
        LibvirtSaveHeader header;
        string xml;
        int buffer = (int)Math.Clamp(new FileInfo(fullPath).Length, 4096, 1 << 20);
        using (var file = ImageFile.OpenRead(fullPath, 4096))
        {
            long length = file.Length;
            var head = new byte[LibvirtSaveHeader.Size];
            int got = ReadAll(file, head);
            header = LibvirtSaveHeader.Parse(head.AsSpan(0, got), length, fullPath);
            var data = new byte[header.DataLength];
            if (ReadAll(file, data) != data.Length) throw new QemuStreamException(fullPath, "the file ends inside the domain XML.", VfioErrors.QemuStreamTruncated, LibvirtSaveHeader.Size);
            int end = header.CookieOffset > 0 ? (int)header.CookieOffset : data.Length;
            int nul = Array.IndexOf(data, (byte)0, 0, end);
            xml = Encoding.UTF8.GetString(data, 0, nul >= 0 ? nul : end);
        }
        var domain = LibvirtDomain.Parse(xml, fullPath);
        long offset = header.StreamOffset;
        QemuStreamInput input;
        if (header.Format == LibvirtSaveFormat.Raw)
        {
            long fileLength = new FileInfo(fullPath).Length;
            input = new QemuStreamInput
            {
                Path = fullPath,
                Length = fileLength - offset,
                ReportBase = offset,
                Open = () => { var f = ImageFile.OpenRead(fullPath, buffer); f.Seek(offset, SeekOrigin.Begin); return f; },
            };
        }
        else
        {
            if (header.Format == LibvirtSaveFormat.Lzop)
                throw new QemuStreamException(fullPath, "the save file's QEMU stream is compressed with lzop, which this module cannot read (no maintained .NET lzop reader); " +
                    "decompress it first: tail -c +" + (offset + 1) + " FILE | lzop -dc > stream.mig, then read stream.mig.", VfioErrors.QemuStreamUnsupported);
            var format = header.Format;
            input = new QemuStreamInput
            {
                Path = fullPath,
                Where = $" ({format.ToString().ToLowerInvariant()} stream, offsets of the decompressed stream)",
                Open = () =>
                {
                    var f = ImageFile.OpenRead(fullPath, buffer);
                    f.Seek(offset, SeekOrigin.Begin);
                    return new GuardedStream(Decompress(f, format));
                },
            };
        }
        return new LibvirtSaveFile(header, domain, input);
    }

    private static Stream Decompress(Stream compressed, LibvirtSaveFormat format) => format switch
    {
        LibvirtSaveFormat.Gzip => new GZipStream(compressed, System.IO.Compression.CompressionMode.Decompress),
        LibvirtSaveFormat.Bzip2 => BZip2Stream.Create(compressed, SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false),
        LibvirtSaveFormat.Xz => new XZStream(compressed),
        LibvirtSaveFormat.Zstd => new DecompressionStream(compressed, 1 << 17, checkEndOfStream: true, leaveOpen: false),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a compressed format"),
    };

    private static int ReadAll(Stream s, byte[] buffer)
    {
        int got = 0, n;
        while (got < buffer.Length && (n = s.Read(buffer, got, buffer.Length - got)) > 0) got += n;
        return got;
    }

    /// <summary>
    /// A decompressor's view that reports damaged compressed data as <see cref="InvalidDataException"/> whatever
    /// the library throws, so that the stream reader turns it into the module's error.
    /// </summary>
    private sealed class GuardedStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            try { return inner.Read(buffer); }
            catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException or InvalidDataException or IOException and not EndOfStreamException))
            {
                throw new InvalidDataException(e.Message, e);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
