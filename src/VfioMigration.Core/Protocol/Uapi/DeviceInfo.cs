using System.Buffers.Binary;

namespace VfioMigration.Protocol.Uapi;

/// <summary><c>struct vfio_device_info</c> (24 bytes; 20 in older headers, kernel minimum 16).</summary>
internal readonly record struct DeviceInfo(uint Flags, uint NumRegions, uint NumIrqs, uint CapOffset)
{
    public bool CanReset => (Flags & VfioUapi.DeviceFlagReset) != 0;
    public bool IsPci => (Flags & VfioUapi.DeviceFlagPci) != 0;
    public bool IsCcw => (Flags & VfioUapi.DeviceFlagCcw) != 0;

    public static DeviceInfo Parse(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
        b.Length >= 20 ? BinaryPrimitives.ReadUInt32LittleEndian(b[16..]) : 0);

    /// <summary>Fills a caller's buffer the way the kernel does; argsz is the caller's and stays.</summary>
    public void WriteTo(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], NumRegions);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], NumIrqs);
        if (b.Length >= 20) BinaryPrimitives.WriteUInt32LittleEndian(b[16..], CapOffset);
    }
}
