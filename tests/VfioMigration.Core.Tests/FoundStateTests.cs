using Microsoft.Extensions.Logging;
using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Logging;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// A device another process left in a session state (mtty keeps its state across close and reopen) is picked up
/// cleanly: the opener reads the real state, ends the orphaned session the way the uAPI allows (an abandoned
/// resume by reset, never RESUMING → STOP), warns, and then saves and restores as usual.
/// </summary>
public sealed class FoundStateTests
{
    private sealed class Warnings : ILoggerFactory, ILogger
    {
        public List<(string? Name, LogLevel Level, string Text)> Lines { get; } = new();
        public ILogger CreateLogger(string categoryName) => this;
        public void AddProvider(ILoggerProvider provider) { }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((eventId.Name, logLevel, formatter(state, exception)));
        public void Dispose() { }
    }

    private static SimulatedDevice MttyLike(SimulatedHost host, string address, ulong seed) =>
        host.Add(Sim.V2(address: address, seed: seed) with { StateSurvivesClose = true, PreCopyEmptyReadReturnsZero = true });

    /// <summary>"Process one": opens the device, takes it to <paramref name="state"/> (writing part of a stream when
    /// resuming), and closes it, data fd and all.</summary>
    private static void LeaveIn(SimulatedDevice device, MigrationState state, byte[]? partialResume = null)
    {
        using var t = device.Open();
        using var d = Sim.Driver(t);
        d.RequestState(state);
        if (partialResume is not null) d.WriteResumeData(partialResume);
    }

    public static TheoryData<MigrationState, MigrationState> Found => new()
    {
        { MigrationState.StopCopy, MigrationState.Stop },
        { MigrationState.PreCopy, MigrationState.Running },
        { MigrationState.PreCopyP2P, MigrationState.RunningP2P },
        { MigrationState.Resuming, MigrationState.Running },
    };

    [Theory]
    [MemberData(nameof(Found))]
    public void TheNextOpenerEndsTheOrphanedSessionWithAWarningAndCanSaveAndRestore(MigrationState left, MigrationState defined)
    {
        var host = new SimulatedHost();
        var source = MttyLike(host, "0000:04:00.0", 1);
        var target = MttyLike(host, "0000:04:00.1", 2);
        source.Advance(200);
        byte[]? partial = null;
        if (left == MigrationState.Resuming)
        {
            // A real stream's first bytes, as a restore that died half-way would have written them.
            using var t0 = source.Open();
            using var d0 = Sim.Driver(t0);
            var full = new MemoryStream();
            DeviceStateSaver.Save(d0, full, new SaveOptions { FinalState = MigrationState.Running });
            partial = full.ToArray()[..(int)(full.Length / 2)];
        }
        var victim = left == MigrationState.Resuming ? target : source;
        LeaveIn(victim, left, partial);
        Assert.Equal(left, victim.MigrationState); // the state survived the close, as mtty's does
        int arcsBefore = victim.ArcHistory.Count;

        var log = new Warnings();
        using var t = victim.Open();
        using var driver = MigrationDriverFactory.Open(t, log);
        Assert.Equal(defined, driver.GetState());
        var warning = Assert.Single(log.Lines, l => l.Name == nameof(CoreLog.AbandonedSessionEnded));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains($"found in {left}", warning.Text);
        Assert.Contains(left == MigrationState.Resuming ? "VFIO_DEVICE_RESET" : $"{left} -> {defined}", warning.Text);
        Assert.DoesNotContain(victim.ArcHistory.Skip(arcsBefore), a => a.From == MigrationState.Resuming && a.To == MigrationState.Stop);

        // And from there the device migrates as usual, both ways.
        using var other = (victim == source ? target : source).Open();
        using var otherDriver = Sim.Driver(other);
        var (from, to) = victim == source ? (driver, otherDriver) : (otherDriver, driver);
        if (from.GetState() != MigrationState.Running && left != MigrationState.StopCopy) from.RequestState(MigrationState.Running);
        var image = new MemoryStream();
        DeviceStateSaver.Save(from, image, new SaveOptions { FinalState = MigrationState.Stop });
        image.Position = 0;
        DeviceStateRestorer.Restore(to, image, MigrationState.Stop);
        Sim.AssertSameDeviceState(source, target);
    }

