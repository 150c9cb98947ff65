using System.Buffers.Binary;

namespace VfioMigration.Protocol.Uapi;

/// <summary>
/// Builds and reads <c>struct vfio_device_feature</c> buffers: argsz, flags (feature id | GET/SET/PROBE), payload.
/// </summary>
internal static class DeviceFeatureBuffer
{
    public static byte[] Create(uint feature, uint direction, int payloadSize)
    {
        var b = new byte[VfioUapi.FeatureHeaderSize + payloadSize];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)b.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), feature | direction);
        return b;
    }

    public static uint ArgSize(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt32LittleEndian(b);
    public static uint Flags(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
    public static Span<byte> Payload(Span<byte> b) => b[VfioUapi.FeatureHeaderSize..];

    /// <summary>A SET (or GET) of MIG_DEVICE_STATE: payload {u32 device_state, s32 data_fd}.</summary>
    public static byte[] MigDeviceState(uint direction, MigrationState state)
    {
        var b = Create(VfioUapi.FeatureMigDeviceState, direction, 8);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), (uint)state);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), -1);
        return b;
    }

    public static uint ReadDeviceState(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
    public static int ReadDataFd(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadInt32LittleEndian(b[12..]);
    public static ulong ReadU64Payload(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadUInt64LittleEndian(b[8..]);
}
