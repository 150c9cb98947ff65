using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;

namespace VfioMigration.Tests;

/// <summary>The checksum warm-up (<see cref="ChecksumWarmup"/>): started by a session, and bounded in time.</summary>
public sealed class ChecksumWarmupTests
{
    [Fact]
    public void A_session_starts_the_checksum_warm_up_and_the_warm_up_runs_to_its_end()
    {
        using (new VfioHostSession(new SimulatedBackend(new SimulatedHost()))) { }
        Assert.True(ChecksumWarmup.Started);
        // The warm-up's own loop, in this thread: it ends within its time, throwing nothing, after several rounds.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int rounds = ChecksumWarmup.Run(200);
        Assert.InRange(rounds, 2, 400);
        Assert.InRange(clock.ElapsedMilliseconds, 0, 5000);
    }
}
