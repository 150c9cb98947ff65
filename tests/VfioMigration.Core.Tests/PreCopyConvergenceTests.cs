using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// Pre-copy rounds count data moved, not reads: "no data right now" (ENOMSG, or 0) waits and asks again instead
/// of burning a round; the downtime limit never ends pre-copy while the device still reports initial bytes.
/// </summary>
public sealed class PreCopyConvergenceTests
{
    private const int Memory = 256 * 1024, Chunk = 16 * 1024;

    private static (SaveReport Report, SimulatedDevice Device) LiveSave(int nthReadFails, SaveOptions options)
    {
        var (_, d) = Sim.One(Sim.V2(memory: Memory));
        d.Faults.Arm(new FaultRule(FaultPoint.StreamRead, nthReadFails, Errno.ENOMSG));
        var t = d.Open();
        var driver = Sim.Driver(t);
        var report = DeviceStateSaver.Save(driver, new MemoryStream(), options with { Live = true, ChunkSize = Chunk });
        driver.Dispose();
        t.Dispose();
        return (report, d);
    }

    [Fact]
    public void AnEmptyReadIsNotARound()
    {
        // The very first pre-copy read says "nothing now": before, that was round 1 of 1, and pre-copy ended
        // having sent nothing.
        var (report, _) = LiveSave(1, new SaveOptions { MaxPreCopyRounds = 1 });
        Assert.Equal(1, report.PreCopyRounds);
        Assert.True(report.PreCopyBytes >= Memory, $"pre-copy sent {report.PreCopyBytes} bytes; the device's memory is {Memory}");
    }

    [Fact]
    public void TheDowntimeLimitWaitsForTheInitialBytes()
    {
        // A "nothing now" in the middle of the initial data ends round 1 early. Any downtime is within an hour,
        // but initial bytes are left, so pre-copy goes on until they are sent.
        var (report, _) = LiveSave(3, new SaveOptions { MaxPreCopyRounds = 8, MaxDowntime = TimeSpan.FromHours(1), ConvergedDirtyBytes = 0 });
        Assert.True(report.PreCopyBytes >= Memory, $"pre-copy switched over after {report.PreCopyBytes} of {Memory} initial bytes");
        Assert.Equal(2, report.PreCopyRounds);
    }

    [Fact]
    public void AnIdleDeviceThatNeverHasDataSwitchesOverAfterBoundedWaiting()
    {
        // mtty: 0 from read() when nothing is there. It converges at once: no waiting at all.
        var (_, d) = Sim.One(Sim.V2(memory: Memory) with { PreCopyEmptyReadReturnsZero = true });
        using var t = d.Open();
        using var driver = Sim.Driver(t);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var report = DeviceStateSaver.Save(driver, new MemoryStream(), new SaveOptions { Live = true, ChunkSize = Chunk });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.True(report.PreCopyRounds >= 1 && report.PreCopyBytes >= Memory);
    }
}
