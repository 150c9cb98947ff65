namespace VfioMigration.Protocol.Uapi;

/// <summary>One entry of a region-info capability chain: header id and version, and the bytes after the header.</summary>
internal sealed record RegionCapability(ushort Id, ushort Version, byte[] Payload)
{
    /// <summary>For a type capability (id 2): the region type and subtype.</summary>
    public (uint Type, uint Subtype)? AsType() =>
        Id == VfioUapi.RegionCapType && Payload.Length >= 8
            ? (BitConverter.ToUInt32(Payload, 0), BitConverter.ToUInt32(Payload, 4))
            : null;

    public static RegionCapability Type(uint type, uint subtype)
    {
        var payload = new byte[8];
        BitConverter.TryWriteBytes(payload.AsSpan(0, 4), type);
        BitConverter.TryWriteBytes(payload.AsSpan(4, 4), subtype);
        return new RegionCapability(VfioUapi.RegionCapType, 1, payload);
    }

    public static RegionCapability HeaderOnly(ushort id) => new(id, 1, Array.Empty<byte>());
}
