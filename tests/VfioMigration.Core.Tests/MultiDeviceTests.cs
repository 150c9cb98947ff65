using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>The seed's hazard: peer-to-peer writes into a device that is already stopped are lost.</summary>
public class MultiDeviceTests
{
    private static (SimulatedDevice A, SimulatedDevice B, IDeviceMigration Da, IDeviceMigration Db) LinkedPair(MigrationProtocol protocol = MigrationProtocol.V2)
    {
        var host = new SimulatedHost();
        var a = host.Add(protocol == MigrationProtocol.V2 ? Sim.V2() : Sim.V1(ndma: true, address: "0000:01:00.0"));
        var b = host.Add(protocol == MigrationProtocol.V2 ? Sim.V2(address: "0000:01:00.1") : Sim.V1(ndma: true, address: "0000:01:00.1"));
        SimulatedHost.Link(a, b);
        host.Advance(20);
        return (a, b, Sim.Driver(a.Open()), Sim.Driver(b.Open()));
    }

    [Theory]
    [InlineData(MigrationProtocol.V2)]
    [InlineData(MigrationProtocol.V1)]
    public void StoppingLinkedDevicesOneAfterTheOtherLosesWrites(MigrationProtocol protocol)
    {
        var (a, b, da, db) = LinkedPair(protocol);
        da.RequestState(MigrationState.Stop);
        db.RequestState(MigrationState.Stop);
        Assert.True(a.Model.PeerWritesLost > 0, "b kept writing into a after a had stopped");
        // What b believes it delivered is not what a's saved state holds.
        Assert.NotEqual(b.Model.PeerWritesSent, a.Model.PeerWritesReceived);
    }

    [Theory]
    [InlineData(MigrationProtocol.V2)]
    [InlineData(MigrationProtocol.V1)]
    public void QuiescingBothFirstLosesNothing(MigrationProtocol protocol)
    {
        var (a, b, da, db) = LinkedPair(protocol);
        var plan = DeviceSetTransition.Plan(new[] { (da, da.GetState()), (db, db.GetState()) }, MigrationState.StopCopy, force: false);
        Assert.All(plan.Execute(), o => Assert.True(o.Succeeded, o.Error?.Message));
        Assert.Equal(0UL, a.Model.PeerWritesLost + b.Model.PeerWritesLost);
        Assert.Equal(b.Model.PeerWritesSent, a.Model.PeerWritesReceived);
        Assert.Equal(a.Model.PeerWritesSent, b.Model.PeerWritesReceived);
        Assert.Equal(MigrationState.StopCopy, a.MigrationState);
        Assert.Equal(MigrationState.StopCopy, b.MigrationState);
    }

    [Fact]
    public void AFailedQuiesceStopsNothingAndReturnsTheSetToWhereItWas()
    {
        var (a, b, da, db) = LinkedPair();
        b.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.RunningP2P });
        var plan = DeviceSetTransition.Plan(new[] { (da, da.GetState()), (db, db.GetState()) }, MigrationState.Stop, force: false);
        var outcomes = plan.Execute();
        Assert.All(outcomes, o => Assert.False(o.Succeeded));
        Assert.Equal(MigrationState.Running, a.MigrationState);
        Assert.Equal(MigrationState.Running, b.MigrationState);
        Assert.Contains(outcomes, o => o.Error!.ErrorId == "PeerQuiesceFailed" && o.Error.Message.Contains("0000:01:00.1"));
    }
}
