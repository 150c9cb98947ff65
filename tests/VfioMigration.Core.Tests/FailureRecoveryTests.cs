using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// After a failed state change, a session recovers the way a VMM does (QEMU's vfio_migration_set_state: recover
/// state, then reset) but resets only a device that holds nothing a reset would lose.
/// </summary>
public class FailureRecoveryTests
{
    private static (SimulatedHost Host, VfioHostSession Session) Host(SimulatedDeviceOptions options)
    {
        var host = new SimulatedHost();
        host.Add(options);
        return (host, new VfioHostSession(new SimulatedBackend(host)));
    }

    [Theory]
    [InlineData(MigrationProtocol.V2)]
    [InlineData(MigrationProtocol.V1)]
    public void ADeviceLeftInErrorThatHoldsNothingIsResetAndTheErrorSaysWhatWasTried(MigrationProtocol protocol)
    {
        var (host, session) = Host(protocol == MigrationProtocol.V2 ? Sim.V2() : Sim.V1());
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.Stop, EnterError = true });
        var e = Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Stop));
        Assert.Equal(MigrationState.Running, e.StateNow);
        Assert.Equal(MigrationState.Running, device.MigrationState);
        Assert.Equal("TransitionFailed", e.ErrorId);
        Assert.Contains("EIO", e.Message);
        Assert.Contains("a device in Error takes no recover state", e.Message);
        Assert.Contains("reset (VFIO_DEVICE_RESET) as a last resort", e.Message);
        Assert.Contains("The device is now in Running", e.Message);
        Assert.DoesNotContain("only a reset (VFIO_DEVICE_RESET) leaves Error", e.Message);
        Assert.NotEqual(ErrorRemedy.ResetDevice, e.Remedy);
    }

    [Fact]
    public void ADeviceHoldingRestoredStateIsLeftInErrorAndTheErrorSaysWhy()
    {
        var (host, session) = Host(Sim.V2());
        using var _ = session;
        var device = host.Devices.Single();
        string dir = Directory.CreateTempSubdirectory("vfio-recovery-").FullName;
        try
        {
            string path = Path.Combine(dir, "a.vfiostate");
            var saved = Assert.Single(session.Save(new[] { new SaveTarget(session.Migration(device.Address), session.Describe(device.Address), path) }, new SaveOptions(), false, false));
            Assert.Null(saved.Error);
            var restored = Assert.Single(session.Restore(new[] { new RestoreTarget(session.Migration(device.Address), session.Describe(device.Address), path) }, MigrationState.Running, RestoreOverrides.None));
            Assert.Null(restored.Error);
            Assert.True(session.HoldsRestoredState(device.Address));
        }
        finally { Directory.Delete(dir, recursive: true); }
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.Stop, EnterError = true });
        var e = Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Stop));
        Assert.Equal(MigrationState.Error, e.StateNow);
        Assert.Equal(MigrationState.Error, device.MigrationState);
        Assert.Equal("DeviceInErrorState", e.ErrorId);
        Assert.Contains("it was not reset, because it holds state restored earlier in this session that no save has captured", e.Message);
        Assert.Contains("only a reset (VFIO_DEVICE_RESET) leaves Error", e.Message);
        Assert.Equal(ErrorRemedy.ResetDevice, e.Remedy);
    }

    [Fact]
    public void AResetThatFailsIsReportedWithTheStateTheDeviceIsIn()
    {
        var (host, session) = Host(Sim.V2() with { SupportsReset = false });
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.Stop, EnterError = true });
        var e = Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Stop));
        Assert.Equal(MigrationState.Error, e.StateNow);
        Assert.Contains("as a last resort, and the reset failed", e.Message);
        Assert.Contains("The device is now in Error", e.Message);
    }

    [Fact]
    public void AFailureThatLeavesTheDeviceWhereItWasTriesNothing()
    {
        var (host, session) = Host(Sim.V2());
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.Stop });
        var e = Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Stop));
        Assert.Equal(device.MigrationState, e.StateNow);
        Assert.NotEqual(MigrationState.Error, e.StateNow);
        Assert.DoesNotContain("Recovery:", e.Message);
    }

    [Fact]
    public void ADriverUsedWithoutASessionNeverResetsOnItsOwn()
    {
        var host = new SimulatedHost();
        var device = host.Add(Sim.V2());
        using var driver = MigrationDriverFactory.Open(new SimulatedBackend(host).Open(device.Address));
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.Stop, EnterError = true });
        var e = Assert.Throws<MigrationTransitionException>(() => driver.RequestState(MigrationState.Stop));
        Assert.Equal(MigrationState.Error, e.StateNow);
        Assert.DoesNotContain("Recovery:", e.Message);
    }
}
