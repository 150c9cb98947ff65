using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// A live save whose pre-copy ends with initial data unsent (the round limit reached while the device still
/// reports initial_bytes) says so with the device's figures: those bytes go in stop-copy, in the downtime.
/// </summary>
public sealed class PreCopyInitialDataTests
{
    private const int Memory = 256 * 1024, Chunk = 16 * 1024;

    private static DeviceOutcome LiveSave(int maxRounds)
    {
        using var f = new ImageFixture();
        var d = f.Host.Add(Sim.V2(memory: Memory));
        // "Nothing now" on the third read: round 1 ends a third of the way through the initial data.
        d.Faults.Arm(new FaultRule(FaultPoint.StreamRead, 3, Errno.ENOMSG));
        var outcome = DeviceSetSaver.Save(new[] { f.Save(d.Address, "live.vfiostate") },
            new SaveOptions { Live = true, ChunkSize = Chunk, MaxPreCopyRounds = maxRounds }, false, false)[0];
        Assert.True(outcome.Error is null, outcome.Error?.Message);
        return outcome;
    }

    [Fact]
    public void TheRoundLimitEndingPreCopyWithInitialDataLeftIsAWarningWithTheNumbers()
    {
        var outcome = LiveSave(maxRounds: 1);
        var warning = Assert.Single(outcome.Warnings ?? Array.Empty<string>(), w => w.Contains("initial data still unsent", StringComparison.Ordinal));
        Assert.Contains("round limit (1)", warning, StringComparison.Ordinal);
        Assert.Matches(@"after 1 round\(s\) and \d+ bytes with [1-9]\d* bytes of initial data", warning);
        Assert.Equal(MigrationState.Stop, outcome.StateNow);
    }

    [Fact]
    public void APreCopyThatSendsAllInitialDataDoesNotWarn()
    {
        var outcome = LiveSave(maxRounds: 8);
        Assert.DoesNotContain(outcome.Warnings ?? Array.Empty<string>(), w => w.Contains("initial data", StringComparison.Ordinal));
    }
}
