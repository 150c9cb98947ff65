namespace VfioMigration.Images;

/// <summary>
/// The device state image layout (docs/image-format.md). All integers little-endian.
/// <code>
///   0  "VFIOSTAT"            magic, 8 bytes
///   8  u16 format version     (1)
///  10  u16 reserved           (0)
///  12  u32 header length H    (1..64 KiB)
///  16  H bytes                header, UTF-8 JSON (<see cref="StateImageHeader"/>)
///      chunks: u32 length L (1..16 MiB), L bytes of migration data; repeated
///      u32 0                  end of chunks
///      u32 S, S bytes         summary, UTF-8 JSON (<see cref="StateImageSummary"/>)
///      "VFIOEND\0"            trailer magic, 8 bytes
///      u64 data bytes         sum of all L
///      u64 chunk count
///      16 bytes XXH128        of every byte before it
/// </code>
/// Nothing may follow the hash.
/// </summary>
public static class StateImageFormat
{
    public static ReadOnlySpan<byte> Magic => "VFIOSTAT"u8;
    public static ReadOnlySpan<byte> TrailerMagic => "VFIOEND\0"u8;
    public const ushort Version = 1;
    public const int PrefixSize = 16;
    public const int MaxHeaderSize = 64 * 1024;
    public const int MaxChunkSize = 16 * 1024 * 1024;
    public const int MaxSummarySize = 64 * 1024;
    public const int TrailerSize = 8 + 8 + 8 + 16;
    public const string FileExtension = ".vfiostate";
}
