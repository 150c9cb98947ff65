using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>Which devices a session keeps open: those whose migration state it drove, not those it only looked at.</summary>
public class HostSessionTests
{
    [Fact]
    public void LookingAtADeviceDoesNotKeepItOpen()
    {
        var host = SimulatedHost.CreateDefault();
        using var session = new VfioHostSession(new SimulatedBackend(host));
        var d = session.Describe("0000:3b:00.2");
        Assert.Equal(MigrationState.Running, d.State);
        Assert.False(host["0000:3b:00.2"].IsOpen); // a VM could take the group right away
        MigrationReadinessCheck.Check(session, new[] { session.Identity("0000:3b:00.3") });
        Assert.False(host["0000:3b:00.3"].IsOpen);
    }

    [Fact]
    public void ADeviceWhoseStateTheSessionDroveStaysOpenAndKeepsItsState()
    {
        var host = SimulatedHost.CreateDefault();
        using var session = new VfioHostSession(new SimulatedBackend(host));
        var plan = session.PlanStates(new[] { "0000:5e:00.1" }, MigrationState.Stop, force: false);
        Assert.All(session.Execute(plan), o => Assert.True(o.Succeeded));
        Assert.True(host["0000:5e:00.1"].IsOpen);
        Assert.Equal(MigrationState.Stop, session.Describe("0000:5e:00.1").State);
        Assert.True(host["0000:5e:00.1"].IsOpen);
        session.Dispose();
        Assert.False(host["0000:5e:00.1"].IsOpen);
        Assert.Equal(MigrationState.Running, host["0000:5e:00.1"].MigrationState); // closing reset it, as on a real host
    }
}
