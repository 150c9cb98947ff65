using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VfioMigration.Backends.Simulated;
using VfioMigration.Protocol;
using VfioMigration.Transport;
using static VfioMigration.Protocol.VfioUapi;

namespace VfioMigration.Tests;

/// <summary>Conformance checklist, docs/protocol.md §8.5 (device DMA logging, features 6–8). Ranges and bitmaps are user pointers.</summary>
public sealed class ConformanceDmaLoggingTests : IDisposable
{
    private readonly List<IntPtr> _allocations = new();

    private IntPtr Native(byte[] bytes)
    {
        var p = Marshal.AllocHGlobal(Math.Max(bytes.Length, 8));
        Marshal.Copy(bytes, 0, p, bytes.Length);
        _allocations.Add(p);
        return p;
    }

    private int Start(IVfioDeviceTransport t, ulong pageSize, params (ulong Iova, ulong Length)[] ranges) => Start(t, pageSize, (uint)ranges.Length, ranges);

    private int Start(IVfioDeviceTransport t, ulong pageSize, uint count, (ulong Iova, ulong Length)[] ranges)
    {
        var raw = new byte[Math.Max(1, ranges.Length) * 16];
        for (int i = 0; i < ranges.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(i * 16), ranges[i].Iova);
            BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(i * 16 + 8), ranges[i].Length);
        }
        var ptr = Native(raw);
        return Sim.Feature(t, FeatureSet | FeatureDmaLoggingStart, 24, fill: b =>
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), pageSize);
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), count);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), (ulong)ptr);
        }).Rc;
    }

    private (int Rc, ulong[] Bitmap) Report(IVfioDeviceTransport t, ulong iova, ulong length, ulong pageSize, ulong[]? preset = null)
    {
        int words = (int)Math.Max(1, (length / Math.Max(pageSize, 1) + 63) / 64);
        var bitmap = preset ?? new ulong[words];
        var bytes = new byte[bitmap.Length * 8];
        Buffer.BlockCopy(bitmap, 0, bytes, 0, bytes.Length);
        var ptr = Native(bytes);
        int rc = Sim.Feature(t, FeatureGet | FeatureDmaLoggingReport, 32, fill: b =>
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), iova);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), length);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), pageSize);
            BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32), (ulong)ptr);
        }).Rc;
        Marshal.Copy(ptr, bytes, 0, bytes.Length);
        var result = new ulong[bitmap.Length];
        Buffer.BlockCopy(bytes, 0, result, 0, bytes.Length);
        return (rc, result);
    }

    private static (SimulatedHost, SimulatedDevice) Logged() => Sim.One(Sim.V2() with { DmaLogging = true, StepsPerAccess = 0 });

    [Fact]
    public void C42_StartValidatesItsRanges()
    {
        var (_, d) = Logged();
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Start(t, 4096, 0, Array.Empty<(ulong, ulong)>()));
        var many = Enumerable.Range(0, 257).Select(i => ((ulong)i * 8192, 4096UL)).ToArray();
        Assert.Equal(-Errno.E2BIG, Start(t, 4096, many));
        Assert.Equal(-Errno.EINVAL, Start(t, 4096, (100UL, 4096UL)));
        Assert.Equal(-Errno.EINVAL, Start(t, 4096, (0UL, 8192UL), (4096UL, 4096UL)));
        Assert.Equal(0, Start(t, 4096, (0UL, 1UL << 20)));
        Assert.True(Start(t, 4096, (0UL, 1UL << 20)) < 0, "a second START without STOP must fail");
        Assert.Equal(0, Sim.Feature(t, FeatureSet | FeatureDmaLoggingStop, 0).Rc);
        Assert.Equal(0, Start(t, 4096, (0UL, 1UL << 20)));
    }

    [Fact]
    public void C43_ReportValidatesPageSizeAndNeedsStart()
    {
        var (_, d) = Logged();
        using var t = d.Open();
        Assert.True(Report(t, 0, 1 << 20, 4096).Rc < 0, "REPORT before START must fail");
        Start(t, 4096, (0UL, 1UL << 20));
        Assert.Equal(-Errno.EINVAL, Report(t, 0, 1 << 20, 2048).Rc);
        Assert.Equal(-Errno.EINVAL, Report(t, 0, 1 << 20, 12288).Rc);
        Assert.Equal(0, Report(t, 0, 1 << 20, 4096).Rc);
    }

    [Fact]
    public void C44_ReportOnlySetsBitsAndClearsTheLog()
    {
        var (host, d) = Logged();
        using var t = d.Open();
        ulong size = (ulong)host.Guest.Size;
        Assert.Equal(0, Start(t, 4096, (0UL, size)));
        d.Advance(20);
        int pages = (int)(size / 4096);
        var preset = new ulong[(pages + 63) / 64];
        preset[^1] |= 1UL << 63;
        var (rc, bitmap) = Report(t, 0, size, 4096, preset);
        Assert.Equal(0, rc);
        Assert.True((bitmap[^1] & (1UL << 63)) != 0, "a bit the caller set must survive");
        int dirty = bitmap.Sum(w => System.Numerics.BitOperations.PopCount(w));
        Assert.InRange(dirty, 2, 21); // 20 DMA writes of 64 bytes, plus the preset bit
        var (_, again) = Report(t, 0, size, 4096);
        Assert.All(again, w => Assert.Equal(0UL, w));
    }

    [Fact]
    public void C45_DevicesWithoutLoggingAnswerEnottyAndProbeTellsThemApart()
    {
        var host = new SimulatedHost();
        using var plain = host.Add(Sim.V2()).Open();
        using var logged = host.Add(Sim.V2(address: "0000:01:00.1") with { DmaLogging = true }).Open();
        foreach (var f in new[] { FeatureDmaLoggingStart, FeatureDmaLoggingStop })
            Assert.Equal(-Errno.ENOTTY, Sim.Feature(plain, FeatureSet | f, 24).Rc);
        Assert.Equal(-Errno.ENOTTY, Sim.Feature(plain, FeatureGet | FeatureDmaLoggingReport, 32).Rc);
        Assert.Equal(-Errno.ENOTTY, Sim.Feature(plain, FeatureProbe | FeatureDmaLoggingStart, 0).Rc);
        Assert.Equal(0, Sim.Feature(logged, FeatureProbe | FeatureDmaLoggingStart, 0).Rc);
    }

    public void Dispose()
    {
        foreach (var p in _allocations) Marshal.FreeHGlobal(p);
    }
}
