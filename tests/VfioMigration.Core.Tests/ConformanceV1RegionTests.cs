using System.Buffers.Binary;
using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Transport;

using L = VfioMigration.Protocol.MigrationRegionLayout;

namespace VfioMigration.Tests;

/// <summary>Conformance checklist, docs/protocol.md §8.6 (v1 migration region) and docs/protocol.md §8.7 (NDMA), at the byte level.</summary>
public class ConformanceV1RegionTests
{
    private static (SimulatedHost Host, SimulatedDevice Device, IVfioDeviceTransport T, long Base) Open(bool ndma = false, bool strict = false, int steps = 1, long memory = 64 * 1024)
    {
        var (host, d) = Sim.One(Sim.V1(ndma, strict: strict, memory: memory) with { StepsPerAccess = steps });
        return (host, d, d.Open(), Sim.V1Base(d));
    }

    private static uint State(IVfioDeviceTransport t, long b) => Sim.ReadU32(t, b + L.DeviceStateOffset);
    private static int SetBits(IVfioDeviceTransport t, long b, uint v) => Sim.WriteU32(t, b + L.DeviceStateOffset, v);

    [Fact]
    public void C46_TheRegionIsFoundByItsTypeCapabilityAndIsBigEnough()
    {
        var (_, _, t, b) = Open();
        var region = new CheckedDeviceCalls(t).GetRegionInfo(VfioUapi.PciNumRegions)!;
        Assert.Equal((VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration), region.RegionType!.Value);
        Assert.True(region.CanRead && region.CanWrite && region.HasCaps);
        Assert.True(region.Size > (ulong)L.RegisterBlockSize);
        Assert.Equal((ulong)b, region.Offset);
        var driver = Assert.IsType<V1MigrationDriver>(Sim.Driver(t));
        Assert.Equal(region.Offset, driver.Region.Offset);
    }

    [Fact]
    public void C47_WrongWidthsAndMisalignedAccessesAreEinval()
    {
        var (_, _, t, b) = Open();
        Assert.Equal(-Errno.EINVAL, t.Read(b, new byte[8]));
        Assert.Equal(-Errno.EINVAL, t.Read(b, new byte[2]));
        Assert.Equal(-Errno.EINVAL, t.Write(b, new byte[8]));
        Assert.Equal(-Errno.EINVAL, t.Read(b + L.PendingBytesOffset, new byte[4]));
        Assert.Equal(-Errno.EINVAL, t.Read(b + 9, new byte[8]));
        Assert.Equal(-Errno.EINVAL, t.Read(b + L.DataSizeOffset, new byte[4]));
    }

    [Fact]
    public void C48_ReservedReadsZeroIgnoresWritesAndReadOnlyFieldsRefuseWrites()
    {
        var (_, _, t, b) = Open();
        Assert.Equal(4, Sim.WriteU32(t, b + L.ReservedOffset, 0xdeadbeef));
        Assert.Equal(0u, Sim.ReadU32(t, b + L.ReservedOffset));
        Assert.Equal(-Errno.EINVAL, t.Write(b + L.PendingBytesOffset, new byte[8]));
        Assert.Equal(-Errno.EINVAL, t.Write(b + L.DataOffsetOffset, new byte[8]));
    }

