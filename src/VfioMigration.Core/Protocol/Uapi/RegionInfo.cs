using System.Buffers.Binary;

namespace VfioMigration.Protocol.Uapi;

/// <summary>
/// <c>struct vfio_region_info</c> (32 bytes) with its capability chain (docs/protocol.md §4.2–4.3). The chain's
/// <c>next</c> offsets count from the start of the whole info buffer.
/// </summary>
internal sealed record RegionInfo(uint Index, uint Flags, ulong Size, ulong Offset, IReadOnlyList<RegionCapability> Capabilities)
{
    public const int HeaderSize = VfioUapi.RegionInfoSize;
    private const int CapHeaderSize = 8;

    public bool CanRead => (Flags & VfioUapi.RegionFlagRead) != 0;
    public bool CanWrite => (Flags & VfioUapi.RegionFlagWrite) != 0;
    public bool HasCaps => (Flags & VfioUapi.RegionFlagCaps) != 0;

    public (uint Type, uint Subtype)? RegionType =>
        Capabilities.Select(c => c.AsType()).FirstOrDefault(t => t is not null);

    public bool Has(ushort capabilityId) => Capabilities.Any(c => c.Id == capabilityId);

    /// <summary>Bytes the info struct plus its whole chain needs.</summary>
    public int EncodedSize => HeaderSize + Capabilities.Sum(c => CapHeaderSize + Align8(c.Payload.Length));

    /// <summary>
    /// Answers a GET_REGION_INFO into <paramref name="buffer"/> as the kernel does: if the chain does not fit in the
    /// caller's argsz, the fixed part is written with CAPS set, cap_offset 0 and argsz raised to the size needed.
    /// </summary>
    public void WriteTo(Span<byte> buffer)
    {
        uint argsz = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        uint flags = Flags | (Capabilities.Count > 0 ? VfioUapi.RegionFlagCaps : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[8..], Index);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[12..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[16..], Size);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[24..], Offset);
        if (Capabilities.Count == 0) return;
        int needed = EncodedSize;
        if (argsz < needed || buffer.Length < needed)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)needed);
            return;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[12..], HeaderSize);
        int at = HeaderSize;
        for (int i = 0; i < Capabilities.Count; i++)
        {
            var cap = Capabilities[i];
            int size = CapHeaderSize + Align8(cap.Payload.Length);
            int next = i + 1 < Capabilities.Count ? at + size : 0;
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[at..], cap.Id);
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[(at + 2)..], cap.Version);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer[(at + 4)..], (uint)next);
            cap.Payload.CopyTo(buffer[(at + CapHeaderSize)..]);
            at += size;
        }
    }

    /// <summary>Parses an answered GET_REGION_INFO buffer, walking the chain with loop and bounds checks.</summary>
    public static RegionInfo Parse(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < HeaderSize) throw new FormatException($"region info needs {HeaderSize} bytes, got {buffer.Length}");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(buffer[4..]);
        uint index = BinaryPrimitives.ReadUInt32LittleEndian(buffer[8..]);
        uint capOffset = BinaryPrimitives.ReadUInt32LittleEndian(buffer[12..]);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(buffer[16..]);
        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(buffer[24..]);
        var caps = new List<RegionCapability>();
        var seen = new HashSet<uint>();
        uint at = (flags & VfioUapi.RegionFlagCaps) != 0 ? capOffset : 0;
        while (at != 0)
        {
            if (at < HeaderSize || at + CapHeaderSize > buffer.Length || !seen.Add(at))
                throw new FormatException($"region {index}: capability chain points outside the buffer or loops (offset {at})");
            ushort id = BinaryPrimitives.ReadUInt16LittleEndian(buffer[(int)at..]);
            ushort version = BinaryPrimitives.ReadUInt16LittleEndian(buffer[((int)at + 2)..]);
            uint next = BinaryPrimitives.ReadUInt32LittleEndian(buffer[((int)at + 4)..]);
            int payloadEnd = next != 0 && next > at ? (int)Math.Min(next, (uint)buffer.Length) : buffer.Length;
            var payload = buffer[((int)at + CapHeaderSize)..Math.Max(payloadEnd, (int)at + CapHeaderSize)].ToArray();
            caps.Add(new RegionCapability(id, version, payload));
            at = next;
        }
        return new RegionInfo(index, flags, size, offset, caps);
    }

    private static int Align8(int n) => (n + 7) & ~7;
}
