using System.Text;
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
            input = new QemuStreamInput
            {
                Path = fullPath,
                Offset = offset,
                Open = () => ImageFile.OpenRead(fullPath, buffer),
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
                Offset = offset,
                Where = $" ({format.ToString().ToLowerInvariant()} stream, offsets of the decompressed stream)",
                Open = () => ImageFile.OpenRead(fullPath, buffer),
                Decompress = file => new DecompressedStream(file, format),
            };
        }
        return new LibvirtSaveFile(header, domain, input);
    }

    private static int ReadAll(Stream s, byte[] buffer)
    {
        int got = 0, n;
        while (got < buffer.Length && (n = s.Read(buffer, got, buffer.Length - got)) > 0) got += n;
        return got;
    }
}
