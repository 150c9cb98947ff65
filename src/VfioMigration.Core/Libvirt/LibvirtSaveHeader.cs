using System.Buffers.Binary;
using VfioMigration.Qemu;

namespace VfioMigration.Libvirt;

/// <summary>
/// The header libvirt writes before a saved VM's QEMU stream (<c>virsh save</c>, managed save; libvirt
/// src/qemu/qemu_saveimage.h, virQEMUSaveHeader), 92 bytes in the byte order of the host that wrote it:
/// <code>
///  0  "LibvirtQemudSave"   magic, 16 bytes ("LibvirtQemudPart" while the save has not finished)
/// 16  u32 version          2
/// 20  u32 data_len         bytes of domain XML and cookie that follow the header (NUL-terminated, padded)
/// 24  u32 was_running      1 when the VM was running when saved
/// 28  u32 format           <see cref="LibvirtSaveFormat"/>
/// 32  u32 cookieOffset     where the cookie starts inside the data (0: none)
/// 36  14 x u32 unused
/// 92  data_len bytes, then the QEMU stream, compressed as format says
/// </code>
/// </summary>
internal sealed record LibvirtSaveHeader(bool Partial, uint Version, uint DataLength, bool WasRunning, LibvirtSaveFormat Format, uint CookieOffset)
{
    public const int Size = 92;
    /// <summary>The domain XML and cookie are at most this large (libvirt's are a few KiB).</summary>
    public const int MaxDataLength = 16 * 1024 * 1024;

    public static bool Is(ReadOnlySpan<byte> prefix) => prefix.Length >= 16 && (prefix[..16].SequenceEqual("LibvirtQemudSave"u8) || prefix[..16].SequenceEqual("LibvirtQemudPart"u8));

    /// <summary>Where the QEMU stream starts.</summary>
    public long StreamOffset => Size + (long)DataLength;

    /// <summary>Reads the header of a file of <paramref name="fileLength"/> bytes; errors name the field.</summary>
    public static LibvirtSaveHeader Parse(ReadOnlySpan<byte> header, long fileLength, string path)
    {
        if (header.Length < Size) throw Invalid(path, $"the file is {fileLength} bytes, shorter than libvirt's {Size}-byte save header.", 0);
        if (!Is(header)) throw Invalid(path, "not a libvirt save file (the magic is not LibvirtQemudSave).", 0);
        bool partial = header[..16].SequenceEqual("LibvirtQemudPart"u8);
        // Native byte order: a version that reads 2 only byte-swapped means a big-endian host wrote the file.
        uint raw = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        bool bigEndian = raw != 2 && BinaryPrimitives.ReverseEndianness(raw) is 1 or 2;
        Span<uint> fields = stackalloc uint[5];
        for (int i = 0; i < fields.Length; i++)
        {
            var at = header.Slice(16 + 4 * i, 4);
            fields[i] = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(at) : BinaryPrimitives.ReadUInt32LittleEndian(at);
        }
        uint version = fields[0];
        if (version != 2)
            throw new QemuStreamException(path, $"libvirt save header version {version} is not read by this module, which reads version 2.", VfioErrors.QemuStreamUnsupported, 16);
        uint dataLength = fields[1];
        if (dataLength > MaxDataLength || Size + (long)dataLength > fileLength)
            throw Invalid(path, $"the header's data length {dataLength} reaches past the end of the {fileLength}-byte file (or past the {MaxDataLength}-byte limit for domain XML).", 20);
        uint running = fields[2];
        if (running > 1) throw Invalid(path, $"the header's was_running is {running}, not 0 or 1.", 24);
        uint format = fields[3];
        if (format > (uint)LibvirtSaveFormat.Zstd)
            throw new QemuStreamException(path, $"compression format {format} is not one libvirt's save files use (0 raw, 1 gzip, 2 bzip2, 3 xz, 4 lzop, 5 zstd).", VfioErrors.QemuStreamUnsupported, 28);
        uint cookie = fields[4];
        if (cookie != 0 && cookie >= dataLength) throw Invalid(path, $"the header's cookie offset {cookie} is not inside its {dataLength} bytes of data.", 32);
        return new LibvirtSaveHeader(partial, version, dataLength, running == 1, (LibvirtSaveFormat)format, cookie);
    }

    private static QemuStreamException Invalid(string path, string message, long at) => new(path, message, VfioErrors.LibvirtSaveInvalid, at);
}
