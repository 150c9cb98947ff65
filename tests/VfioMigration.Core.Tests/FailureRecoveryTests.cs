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
    public void ADeviceWithoutAResetIsNotResetAndTheErrorSaysWhatIsLeftInsteadOfAReset()
    {
        var (host, session) = Host(Sim.V2() with { SupportsReset = false });
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.Stop, EnterError = true });
        var e = Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Stop));
        Assert.Equal(MigrationState.Error, e.StateNow);
        Assert.Contains("The device is now in Error", e.Message);
        Assert.Contains("no VFIO reset is possible: the device has no reset method", e.Message);
        Assert.Contains("none is possible", e.Message);
        Assert.Contains("what is left is to close the device", e.Message);
        Assert.DoesNotContain("as a last resort", e.Message);
        Assert.Equal(ErrorRemedy.ReleaseDevice, e.Remedy);
        // Asked again, the refusal out of Error does not recommend a reset either.
        var again = Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Running));
        Assert.Equal("DeviceInErrorState", again.ErrorId);
        Assert.Equal(ErrorRemedy.ReleaseDevice, again.Remedy);
    }

    [Fact]
    public void AResetThatWasTriedAndFailedIsNotRecommendedAgain()
    {
        var (host, session) = Host(Sim.V2());
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.Stop, EnterError = true });
        device.Faults.Arm(new FaultRule(FaultPoint.Reset, Errno: Errno.ETIMEDOUT));
        var e = Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Stop));
        Assert.Equal(MigrationState.Error, e.StateNow);
        Assert.Equal(MigrationState.Error, device.MigrationState);
        Assert.Contains("as a last resort, and the reset failed", e.Message);
        Assert.Contains("ETIMEDOUT", e.Message);
        Assert.Contains("what is left is to close the device", e.Message);
        Assert.Equal(ErrorRemedy.ReleaseDevice, e.Remedy);
        Assert.Equal(ErrorRemedy.ReleaseDevice, Assert.Throws<MigrationTransitionException>(() => session.Migration(device.Address).RequestState(MigrationState.Running)).Remedy);
        // A reset that works (the fault fired once) makes a reset the advice again.
        session.Reset(device.Address);
        Assert.Null(session.Migration(device.Address).ResetUnavailable);
    }

    /// <summary>
    /// Issue 17 item 1: a save whose Stop -> StopCopy fails and whose way back (Stop -> Running) fails too. QEMU
    /// resets then; the save follows the rule of a failed state change and says what it tried.
    /// </summary>
    [Fact]
    public void AFailedSaveWhoseReturnAlsoFailsEndsInAResetAndSaysWhatWasTried()
    {
        var (host, session) = Host(Sim.V2());
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = MigrationState.Stop, ArcTo = MigrationState.StopCopy });
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EBUSY) { ArcFrom = MigrationState.Stop }); // the way back, Stop -> RunningP2P
        var outcome = SaveOne(session, device);
        var e = Assert.IsAssignableFrom<VfioMigrationException>(outcome.Error);
        Assert.Equal(MigrationState.Running, device.MigrationState);
        Assert.Equal(MigrationState.Running, outcome.StateNow);
        Assert.Contains("arc Stop -> StopCopy failed: EIO", e.Message);
        Assert.Contains("the return to Running failed", e.Message);
        Assert.Contains("EBUSY", e.Message);
        Assert.Contains("so the device was reset (VFIO_DEVICE_RESET) as a last resort", e.Message);
        Assert.EndsWith($"{device.Address} is in Running.", e.Message);
        Assert.Equal(ErrorRemedy.None, e.Remedy);
    }

    [Fact]
    public void AFailedSaveWhoseReturnFailsOnADeviceWithoutAResetSaysWhatIsLeft()
    {
        var (host, session) = Host(Sim.V2() with { SupportsReset = false });
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = MigrationState.Stop, ArcTo = MigrationState.StopCopy });
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = MigrationState.Stop }); // the way back, Stop -> RunningP2P
        var e = Assert.IsAssignableFrom<VfioMigrationException>(SaveOne(session, device).Error);
        Assert.Equal(MigrationState.Stop, device.MigrationState);
        Assert.Contains("the return to Running failed", e.Message);
        Assert.Contains("no VFIO reset is possible", e.Message);
        Assert.Contains("what is left is to close the device", e.Message);
        Assert.EndsWith($"{device.Address} is in Stop.", e.Message);
        Assert.Equal(ErrorRemedy.ReleaseDevice, e.Remedy);
    }

    [Fact]
    public void AFailedSaveWhoseReturnWorksSaysSoAndIsRunning()
    {
        var (host, session) = Host(Sim.V2());
        using var _ = session;
        var device = host.Devices.Single();
        device.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = MigrationState.Stop, ArcTo = MigrationState.StopCopy });
        var e = Assert.IsAssignableFrom<VfioMigrationException>(SaveOne(session, device).Error);
        Assert.Equal(MigrationState.Running, device.MigrationState);
        Assert.Contains("Recovery: it was returned to Running.", e.Message);
        Assert.DoesNotContain("VFIO_DEVICE_RESET", e.Message);
    }

    [Fact]
    public void AFailedRestoreWhoseResetFailsSaysSoAndRecommendsNoReset()
    {
        var host = new SimulatedHost();
        var source = host.Add(Sim.V2(address: "0000:01:00.0", seed: 1));
        var target = host.Add(Sim.V2(address: "0000:01:00.1", seed: 2));
        using var session = new VfioHostSession(new SimulatedBackend(host));
        string dir = Directory.CreateTempSubdirectory("vfio-recovery-").FullName;
        try
        {
            string path = Path.Combine(dir, "a.vfiostate");
            Assert.Null(Assert.Single(session.Save(new[] { new SaveTarget(session.Migration(source.Address), session.Describe(source.Address), path) }, new SaveOptions(), false, false)).Error);
            target.Faults.Arm(new FaultRule(FaultPoint.StreamWrite, Errno: Errno.EIO));
            target.Faults.Arm(new FaultRule(FaultPoint.Reset, Errno: Errno.ETIMEDOUT));
            var outcome = Assert.Single(session.Restore(new[] { new RestoreTarget(session.Migration(target.Address), session.Describe(target.Address), path) }, MigrationState.Running, RestoreOverrides.None));
            var e = Assert.IsAssignableFrom<VfioMigrationException>(outcome.Error);
            Assert.Equal(MigrationState.Resuming, target.MigrationState);
            Assert.DoesNotContain("The device was reset", e.Message);
            Assert.Contains("failed: ", e.Message);
            Assert.Contains("ETIMEDOUT", e.Message);
            Assert.Contains("what is left is to close the device", e.Message);
            Assert.Equal(ErrorRemedy.ReleaseDevice, e.Remedy);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static DeviceOutcome SaveOne(VfioHostSession session, SimulatedDevice device)
    {
        string dir = Directory.CreateTempSubdirectory("vfio-recovery-").FullName;
        try
        {
            var outcome = Assert.Single(session.Save(new[] { new SaveTarget(session.Migration(device.Address), session.Describe(device.Address), Path.Combine(dir, "a.vfiostate")) }, new SaveOptions(), false, false));
            Assert.Empty(Directory.GetFiles(dir));
            return outcome;
        }
        finally { Directory.Delete(dir, recursive: true); }
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
