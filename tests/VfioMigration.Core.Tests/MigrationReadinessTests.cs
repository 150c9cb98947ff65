using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;

namespace VfioMigration.Tests;

/// <summary>Test-VfioMigration's analysis on the simulated host: every blocker with cause and fix.</summary>
public class MigrationReadinessTests
{
    private static (VfioHostSession Session, SimulatedHost Host) DefaultHost()
    {
        var host = SimulatedHost.CreateDefault();
        return (new VfioHostSession(new SimulatedBackend(host)), host);
    }

    private static VfioMigrationReadiness Check(VfioHostSession s, params string[] addresses) =>
        MigrationReadinessCheck.Check(s, addresses.Select(s.Identity).ToArray())[0];

    [Fact]
    public void AFullyCapableDeviceHasNoBlockers()
    {
        var (s, _) = DefaultHost();
        var r = Check(s, "0000:3b:00.2");
        Assert.True(r.CanMigrate && r.CanMigrateLive);
        Assert.Empty(r.Blockers);
    }

    [Fact]
    public void PlainVfioPciIsExplainedWithTheFix()
    {
        var (s, _) = DefaultHost();
        var r = Check(s, "0000:d8:00.0");
        Assert.False(r.CanMigrate);
        var b = Assert.Single(r.Blockers);
        Assert.Equal("PlainVfioPci", b.Code);
        Assert.Contains("variant driver", b.Fix);
    }

    [Fact]
    public void NoPreCopyBlocksOnlyALiveMoveAndNoDmaLoggingIsAWarning()
    {
        var (s, _) = DefaultHost();
        var r = Check(s, "0000:5e:00.1");
        Assert.True(r.CanMigrate);
        Assert.False(r.CanMigrateLive);
        Assert.Contains(r.Blockers, b => b.Code == "NoPreCopy" && b.Severity == BlockerSeverity.LiveBlocker);
        Assert.Contains(r.Blockers, b => b.Code == "NoDirtyTracking" && b.Severity == BlockerSeverity.Warning);
    }

    [Fact]
    public void ADeviceWithoutP2PBlocksASetButNotItself()
    {
        var (s, _) = DefaultHost();
        var alone = MigrationReadinessCheck.Check(s, new[] { s.Identity("0000:3b:00.2"), s.Identity("0000:5e:00.1") });
        Assert.True(alone[1].CanMigrate); // checked one by one, the device is fine
        var set = MigrationReadinessCheck.Check(s, new[] { s.Identity("0000:3b:00.2"), s.Identity("0000:5e:00.1") }, together: true);
        Assert.False(set[1].CanMigrate);
        Assert.Contains(set[1].Blockers, b => b.Code == "NoP2PQuiesce" && b.Cause.Contains("1 other device"));
        // The set moves whole or not at all: its other member cannot move either, and says why (issue 17 item 11).
        Assert.False(set[0].CanMigrate);
        Assert.Contains(set[0].Blockers, b => b.Code == "SetMemberCannotMigrate" && b.Cause.Contains("0000:5e:00.1"));
    }

    [Fact]
    public void V1CcwErrorAndBusyDevicesAreEachExplained()
    {
        var (s, host) = DefaultHost();
        Assert.Contains(Check(s, "0000:af:00.2").Blockers, b => b.Code == "V1Protocol");
        Assert.Contains(Check(s, "0.0.0100").Blockers, b => b.Code == "CcwNotMigratableUpstream" && b.Severity == BlockerSeverity.Warning);
        host["0000:3b:00.3"].Faults.Arm(new FaultRule(FaultPoint.Transition) { EnterError = true });
        s.Migration("0000:3b:00.3").WhatResetLoses = null; // no last-resort reset (FailureRecoveryTests cover it): the device stays in Error
        Assert.ThrowsAny<VfioMigrationException>(() => s.Migration("0000:3b:00.3").RequestState(Protocol.MigrationState.Stop));
        Assert.Contains(Check(s, "0000:3b:00.3").Blockers, b => b.Code == "DeviceInError" && b.Remedy == ErrorRemedy.ResetDevice && b.Fix.Contains("VFIO_DEVICE_RESET"));
        using var held = host["0000:3b:00.2"].Open(); // another process holds it
        var other = new VfioHostSession(new SimulatedBackend(host));
        Assert.Contains(Check(other, "0000:3b:00.2").Blockers, b => b.Code == "GroupInUse");
        Assert.DoesNotContain(Check(other, "0000:3b:00.2").Blockers, b => b.Cause.Contains("(a running VM)", StringComparison.Ordinal));
    }

    [Fact]
    public void AMigratableDeviceWithoutAResetIsWarnedAboutAndInErrorIsNotToldToReset()
    {
        var host = new SimulatedHost();
        host.Add(Sim.V2() with { SupportsReset = false });
        host.Add(Sim.V2(address: "0000:01:00.1"));
        using var s = new VfioHostSession(new SimulatedBackend(host));
        var warned = Assert.Single(Check(s, "0000:01:00.0").Blockers, b => b.Code == "NoDeviceReset");
        Assert.Equal(BlockerSeverity.Warning, warned.Severity);
        Assert.Contains("VFIO_DEVICE_FLAGS_RESET", warned.Cause);
        Assert.True(Check(s, "0000:01:00.0").CanMigrate);
        Assert.DoesNotContain(Check(s, "0000:01:00.1").Blockers, b => b.Code == "NoDeviceReset");

        host["0000:01:00.0"].Faults.Arm(new FaultRule(FaultPoint.Transition) { EnterError = true });
        Assert.ThrowsAny<VfioMigrationException>(() => s.Migration("0000:01:00.0").RequestState(Protocol.MigrationState.Stop));
        var error = Assert.Single(Check(s, "0000:01:00.0").Blockers, b => b.Code == "DeviceInError");
        Assert.NotEqual(ErrorRemedy.ResetDevice, error.Remedy);
        Assert.Equal(ErrorRemedy.ReleaseDevice, error.Remedy);
        Assert.Contains("none is possible", error.Fix);
    }
}
