using System.Buffers.Binary;

namespace VfioMigration.Protocol.Uapi;

/// <summary>
/// <c>struct vfio_precopy_info</c> (24 bytes: u32 argsz, u32 flags, u64 initial_bytes, u64 dirty_bytes), the answer
/// of VFIO_MIG_GET_PRECOPY_INFO on a data fd. <see cref="Flags"/> is meaningful only when
/// <see cref="FlagsReported"/>: before the PRECOPY_INFOv2 opt-in (feature 12) the field is reserved and drivers
/// echo back what the caller wrote (docs/protocol.md §3.8).
/// </summary>
public readonly record struct PrecopyInfo(ulong InitialBytes, ulong DirtyBytes)
{
    /// <summary>Whether <see cref="Flags"/> was read as an output (the device was opted in to PRECOPY_INFOv2).</summary>
    public bool FlagsReported { get; init; }

    /// <summary>The flags the device reported; 0 unless <see cref="FlagsReported"/>.</summary>
    public uint Flags { get; init; }

    /// <summary>VFIO_PRECOPY_INFO_REINIT: new initial data is on the stream; <see cref="InitialBytes"/> counts it.</summary>
    public bool Reinit => FlagsReported && (Flags & VfioUapi.PrecopyInfoReinit) != 0;

    /// <summary>A request: argsz 24, flags 0 (an input of 0 is what a driver without the opt-in echoes back).</summary>
    public static byte[] CreateRequest()
    {
        var b = new byte[VfioUapi.PrecopyInfoSize];
        BinaryPrimitives.WriteUInt32LittleEndian(b, VfioUapi.PrecopyInfoSize);
        return b;
    }

    /// <summary>Reads an answer; the flags only when <paramref name="flagsAreOutput"/> (the caller opted in).</summary>
    public static PrecopyInfo Parse(ReadOnlySpan<byte> b, bool flagsAreOutput = false) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), BinaryPrimitives.ReadUInt64LittleEndian(b[16..]))
    {
        FlagsReported = flagsAreOutput,
        Flags = flagsAreOutput ? BinaryPrimitives.ReadUInt32LittleEndian(b[4..]) : 0,
    };

    /// <summary>The raw flags field of an answer, whatever it means (conformance checks).</summary>
    public static uint RawFlags(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);

    /// <summary>Writes the byte counts; the flags field is left as the caller wrote it (echoed) unless <paramref name="flags"/> is given.</summary>
    public void WriteTo(Span<byte> b, uint? flags = null)
    {
        if (flags is { } f) BinaryPrimitives.WriteUInt32LittleEndian(b[4..], f);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], InitialBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], DirtyBytes);
    }
}
