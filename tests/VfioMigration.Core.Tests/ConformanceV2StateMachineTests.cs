using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Protocol;
using VfioMigration.Transport;
using static VfioMigration.Protocol.MigrationState;

namespace VfioMigration.Tests;

/// <summary>Conformance checklist, docs/protocol.md §8.2 (v2 state machine) against the simulated devices.</summary>
public class ConformanceV2StateMachineTests
{
    public static TheoryData<MigrationCapabilities> FlagSets => new(Sim.V2FlagSets);

    private static readonly MigrationState[] Real = { Stop, Running, StopCopy, Resuming, RunningP2P, PreCopy, PreCopyP2P };

    [Fact]
    public void C10_FreshlyOpenedDeviceReadsRunning()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(Running, Sim.Get(t));
    }

    [Theory]
    [MemberData(nameof(FlagSets))]
    public void C11_EveryPairWalksExactlyThePlannedArcs(MigrationCapabilities flags)
    {
        foreach (var from in Real.Where(s => TransitionPlanner.IsSupported(s, flags)))
            foreach (var to in Real)
            {
                var options = Sim.V2(flags) with { StepsPerAccess = 0 };
                var (_, d) = Sim.One(options);
                using var t = d.Open();
                var (setRc, _, fd) = Sim.Set(t, from);
                Assert.Equal(0, setRc);
                if (from == Resuming)
                {
                    // Leaving Resuming validates the stream, so give it a whole one from an identical device.
                    using var ch = t.AdoptDataChannel(fd);
                    Assert.True(ch.Write(Sim.SavedStream(options)) > 0);
                }
                d.ArcHistory.Clear();
                var plan = TransitionPlanner.Plan(from, to, flags);
                var (rc, _, _) = Sim.Set(t, to);
                if (plan.IsRefused)
                {
                    Assert.Equal(-Errno.EINVAL, rc);
                    Assert.Equal(from, Sim.Get(t));
                    Assert.Empty(d.ArcHistory);
                }
                else
                {
                    Assert.Equal(0, rc);
                    Assert.Equal(plan.Arcs, d.ArcHistory);
                    Assert.Equal(to, Sim.Get(t));
                }
            }
    }

    [Fact]
    public void C12_TargetEightOrAboveIsEinvalAndChangesNothing()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Set(t, 8u).Rc);
        Assert.Equal(-Errno.EINVAL, Sim.Set(t, 0xabcdu).Rc);
        Assert.Equal(Running, Sim.Get(t));
    }

    [Fact]
    public void C13_ErrorAsTargetIsEinvalFromEveryState()
    {
        foreach (var s in Real)
        {
            var (_, d) = Sim.One(Sim.V2());
            using var t = d.Open();
            Assert.Equal(0, Sim.Set(t, s).Rc);
            Assert.Equal(-Errno.EINVAL, Sim.Set(t, Error).Rc);
            Assert.Equal(s, Sim.Get(t));
        }
    }

    [Fact]
    public void C14_TargetNeedingAnUnsupportedFlagIsEinval()
    {
        var (_, d) = Sim.One(Sim.V2(MigrationCapabilities.StopCopy));
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Set(t, RunningP2P).Rc);
        Assert.Equal(-Errno.EINVAL, Sim.Set(t, PreCopy).Rc);
        Assert.Equal(Running, Sim.Get(t));
    }

    [Theory]
    [InlineData(PreCopy)]
    [InlineData(PreCopyP2P)]
    public void C15_StopCopyToPreCopyIsEinvalAndStaysStopCopy(MigrationState target)
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(0, Sim.Set(t, StopCopy).Rc);
        Assert.Equal(-Errno.EINVAL, Sim.Set(t, target).Rc);
        Assert.Equal(StopCopy, Sim.Get(t));
    }

    [Fact]
    public void C16_TheDriverRefusesStopCopyToPreCopyWithoutAskingTheDevice()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var inner = d.Open();
        var counting = new CountingTransport(inner);
        using var driver = Sim.Driver(counting);
        driver.RequestState(StopCopy);
        int setsBefore = counting.StateSets + counting.StateSetProbes;
        var e = Assert.Throws<MigrationTransitionException>(() => driver.RequestState(PreCopy));
        Assert.Equal("TransitionRefused", e.ErrorId);
        Assert.Equal(StopCopy, e.StateNow);
        Assert.Equal(setsBefore, counting.StateSets + counting.StateSetProbes);
    }

    [Fact]
    public void C17_SameStateSetSucceedsWithNoFdAndNoNewSession()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, PreCopy);
        Assert.True(fd >= 0);
        int channels = d.OpenDataChannels;
        var (rc, state, again) = Sim.Set(t, PreCopy);
        Assert.Equal((0, (uint)PreCopy, -1), (rc, state, again));
        Assert.Equal(channels, d.OpenDataChannels);
        using var ch = t.AdoptDataChannel(fd);
        Assert.True(ch.Read(new byte[64]) > 0, "the original session must still deliver data");
    }

    [Fact]
    public void C18_FailedSetCopiesBackTheRequestAndGetShowsAStateOnThePath()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        d.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = RunningP2P, ArcTo = Stop });
        var (rc, state, fd) = Sim.Set(t, StopCopy);
        Assert.Equal(-Errno.EIO, rc);
        Assert.Equal((uint)StopCopy, state);
        Assert.Equal(-1, fd);
        var now = Sim.Get(t);
        Assert.Contains(now, TransitionPlanner.Plan(Running, StopCopy, Sim.All).Path);
        Assert.Equal(RunningP2P, now);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(2, true)]
    public void C19_FailureOnHopKLeavesTheStateAtHopKMinusOneOrError(int k, bool enterError)
    {
        var path = TransitionPlanner.Plan(Running, StopCopy, Sim.All).Path; // Running, RunningP2P, Stop, StopCopy
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        d.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = path[k - 1], ArcTo = path[k], EnterError = enterError });
        Assert.Equal(-Errno.EIO, Sim.Set(t, StopCopy).Rc);
        Assert.Equal(enterError ? Error : path[k - 1], Sim.Get(t));
    }

    [Fact]
    public void C20_FromErrorEverySetFailsAndResetReturnsRunning()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        d.Faults.Arm(new FaultRule(FaultPoint.Transition) { EnterError = true });
        Assert.True(Sim.Set(t, Stop).Rc < 0);
        Assert.Equal(Error, Sim.Get(t));
        // Error -> Error is a same-state request, a no-op as in the kernel's drivers; everything else fails.
        foreach (var s in Real)
        {
            Assert.Equal(-Errno.EINVAL, Sim.Set(t, s).Rc);
            Assert.Equal(Error, Sim.Get(t));
        }
        Assert.Equal(0, t.Reset());
        Assert.Equal(Running, Sim.Get(t));
    }

    [Fact]
    public void C21_ResetFromEveryStateReturnsRunningAndKillsTheOpenFd()
    {
        foreach (var s in Real)
        {
            var (_, d) = Sim.One(Sim.V2());
            using var t = d.Open();
            var (_, _, fd) = Sim.Set(t, s);
            Assert.Equal(0, t.Reset());
            Assert.Equal(Running, Sim.Get(t));
            if (fd >= 0)
            {
                using var ch = t.AdoptDataChannel(fd);
                int rc = s == Resuming ? ch.Write(new byte[16]) : ch.Read(new byte[16]);
                Assert.Equal(-Errno.ENODEV, rc);
            }
        }
    }

    [Fact]
    public void C22_NoStateChangeWithoutSetOrReset()
    {
        foreach (var s in Real)
        {
            var (host, d) = Sim.One(Sim.V2());
            using var t = d.Open();
            var (_, _, fd) = Sim.Set(t, s);
            host.Advance(500);
            if (fd >= 0) t.AdoptDataChannel(fd).Dispose();
            host.Advance(500);
            Assert.Equal(s, Sim.Get(t));
        }
    }
}
