using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Tests;

/// <summary>Test fixtures: simulated devices, open transports, drivers, and raw uAPI buffers.</summary>
internal static class Sim
{
    public const MigrationCapabilities All = MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy;

    public static readonly MigrationCapabilities[] V2FlagSets =
    {
        MigrationCapabilities.StopCopy,
        MigrationCapabilities.StopCopy | MigrationCapabilities.P2P,
        MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy,
        All,
    };

    public static (SimulatedHost Host, SimulatedDevice Device) One(SimulatedDeviceOptions options)
    {
        var host = new SimulatedHost();
        return (host, host.Add(options));
    }

    public static SimulatedDeviceOptions V2(MigrationCapabilities flags = All, string address = "0000:01:00.0", long memory = 64 * 1024, ulong seed = 7) =>
        new() { Address = address, Protocol = MigrationProtocol.V2, Capabilities = flags, MemorySize = memory, Seed = seed };

    public static SimulatedDeviceOptions V1(bool ndma = false, string address = "0000:02:00.0", long memory = 64 * 1024, ulong seed = 9, bool strict = false) =>
        new() { Address = address, Protocol = MigrationProtocol.V1, Capabilities = ndma ? MigrationCapabilities.Ndma : MigrationCapabilities.None, MemorySize = memory, Seed = seed, StrictV1 = strict };

    public static SimulatedDeviceOptions Ccw(string address = "0.0.0100", ulong seed = 11, MigrationProtocol protocol = MigrationProtocol.V2) =>
        new() { Address = address, Kind = SimulatedDeviceKind.Ccw, Protocol = protocol, Capabilities = protocol == MigrationProtocol.V2 ? MigrationCapabilities.StopCopy : MigrationCapabilities.None, MemorySize = 64 * 1024, Seed = seed, Driver = "vfio_ccw" };

    public static IDeviceMigration Driver(IVfioDeviceTransport t) => MigrationDriverFactory.Open(t, NullLoggerFactory.Instance);

    /// <summary>A raw VFIO_DEVICE_FEATURE call: returns rc and the buffer as the device left it.</summary>
    public static (int Rc, byte[] Buffer) Feature(IVfioDeviceTransport t, uint flags, int payload, uint? argsz = null, Action<byte[]>? fill = null)
    {
        var b = new byte[VfioUapi.FeatureHeaderSize + payload];
        BinaryPrimitives.WriteUInt32LittleEndian(b, argsz ?? (uint)b.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), flags);
        fill?.Invoke(b);
        return (t.Feature(b), b);
    }

    /// <summary>SET MIG_DEVICE_STATE; returns rc, the state field and the data_fd field as copied back.</summary>
    public static (int Rc, uint State, int Fd) Set(IVfioDeviceTransport t, MigrationState target) => Set(t, (uint)target);

    public static (int Rc, uint State, int Fd) Set(IVfioDeviceTransport t, uint target)
    {
        var (rc, b) = Feature(t, VfioUapi.FeatureSet | VfioUapi.FeatureMigDeviceState, 8, fill: x =>
        {
            BinaryPrimitives.WriteUInt32LittleEndian(x.AsSpan(8), target);
            BinaryPrimitives.WriteInt32LittleEndian(x.AsSpan(12), 12345);
        });
        return (rc, DeviceFeatureBuffer.ReadDeviceState(b), DeviceFeatureBuffer.ReadDataFd(b));
    }

    public static MigrationState Get(IVfioDeviceTransport t)
    {
        var (rc, b) = Feature(t, VfioUapi.FeatureGet | VfioUapi.FeatureMigDeviceState, 8);
        Assert.Equal(0, rc);
        return (MigrationState)DeviceFeatureBuffer.ReadDeviceState(b);
    }

    /// <summary>A complete STOP_COPY stream from a fresh device built with <paramref name="options"/>.</summary>
    public static byte[] SavedStream(SimulatedDeviceOptions options)
    {
        var (_, twin) = One(options);
        using var t = twin.Open();
        var (rc, _, fd) = Set(t, MigrationState.StopCopy);
        Assert.Equal(0, rc);
        using var ch = t.AdoptDataChannel(fd);
        return ReadToEnd(ch);
    }

    /// <summary>Reads a save fd to its end (STOP_COPY) and returns the bytes.</summary>
    public static byte[] ReadToEnd(IMigrationDataChannel channel, int chunk = 65536)
    {
        var ms = new MemoryStream();
        var buf = new byte[chunk];
        int n;
        while ((n = channel.Read(buf)) > 0) ms.Write(buf, 0, n);
        Assert.Equal(0, n);
        return ms.ToArray();
    }

    /// <summary>The device's complete internal state: registers, counters, workload position, and memory.</summary>
    public static void AssertSameDeviceState(SimulatedDevice expected, SimulatedDevice actual)
    {
        Assert.Equal(expected.Model.CaptureState(), actual.Model.CaptureState());
        Assert.True(expected.Model.Memory.ContentEquals(actual.Model.Memory), "device memory differs");
    }

    // v1 region access at the migration region (index 9 on PCI, 4 on ccw: both use index << 40).
    public static long V1Base(SimulatedDevice d) => (long)(d.Options.Kind == SimulatedDeviceKind.Pci ? VfioUapi.PciNumRegions : 4) << 40;

    public static int WriteU32(IVfioDeviceTransport t, long offset, uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return t.Write(offset, b);
    }

    public static (int Rc, ulong Value) ReadU64Raw(IVfioDeviceTransport t, long offset)
    {
        var b = new byte[8];
        int rc = t.Read(offset, b);
        return (rc, BinaryPrimitives.ReadUInt64LittleEndian(b));
    }

    /// <summary>A u64 register read that must succeed; Value is the register.</summary>
    public static (int Rc, ulong Value) ReadU64(IVfioDeviceTransport t, long offset)
    {
        var r = ReadU64Raw(t, offset);
        Assert.Equal(8, r.Rc);
        return r;
    }

    public static uint ReadU32(IVfioDeviceTransport t, long offset)
    {
        var b = new byte[4];
        Assert.Equal(4, t.Read(offset, b));
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }
}
