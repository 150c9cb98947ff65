using System.Buffers.Binary;

namespace VfioMigration.Protocol.Uapi;

/// <summary><c>struct vfio_precopy_info</c> (24 bytes), the answer of VFIO_MIG_GET_PRECOPY_INFO on a data fd.</summary>
public readonly record struct PrecopyInfo(ulong InitialBytes, ulong DirtyBytes)
{
    public static byte[] CreateRequest()
    {
        var b = new byte[VfioUapi.PrecopyInfoSize];
        BinaryPrimitives.WriteUInt32LittleEndian(b, VfioUapi.PrecopyInfoSize);
        return b;
    }

    public static PrecopyInfo Parse(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), BinaryPrimitives.ReadUInt64LittleEndian(b[16..]));

    public void WriteTo(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], InitialBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], DirtyBytes);
    }
}