    /// <summary>
    /// Issue 17 item 6: an inventory and a readiness check change nothing. A device found in a session state
    /// another process left is reported as found (state, left by another process), not ended; only a state change
    /// takes it over, and says so.
    /// </summary>
    [Theory]
    [InlineData(MigrationState.StopCopy)]
    [InlineData(MigrationState.PreCopy)]
    [InlineData(MigrationState.PreCopyP2P)]
    [InlineData(MigrationState.Resuming)]
    public void LookingAtADeviceLeftInASessionChangesNothingAndOnlyAStateChangeTakesItOver(MigrationState left)
    {
        var host = new SimulatedHost();
        var device = MttyLike(host, "0000:04:00.0", 1);
        LeaveIn(device, left, left == MigrationState.Resuming ? new byte[] { 1, 2, 3 } : null);
        int arcs = device.ArcHistory.Count;
        var log = new Warnings();
        using var session = new VfioHostSession(new SimulatedBackend(host), log);

        var seen = session.Describe(device.Address);
        Assert.Equal(left, seen.State);
        Assert.True(seen.LeftByAnotherProcess);
        var readiness = Assert.Single(MigrationReadinessCheck.Check(session, new[] { session.Identity(device.Address) }));
        var found = Assert.Single(readiness.Blockers, b => b.Code == "SessionLeftByAnotherProcess");
        Assert.Contains($"is in {left}", found.Cause);
        Assert.Contains(left == MigrationState.Resuming ? "VFIO_DEVICE_RESET" : $"{left} -> ", found.Fix);
        Assert.Equal(left, session.Describe(device.Address).State);

        Assert.Equal(left, device.MigrationState);
        Assert.Equal(arcs, device.ArcHistory.Count);
        Assert.DoesNotContain(log.Lines, l => l.Name == nameof(CoreLog.AbandonedSessionEnded));

        // A state change takes it over, and says so.
        session.Migration(device.Address).RequestState(MigrationState.Running);
        Assert.Equal(MigrationState.Running, device.MigrationState);
        Assert.Single(log.Lines, l => l.Name == nameof(CoreLog.AbandonedSessionEnded) && l.Level == LogLevel.Warning);
        Assert.False(session.Describe(device.Address).LeftByAnotherProcess);
    }

    [Fact]
    public void AnAbandonedResumeIsNeverLeftThroughStop()
    {
        var host = new SimulatedHost();
        var d = MttyLike(host, "0000:04:00.0", 1);
        LeaveIn(d, MigrationState.Resuming, new byte[] { 1, 2, 3 });
        int before = d.ArcHistory.Count;
        using var t = d.Open();
        using var driver = Sim.Driver(t);
        driver.RequestState(MigrationState.Stop);
        Assert.Equal(MigrationState.Stop, d.MigrationState);
        Assert.DoesNotContain(d.ArcHistory.Skip(before), a => a.From == MigrationState.Resuming);
    }

    [Fact]
    public void ReadingOrWritingWithoutASessionIsAClearErrorNotAnInvalidOperation()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        using var driver = Sim.Driver(t);
        var read = Assert.Throws<VfioMigrationException>(() => driver.ReadSaveData(new byte[16]));
        Assert.Equal("NoDataSession", read.ErrorId);
        Assert.Contains("Running", read.Message);
        var write = Assert.Throws<VfioMigrationException>(() => driver.WriteResumeData(new byte[16]));
        Assert.Equal("NoDataSession", write.ErrorId);
    }

    [Fact]
    public void ASessionLeftBehindIsPickedUpThroughTheHostSessionToo()
    {
        var host = new SimulatedHost();
        var d = MttyLike(host, "0000:04:00.0", 1);
        LeaveIn(d, MigrationState.StopCopy);
        using var session = new VfioHostSession(new SimulatedBackend(host));
        // Looking leaves it as found (issue 17 item 6); the save is what takes it over.
        var seen = session.Describe("0000:04:00.0");
        Assert.Equal(MigrationState.StopCopy, seen.State);
        Assert.True(seen.LeftByAnotherProcess);
        var dir = Directory.CreateTempSubdirectory("found-state-").FullName;
        try
        {
            var m = session.Migration("0000:04:00.0");
            var outcome = Assert.Single(session.Save(new[] { new SaveTarget(m, seen, Path.Combine(dir, "a.vfio")) }, new SaveOptions(), overwrite: false, forceQuiesce: false));
            Assert.Null(outcome.Error);
            Assert.True(File.Exists(Path.Combine(dir, "a.vfio")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
