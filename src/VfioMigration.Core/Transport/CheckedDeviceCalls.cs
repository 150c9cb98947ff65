using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Transport;

/// <summary>
/// Typed uAPI calls over a transport, for the drivers: builds the kernel's buffers, retries INFO calls whose
/// capability chain did not fit, and turns an unexpected errno into a <see cref="VfioCallException"/>.
/// </summary>
internal sealed class CheckedDeviceCalls
{
    public CheckedDeviceCalls(IVfioDeviceTransport transport) => Transport = transport;

    public IVfioDeviceTransport Transport { get; }
    public string Address => Transport.Address;

    public DeviceInfo GetDeviceInfo()
    {
        var b = new byte[VfioUapi.DeviceInfoSize];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)b.Length);
        Check(Transport.GetDeviceInfo(b), "VFIO_DEVICE_GET_INFO");
        return DeviceInfo.Parse(b);
    }

    /// <summary>Region info with its whole capability chain; null if the index does not exist (EINVAL).</summary>
    public RegionInfo? GetRegionInfo(uint index)
    {
        int size = RegionInfo.HeaderSize;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var b = new byte[size];
            BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)size);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), index);
            int rc = Transport.GetRegionInfo(b);
            if (rc == -Errno.EINVAL) return null;
            Check(rc, $"VFIO_DEVICE_GET_REGION_INFO({index})");
            uint needed = BinaryPrimitives.ReadUInt32LittleEndian(b);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4));
            uint capOffset = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(12));
            if ((flags & VfioUapi.RegionFlagCaps) != 0 && capOffset == 0 && needed > size)
            {
                size = (int)needed; // the chain did not fit: the kernel told us how much it needs
                continue;
            }
            return RegionInfo.Parse(b);
        }
        throw new VfioCallException(Address, $"VFIO_DEVICE_GET_REGION_INFO({index}) capability chain keeps growing", Errno.EOVERFLOW);
    }

    public uint ReadU32(long offset, string what) { Span<byte> b = stackalloc byte[4]; ReadExact(offset, b, what); return BinaryPrimitives.ReadUInt32LittleEndian(b); }
    public ulong ReadU64(long offset, string what) { Span<byte> b = stackalloc byte[8]; ReadExact(offset, b, what); return BinaryPrimitives.ReadUInt64LittleEndian(b); }
    public void WriteU64(long offset, ulong value, string what) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); WriteExact(offset, b, what); }

    /// <summary>Writes a u32; returns 0 or the negated errno (a refused state write is an answer, not a fault).</summary>
    public int TryWriteU32(long offset, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        int rc = Transport.Write(offset, b);
        return rc < 0 ? rc : rc == 4 ? 0 : -Errno.EIO;
    }

    public void ReadExact(long offset, Span<byte> buffer, string what)
    {
        int rc = Transport.Read(offset, buffer);
        Check(rc, $"read {what}");
        if (rc != buffer.Length) throw new VfioCallException(Address, $"short read of {what} ({rc} of {buffer.Length} bytes)", Errno.EIO);
    }

    public void WriteExact(long offset, ReadOnlySpan<byte> buffer, string what)
    {
        int rc = Transport.Write(offset, buffer);
        Check(rc, $"write {what}");
        if (rc != buffer.Length) throw new VfioCallException(Address, $"short write of {what} ({rc} of {buffer.Length} bytes)", Errno.EIO);
    }

    /// <summary>A feature GET with a payload of <paramref name="payloadSize"/> bytes; returns the buffer, or the errno.</summary>
    public (byte[] Buffer, int Rc) FeatureGet(uint feature, int payloadSize)
    {
        var b = DeviceFeatureBuffer.Create(feature, VfioUapi.FeatureGet, payloadSize);
        return (b, Transport.Feature(b));
    }

    public void Check(int rc, string operation)
    {
        if (rc < 0) throw new VfioCallException(Address, operation, -rc);
    }
}