    [Fact]
    public void C49_DefaultStateIsRunningAfterOpenAndAfterReset()
    {
        var (_, _, t, b) = Open();
        Assert.Equal(0x1u, State(t, b));
        Assert.Equal(4, SetBits(t, b, 0x2));
        Assert.Equal(0, t.Reset());
        Assert.Equal(0x1u, State(t, b));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void C50_InvalidValuesAreRefusedAndNdmaValuesNeedTheCapability(bool ndma)
    {
        var (_, _, t, b) = Open(ndma);
        foreach (uint v in new uint[] { 0x5, 0x6, 0x7, 0xD, 0xE, 0xF })
        {
            Assert.Equal(-Errno.EINVAL, SetBits(t, b, v));
            Assert.Equal(0x1u, State(t, b));
        }
        foreach (uint v in new uint[] { 0x9, 0x8, 0xA, 0xB, 0xC })
        {
            Assert.Equal(ndma ? 4 : -Errno.EINVAL, SetBits(t, b, v));
            Assert.Equal(ndma ? v : 0x1u, State(t, b));
            if (ndma) Assert.Equal(0, t.Reset());
        }
    }

    [Fact]
    public void C51_EveryValidToValidTransitionSucceedsInRfcMode()
    {
        uint[] valid = { 0x0, 0x1, 0x2, 0x3, 0x4, 0x8, 0x9, 0xA, 0xB, 0xC };
        var options = Sim.V1(ndma: true) with { StepsPerAccess = 0 };
        var stream = V1Stream(options);
        foreach (uint from in valid)
            foreach (uint to in valid)
            {
                var (_, d) = Sim.One(options);
                using var t = d.Open();
                long b = Sim.V1Base(d);
                Assert.Equal(4, SetBits(t, b, from));
                if ((from & 0x4) != 0 && (to & 0x4) == 0) ReplaySegments(t, b, stream);
                Assert.True(SetBits(t, b, to) == 4, $"0x{from:X} -> 0x{to:X} refused");
                Assert.Equal(to, State(t, b));
            }
    }

    [Fact]
    public void C51_StrictModeReproducesTheLibvfioUserTable()
    {
        var allowed = new Dictionary<uint, uint[]>
        {
            [0x0] = new uint[] { 0x0, 0x1 },
            [0x1] = new uint[] { 0x0, 0x1, 0x2, 0x3, 0x4 },
            [0x2] = new uint[] { 0x0, 0x1, 0x2 },
            [0x3] = new uint[] { 0x0, 0x1, 0x2 },
            [0x4] = new uint[] { 0x1, 0x4 },
        };
        var options = Sim.V1(strict: true) with { StepsPerAccess = 0 };
        var stream = V1Stream(options);
        foreach (var (from, oks) in allowed)
            foreach (uint to in new uint[] { 0, 1, 2, 3, 4 })
            {
                var (_, d) = Sim.One(options);
                using var t = d.Open();
                long b = Sim.V1Base(d);
                if (from != 0x1)
                {
                    // reach 'from' through Running, which the strict table always allows
                    Assert.Equal(4, SetBits(t, b, from));
                }
                if (from == 0x4 && to != 0x4) ReplaySegments(t, b, stream);
                int rc = SetBits(t, b, to);
                Assert.True(oks.Contains(to) ? rc == 4 : rc == -Errno.EINVAL, $"strict 0x{from:X} -> 0x{to:X}: {rc}");
            }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void C52_FailedTransitionLeavesThePreviousStateOrErrorAndOnlyResetLeavesError(bool enterError)
    {
        var (_, d, t, b) = Open();
        d.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { EnterError = enterError });
        Assert.Equal(-Errno.EIO, SetBits(t, b, 0x2));
        Assert.Equal(enterError ? 0x6u : 0x1u, State(t, b));
        if (!enterError) return;
        foreach (uint v in new uint[] { 0x0, 0x1, 0x2, 0x4 }) Assert.Equal(-Errno.EINVAL, SetBits(t, b, v));
        Assert.Equal(0, t.Reset());
        Assert.Equal(0x1u, State(t, b));
    }

    [Fact]
    public void C53_PendingBytesHasNoSideEffectsAndSegmentRereadsAreStable()
    {
        var (_, _, t, b) = Open(steps: 0);
        Assert.Equal(4, SetBits(t, b, 0x2));
        var p1 = Sim.ReadU64(t, b + L.PendingBytesOffset);
        var p2 = Sim.ReadU64(t, b + L.PendingBytesOffset);
        Assert.Equal(p1, p2);
        var off1 = Sim.ReadU64(t, b + L.DataOffsetOffset);
        var size1 = Sim.ReadU64(t, b + L.DataSizeOffset);
        var off2 = Sim.ReadU64(t, b + L.DataOffsetOffset);
        var size2 = Sim.ReadU64(t, b + L.DataSizeOffset);
        Assert.Equal((off1, size1), (off2, size2));
        var data = new byte[size1.Value];
        Assert.Equal(data.Length, t.Read(b + (long)off1.Value, data));
        var p3 = Sim.ReadU64(t, b + L.PendingBytesOffset);
        Assert.True(p3.Value < p1.Value, "the next pending_bytes read acknowledges the segment");
    }

    [Fact]
    public void C54_DataOffsetFollowsTheRegistersAndIsPageAligned()
    {
        var (_, _, t, b) = Open();
        Assert.Equal(4, SetBits(t, b, 0x2));
        Sim.ReadU64(t, b + L.PendingBytesOffset);
        ulong off = Sim.ReadU64(t, b + L.DataOffsetOffset).Value;
        Assert.True(off >= (ulong)L.RegisterBlockSize);
        Assert.Equal(0UL, off % 4096);
    }

    [Fact]
    public void C55_C56_PendingZeroInPreCopyIsNotTheEndAndStopCopyMayStartWithDataPending()
    {
        var (_, _, t, b) = Open(steps: 0, memory: 512 * 1024);
        Assert.Equal(4, SetBits(t, b, 0x3));
        // read a few segments, then switch while data is still pending
        for (int i = 0; i < 2; i++) DrainOneSegment(t, b);
        Assert.True(Sim.ReadU64(t, b + L.PendingBytesOffset).Value > 0);
        Assert.Equal(4, SetBits(t, b, 0x3)); // same state, still pre-copy
        while (Sim.ReadU64(t, b + L.PendingBytesOffset).Value > 0) DrainOneSegment(t, b);
        Assert.Equal(0UL, Sim.ReadU64(t, b + L.PendingBytesOffset).Value); // zero while RUNNING: not complete
        Assert.Equal(4, SetBits(t, b, 0x2));
        Assert.True(Sim.ReadU64(t, b + L.PendingBytesOffset).Value > 0, "stop-copy still has the device state to send");
        while (Sim.ReadU64(t, b + L.PendingBytesOffset).Value > 0) DrainOneSegment(t, b);
        Assert.Equal(4, SetBits(t, b, 0x0));
    }

    [Fact]
    public void C57_ReplayingSegmentsInOrderAndSizeGivesAnIdenticalDevice()
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.V1(seed: 5));
        var bdev = host.Add(Sim.V1(address: "0000:02:00.1", seed: 6));
        a.Advance(200);
        using var ta = a.Open();
        using var tb = bdev.Open();
        var stream = new MemoryStream();
        using (var driver = Sim.Driver(ta)) DeviceStateSaver.Save(driver, stream, new SaveOptions());
        stream.Position = 0;
        using (var driver = Sim.Driver(tb)) DeviceStateRestorer.Restore(driver, stream);
        Sim.AssertSameDeviceState(a, bdev);
        Assert.Equal(0x0u, bdev.V1DeviceState);
    }

    [Fact]
    public void C58_StrictDeviceRejectsASegmentOfAnotherSize()
    {
        var options = Sim.V1(strict: true) with { StepsPerAccess = 0 };
        var segments = V1Stream(options);
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        long b = Sim.V1Base(d);
        Assert.Equal(4, SetBits(t, b, 0x4));
        var first = segments[0];
        ulong off = Sim.ReadU64(t, b + L.DataOffsetOffset).Value;
        Assert.Equal(first.Length, t.Write(b + (long)off, first));
        var half = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(half, (ulong)first.Length / 2);
        Assert.Equal(-Errno.EINVAL, t.Write(b + L.DataSizeOffset, half));
    }

    [Fact]
    public void C59_ClearingSavingEndsTheStreamAndSettingItAgainStartsOver()
    {
        var (_, _, t, b) = Open(steps: 0);
        Assert.Equal(4, SetBits(t, b, 0x2));
        var first = DrainOneSegment(t, b);
        DrainOneSegment(t, b);
        Assert.Equal(4, SetBits(t, b, 0x0));
        Assert.Equal(-Errno.EINVAL, t.Read(b + L.PendingBytesOffset, new byte[8]));
        Assert.Equal(4, SetBits(t, b, 0x2));
        Assert.Equal(first, DrainOneSegment(t, b));
    }

    [Fact]
    public void C60_ReservedBitsArePreservedAndTheDriverReadModifyWrites()
    {
        var (_, d, t, b) = Open();
        Assert.Equal(4, SetBits(t, b, 0x0001_0001));
        Assert.Equal(0x0001_0001u, State(t, b));
        using var driver = Sim.Driver(t);
        driver.RequestState(MigrationState.Stop);
        Assert.Equal(0x0001_0000u, d.V1DeviceState);
    }

    [Fact]
    public void C61_NdmaCapabilityIsInTheChainOnlyWhenEnabled()
    {
        var (_, _, t, _) = Open(ndma: true);
        var (_, _, t2, b2) = Open(ndma: false);
        Assert.True(new CheckedDeviceCalls(t).GetRegionInfo(VfioUapi.PciNumRegions)!.Has(VfioUapi.RegionCapMigrationNdma));
        Assert.False(new CheckedDeviceCalls(t2).GetRegionInfo(VfioUapi.PciNumRegions)!.Has(VfioUapi.RegionCapMigrationNdma));
        Assert.Equal(-Errno.EINVAL, SetBits(t2, b2, 0x9));
    }

    [Fact]
    public void C62_NdmaStopsNewDmaCompletesInFlightAndRunningResumesIt()
    {
        var (host, d, t, b) = Open(ndma: true, steps: 0);
        d.Advance(5);
        Assert.True(d.Model.InFlightWrites > 0);
        Assert.Equal(4, SetBits(t, b, 0x9));
        Assert.Equal(0, d.Model.InFlightWrites);
        long dma = host.Guest.DmaWrites;
        ulong steps = d.Model.Steps;
        d.Advance(20);
        Assert.Equal(dma, host.Guest.DmaWrites);
        Assert.Equal(steps + 20, d.Model.Steps); // still running internally
        Assert.Equal(4, SetBits(t, b, 0x1));
        d.Advance(5);
        Assert.True(host.Guest.DmaWrites > dma);
    }

    [Fact]
    public void C63_NdmaWithoutRunningBehavesLikeTheStateWithoutNdma()
    {
        var (_, d, t, b) = Open(ndma: true, steps: 0);
        Assert.Equal(4, SetBits(t, b, 0x8));
        var state = d.Model.CaptureState();
        d.Advance(10);
        Assert.Equal(state, d.Model.CaptureState()); // like 0x0: frozen
        Assert.Equal(4, SetBits(t, b, 0xA));
        Assert.True(Sim.ReadU64(t, b + L.PendingBytesOffset).Value > 0); // like 0x2: saving
        Assert.Equal(4, SetBits(t, b, 0x8));
        Assert.Equal(4, SetBits(t, b, 0xC));
        Assert.Equal(MigrationState.Resuming, d.MigrationState); // like 0x4
    }

    // ---- helpers: raw v1 save/resume loops ----

    private static byte[] DrainOneSegment(IVfioDeviceTransport t, long b)
    {
        ulong off = Sim.ReadU64(t, b + L.DataOffsetOffset).Value;
        ulong size = Sim.ReadU64(t, b + L.DataSizeOffset).Value;
        var data = new byte[size];
        Assert.Equal(data.Length, t.Read(b + (long)off, data));
        Sim.ReadU64(t, b + L.PendingBytesOffset);
        return data;
    }

    /// <summary>A complete stop-copy save of a fresh device, as the list of its segments.</summary>
    private static List<byte[]> V1Stream(SimulatedDeviceOptions options)
    {
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        long b = Sim.V1Base(d);
        Assert.Equal(4, SetBits(t, b, 0x2));
        var segments = new List<byte[]>();
        while (Sim.ReadU64(t, b + L.PendingBytesOffset).Value > 0)
        {
            ulong off = Sim.ReadU64(t, b + L.DataOffsetOffset).Value;
            var data = new byte[Sim.ReadU64(t, b + L.DataSizeOffset).Value];
            Assert.Equal(data.Length, t.Read(b + (long)off, data));
            segments.Add(data);
        }
        return segments;
    }

    private static void ReplaySegments(IVfioDeviceTransport t, long b, List<byte[]> segments)
    {
        foreach (var s in segments)
        {
            ulong off = Sim.ReadU64(t, b + L.DataOffsetOffset).Value;
            Assert.Equal(s.Length, t.Write(b + (long)off, s));
            var size = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(size, (ulong)s.Length);
            Assert.Equal(8, t.Write(b + L.DataSizeOffset, size));
        }
    }
}
