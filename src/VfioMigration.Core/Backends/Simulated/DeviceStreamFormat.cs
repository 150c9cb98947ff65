using System.Buffers.Binary;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// The simulated devices' own migration data format: opaque to the protocol drivers, as a vendor's would be.
/// A sequence of records, each a 16-byte header {u32 kind, u32 length, u64 argument} and its payload:
/// Header (identity, geometry), Page (argument = page index), State (registers and counters), End
/// (argument = page records sent, payload = u64 bytes before End). Nothing may follow End.
/// </summary>
internal static class DeviceStreamFormat
{
    public const int RecordHeaderSize = 16;
    public const ulong Magic = 0x3156454453494D56; // "VMISDEV1" little-endian
    public const uint Version = 1;
    public const int HeaderPayloadSize = 32;
    public const int EndPayloadSize = 8;
    public const int PageRecordSize = RecordHeaderSize + PagedMemory.PageSize;

    public enum RecordKind : uint { Header = 1, Page = 2, State = 3, End = 4 }

    public static void WriteRecordHeader(Span<byte> b, RecordKind kind, int length, ulong argument)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)kind);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)length);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], argument);
    }

    public static byte[] HeaderRecord(SimulatedDeviceModel model)
    {
        var b = new byte[RecordHeaderSize + HeaderPayloadSize];
        WriteRecordHeader(b, RecordKind.Header, HeaderPayloadSize, 0);
        var p = b.AsSpan(RecordHeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(p, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(p[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(p[12..], (uint)model.Kind);
        BinaryPrimitives.WriteUInt32LittleEndian(p[16..], model.Identity);
        BinaryPrimitives.WriteUInt32LittleEndian(p[20..], PagedMemory.PageSize);
        BinaryPrimitives.WriteUInt64LittleEndian(p[24..], (ulong)model.Memory.Size);
        return b;
    }

    /// <summary>Why a header does not fit <paramref name="model"/>, or null when it does.</summary>
    public static string? CheckHeader(ReadOnlySpan<byte> payload, SimulatedDeviceModel model)
    {
        if (BinaryPrimitives.ReadUInt64LittleEndian(payload) != Magic) return "bad magic";
        if (BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]) != Version) return "unsupported stream version";
        if (BinaryPrimitives.ReadUInt32LittleEndian(payload[12..]) != (uint)model.Kind) return "stream is from another kind of device";
        if (BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]) != model.Identity) return "stream is from a device with another identity";
        if (BinaryPrimitives.ReadUInt32LittleEndian(payload[20..]) != PagedMemory.PageSize) return "page size differs";
        if (BinaryPrimitives.ReadUInt64LittleEndian(payload[24..]) != (ulong)model.Memory.Size) return "device memory size differs";
        return null;
    }

    public static int StateRecordSize(SimulatedDeviceModel model) => RecordHeaderSize + model.CaptureState().Length;

    public const int EndRecordSize = RecordHeaderSize + EndPayloadSize;
}
