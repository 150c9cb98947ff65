using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>The set rules as one table (Operations/QuiesceRules), and readiness's DMA-logging question asked of the driver.</summary>
public class QuiesceRulesTests
{
    [Theory]
    [InlineData(MigrationState.Running, MigrationState.RunningP2P)]
    [InlineData(MigrationState.PreCopy, MigrationState.PreCopyP2P)]
    [InlineData(MigrationState.Stop, null)]
    [InlineData(MigrationState.StopCopy, null)]
    [InlineData(MigrationState.RunningP2P, null)]
    public void OnlyRunningStatesHaveAQuiescedForm(MigrationState state, MigrationState? quiesced) =>
        Assert.Equal(quiesced, QuiesceRules.QuiescedForm(state));

    [Theory]
    [InlineData(MigrationState.Running, MigrationState.PreCopy)]
    [InlineData(MigrationState.RunningP2P, MigrationState.PreCopyP2P)]
    [InlineData(MigrationState.PreCopyP2P, MigrationState.PreCopyP2P)]
    public void PreCopyKeepsADeviceQuiescedThatAlreadyIs(MigrationState from, MigrationState precopy) =>
        Assert.Equal(precopy, QuiesceRules.PreCopyFrom(from));

    [Fact]
    public void OnlyASingleDeviceLeavesResumingStraightForRunning()
    {
        Assert.Equal(MigrationState.Running, QuiesceRules.LeaveResumingFor(1, MigrationState.Running));
        Assert.Equal(MigrationState.Stop, QuiesceRules.LeaveResumingFor(2, MigrationState.Running));
        Assert.Equal(MigrationState.Stop, QuiesceRules.LeaveResumingFor(1, MigrationState.Stop));
    }

    [Fact]
    public void ASetQuiescesOnlyWhenItsTargetStopsItAndWakesThroughP2P()
    {
        Assert.True(QuiesceRules.QuiesceBefore(2, MigrationState.StopCopy));
        Assert.True(QuiesceRules.QuiesceBefore(2, MigrationState.Resuming));
        Assert.False(QuiesceRules.QuiesceBefore(1, MigrationState.Stop));
        Assert.False(QuiesceRules.QuiesceBefore(2, MigrationState.RunningP2P));
        Assert.True(QuiesceRules.WakeThroughP2P(2, MigrationState.Running));
        Assert.False(QuiesceRules.WakeThroughP2P(1, MigrationState.Running));
        Assert.True(QuiesceRules.CanQuiesce(MigrationCapabilities.StopCopy | MigrationCapabilities.P2P));
        Assert.True(QuiesceRules.CanQuiesce(MigrationCapabilities.Ndma));
        Assert.False(QuiesceRules.CanQuiesce(MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy));
    }

    [Fact]
    public void TheDriverAnswersWhetherTheDeviceLogsItsDma()
    {
        foreach (var (options, expected) in new[] { (Sim.V2() with { DmaLogging = true }, true), (Sim.V2(), false), (Sim.V1(ndma: true), false) })
        {
            var (_, d) = Sim.One(options);
            using var t = d.Open();
            using var driver = Sim.Driver(t);
            Assert.Equal(expected, driver.ProbeDmaLogging());
            Assert.Equal(MigrationState.Running, driver.GetState()); // a probe changes nothing
        }
    }
}
