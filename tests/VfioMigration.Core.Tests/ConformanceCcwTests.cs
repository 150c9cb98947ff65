using System.Buffers.Binary;
using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Transport;
using static VfioMigration.Protocol.MigrationState;

namespace VfioMigration.Tests;

/// <summary>Conformance checklist, docs/protocol.md §8.8 (s390 ccw subchannels): quiescing waits for channel programs.</summary>
public class ConformanceCcwTests
{
    private const long Io = 0L << 40, Cmd = 1L << 40, Schib = 2L << 40, Crw = 3L << 40;

    /// <summary>Writes an ORB (intparm, flags) and a SCSW with the given function control through the I/O region.</summary>
    private static int Start(IVfioDeviceTransport t, uint intparm, uint fctl = 4, bool transportMode = false)
    {
        var region = new byte[SimulatedCcwModel.IoRegionSize];
        BinaryPrimitives.WriteUInt32BigEndian(region, intparm);
        BinaryPrimitives.WriteUInt32BigEndian(region.AsSpan(4), transportMode ? 1u << 18 : 0);
        BinaryPrimitives.WriteUInt32BigEndian(region.AsSpan(SimulatedCcwModel.ScswOffset), fctl << 12);
        return t.Write(Io, region);
    }

    private static int RetCode(IVfioDeviceTransport t)
    {
        var b = new byte[4];
        Assert.Equal(4, t.Read(Io + SimulatedCcwModel.RetCodeOffset, b));
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    private static (SimulatedDevice Device, SimulatedCcwModel Model, IVfioDeviceTransport T) Quiet(bool errorOnFailure = false)
    {
        var (_, d) = Sim.One(Sim.Ccw() with { StepsPerAccess = 0, FailedTransitionEntersError = errorOnFailure });
        return (d, (SimulatedCcwModel)d.Model, d.Open());
    }

    [Fact]
    public void C64_StoppingWaitsForTheProgramInFlightToPostItsFinalInterrupt()
    {
        var (_, m, t) = Quiet();
        Assert.Equal(SimulatedCcwModel.IoRegionSize, Start(t, 0x1234));
        Assert.NotEqual(SubchannelActivity.Idle, m.Activity);
        ulong interrupts = m.IoInterrupts;
        Assert.Equal(0, Sim.Set(t, Stop).Rc);
        Assert.Equal(SubchannelActivity.Idle, m.Activity);
        Assert.Equal(interrupts + 1, m.IoInterrupts);
        Assert.True(m.LastQuiesceWaitMicros > 0, "the stop had to wait for the program");
        var irb = new byte[12];
        Assert.Equal(12, t.Read(Io + SimulatedCcwModel.IrbOffset, irb));
        Assert.Equal(0x1234u, BinaryPrimitives.ReadUInt32BigEndian(irb.AsSpan(4)));
        Assert.Equal(0x0C00_0000u, BinaryPrimitives.ReadUInt32BigEndian(irb.AsSpan(8))); // channel end + device end
    }

    [Fact]
    public void C64_EveryStoppedTargetWaitsThroughTheDriverToo()
    {
        foreach (var target in new[] { Stop, StopCopy, Resuming })
        {
            var (_, m, t) = Quiet();
            using var driver = Sim.Driver(t);
            Start(t, 7);
            driver.RequestState(target);
            Assert.Equal(SubchannelActivity.Idle, m.Activity);
            Assert.Equal(1UL, m.ProgramsCompleted);
        }
    }

    [Fact]
    public void C65_StartsAreRefusedWhileStoppedAndNothingReachesTheChannel_HaltAndClearAreEbusy()
    {
        var (_, m, t) = Quiet();
        Assert.Equal(0, Sim.Set(t, Stop).Rc);
        ulong started = m.ProgramsStarted;
        Assert.Equal(-Errno.EIO, Start(t, 1));
        Assert.Equal(-Errno.EIO, RetCode(t));
        Assert.Equal(started, m.ProgramsStarted);
        var cmd = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(cmd, SimulatedCcwModel.CommandHalt);
        Assert.Equal(-Errno.EBUSY, t.Write(Cmd, cmd));
        BinaryPrimitives.WriteUInt32LittleEndian(cmd, SimulatedCcwModel.CommandClear);
        Assert.Equal(-Errno.EBUSY, t.Write(Cmd, cmd));
        Assert.Equal(0, Sim.Set(t, Running).Rc);
        Assert.Equal(SimulatedCcwModel.IoRegionSize, Start(t, 2));
        Assert.Equal(started + 1, m.ProgramsStarted);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void C66_AProgramThatOutlastsTheTimeoutFailsTheTransitionInsteadOfHanging(bool enterError)
    {
        var (d, m, t) = Quiet(enterError);
        m.NextProgramHangs = true;
        Start(t, 9);
        using var driver = Sim.Driver(t);
        var e = Assert.Throws<MigrationTransitionException>(() => driver.RequestState(Stop));
        Assert.Equal(Errno.ETIMEDOUT, e.Errno);
        Assert.Equal(enterError ? Error : Running, e.StateNow);
        Assert.Equal(enterError ? Error : Running, d.MigrationState);
        Assert.Contains("ETIMEDOUT", e.Message);
    }

    [Fact]
    public void C67_StartWhileProcessingIsEagainWhilePendingEbusyTransportModeAndHaltViaIoRegionEopnotsupp()
    {
        var (d, m, t) = Quiet();
        Assert.Equal(-Errno.EOPNOTSUPP, Start(t, 1, transportMode: true));
        Assert.Equal(SimulatedCcwModel.IoRegionSize, Start(t, 1));
        Assert.Equal(SubchannelActivity.CpProcessing, m.Activity);
        Assert.Equal(-Errno.EAGAIN, Start(t, 2));
        d.Advance(1);
        Assert.Equal(SubchannelActivity.CpPending, m.Activity);
        Assert.Equal(-Errno.EBUSY, Start(t, 3));
        Assert.Equal(-Errno.EOPNOTSUPP, Start(t, 4, fctl: 2));
        Assert.Equal(-Errno.EOPNOTSUPP, Start(t, 4, fctl: 1));
        var cmd = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(cmd, SimulatedCcwModel.CommandHalt);
        Assert.Equal(8, t.Write(Cmd, cmd));
        Assert.Equal(SubchannelActivity.Idle, m.Activity);
    }

    [Fact]
    public void C68_SubchannelStateTravelsWithTheDevice()
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.Ccw(seed: 1));
        var b = host.Add(Sim.Ccw("0.0.0101", seed: 2));
        a.Advance(50);
        var am = (SimulatedCcwModel)a.Model;
        Assert.NotEmpty(am.PendingCrws);
        using var ta = a.Open();
        using var tb = b.Open();
        var stream = new MemoryStream();
        using (var da = Sim.Driver(ta)) DeviceStateSaver.Save(da, stream, new SaveOptions());
        var schibA = new byte[SimulatedCcwModel.SchibSize];
        Assert.Equal(schibA.Length, ta.Read(Schib, schibA));
        stream.Position = 0;
        using (var db = Sim.Driver(tb)) DeviceStateRestorer.Restore(db, stream);
        Sim.AssertSameDeviceState(a, b);
        var schibB = new byte[SimulatedCcwModel.SchibSize];
        Assert.Equal(schibB.Length, tb.Read(Schib, schibB));
        Assert.Equal(schibA, schibB);
        foreach (var expected in am.PendingCrws.ToArray())
        {
            var crw = new byte[8];
            Assert.Equal(8, tb.Read(Crw, crw));
            Assert.Equal(expected, BinaryPrimitives.ReadUInt32BigEndian(crw));
        }
        var none = new byte[8];
        tb.Read(Crw, none);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(none));
    }
}
