using VfioMigration.Protocol;
using static VfioMigration.Protocol.MigrationState;

namespace VfioMigration.Tests;

/// <summary>The planner against docs/protocol.md §3.7: the written paths exactly, and all 64 pairs of each flag set
/// against an independent oracle built from the direct-arc table of docs/protocol.md §3.6.</summary>
public class TransitionPlannerTests
{
    private const MigrationCapabilities SC = MigrationCapabilities.StopCopy, P2P = MigrationCapabilities.P2P, PRE = MigrationCapabilities.PreCopy;

    public static TheoryData<MigrationCapabilities, MigrationState[]> WrittenPaths => new()
    {
        // STOP_COPY only
        { SC, new[] { Running, Stop, StopCopy } },
        { SC, new[] { Running, Stop, Resuming } },
        { SC, new[] { StopCopy, Stop, Running } },
        { SC, new[] { Resuming, Stop, Running } },
        { SC, new[] { StopCopy, Stop, Resuming } },
        { SC, new[] { Resuming, Stop, StopCopy } },
        // STOP_COPY | P2P
        { SC | P2P, new[] { Running, RunningP2P, Stop } },
        { SC | P2P, new[] { Running, RunningP2P, Stop, StopCopy } },
        { SC | P2P, new[] { Running, RunningP2P, Stop, Resuming } },
        { SC | P2P, new[] { Stop, RunningP2P, Running } },
        { SC | P2P, new[] { StopCopy, Stop, RunningP2P, Running } },
        { SC | P2P, new[] { Resuming, Stop, RunningP2P, Running } },
        { SC | P2P, new[] { RunningP2P, Stop, StopCopy } },
        { SC | P2P, new[] { RunningP2P, Stop, Resuming } },
        // STOP_COPY | PRE_COPY
        { SC | PRE, new[] { Stop, Running, PreCopy } },
        { SC | PRE, new[] { PreCopy, Running, Stop } },
        { SC | PRE, new[] { PreCopy, StopCopy } },
        { SC | PRE, new[] { PreCopy, Running, Stop, Resuming } },
        { SC | PRE, new[] { Resuming, Stop, Running, PreCopy } },
        // all three
        { SC | P2P | PRE, new[] { PreCopy, PreCopyP2P, StopCopy } },
        { SC | P2P | PRE, new[] { PreCopy, Running, RunningP2P, Stop } },
        { SC | P2P | PRE, new[] { PreCopy, Running, RunningP2P, Stop, Resuming } },
        { SC | P2P | PRE, new[] { PreCopy, Running, RunningP2P } },
        { SC | P2P | PRE, new[] { PreCopyP2P, RunningP2P, Stop } },
        { SC | P2P | PRE, new[] { PreCopyP2P, RunningP2P, Running } },
        { SC | P2P | PRE, new[] { PreCopyP2P, RunningP2P, Stop, Resuming } },
        { SC | P2P | PRE, new[] { Running, RunningP2P, PreCopyP2P } },
        { SC | P2P | PRE, new[] { Stop, RunningP2P, Running, PreCopy } },
        { SC | P2P | PRE, new[] { Stop, RunningP2P, PreCopyP2P } },
        { SC | P2P | PRE, new[] { RunningP2P, Running, PreCopy } },
        { SC | P2P | PRE, new[] { Resuming, Stop, RunningP2P, Running, PreCopy } },
        { SC | P2P | PRE, new[] { Resuming, Stop, RunningP2P, PreCopyP2P } },
    };

    [Theory]
    [MemberData(nameof(WrittenPaths))]
    public void C11_PlannerFollowsEveryPathWrittenInSection37(MigrationCapabilities flags, MigrationState[] path)
    {
        var plan = TransitionPlanner.Plan(path[0], path[^1], flags);
        Assert.False(plan.IsRefused, plan.RefusalReason);
        Assert.Equal(path, plan.Path);
    }

    [Theory]
    [InlineData(PreCopy)]
    [InlineData(PreCopyP2P)]
    public void C15_StopCopyToPreCopyIsRefusedByThePlanner(MigrationState target)
    {
        var plan = TransitionPlanner.Plan(StopCopy, target, SC | P2P | PRE);
        Assert.True(plan.IsRefused);
        Assert.Contains("pre-copy", plan.RefusalReason);
        Assert.Equal(Error, TransitionPlanner.NextState(StopCopy, target, SC | P2P | PRE));
    }

    /// <summary>Direct arcs of docs/protocol.md §3.6, with the flags each needs, written independently of the next-hop table.</summary>
    private static bool ArcExists(MigrationState from, MigrationState to, MigrationCapabilities f)
    {
        bool p2p = f.HasFlag(P2P), pre = f.HasFlag(PRE);
        return (from, to) switch
        {
            (Running, Stop) or (Stop, Running) => !p2p,
            (Stop, StopCopy) or (StopCopy, Stop) or (Stop, Resuming) or (Resuming, Stop) => true,
            (Running, RunningP2P) or (RunningP2P, Running) or (RunningP2P, Stop) or (Stop, RunningP2P) => p2p,
            (Running, PreCopy) or (PreCopy, Running) => pre,
            (PreCopy, StopCopy) => pre && !p2p,
            (PreCopy, PreCopyP2P) or (PreCopyP2P, PreCopy) or (PreCopyP2P, RunningP2P) or (PreCopyP2P, StopCopy) or (RunningP2P, PreCopyP2P) => pre && p2p,
            _ => false,
        };
    }

    private static bool Opens(MigrationState from, MigrationState to) =>
        (from, to) is (Stop, StopCopy) or (Stop, Resuming) or (Running, PreCopy) or (RunningP2P, PreCopyP2P);

    private static bool Saving(MigrationState s) => s is StopCopy or PreCopy or PreCopyP2P;

    /// <summary>A path is allowed if every arc exists, only the last arc opens a session, and no saving-group
    /// state is entered and left again in the middle.</summary>
    private static bool Allowed(IReadOnlyList<MigrationState> p, MigrationCapabilities f)
    {
        for (int i = 0; i + 1 < p.Count; i++)
        {
            if (!ArcExists(p[i], p[i + 1], f)) return false;
            if (Opens(p[i], p[i + 1]) && i + 2 != p.Count) return false;
        }
        for (int i = 1; i + 1 < p.Count; i++)
            if (Saving(p[i]) && !(p.Take(i + 1).All(Saving) || p.Skip(i).All(Saving))) return false;
        return true;
    }

    /// <summary>Shortest allowed path length by breadth-first search over whole paths (the state space is tiny).</summary>
    private static int? ShortestAllowed(MigrationState from, MigrationState to, MigrationCapabilities f)
    {
        var frontier = new List<List<MigrationState>> { new() { from } };
        for (int len = 0; len <= 6; len++)
        {
            if (frontier.Any(p => p[^1] == to && Allowed(p, f))) return len;
            frontier = frontier.SelectMany(p => Enum.GetValues<MigrationState>().Where(n => ArcExists(p[^1], n, f)).Select(n => p.Append(n).ToList())).ToList();
        }
        return null;
    }

    public static TheoryData<MigrationCapabilities> FlagSets => new() { SC, SC | P2P, SC | PRE, SC | P2P | PRE };

    [Theory]
    [MemberData(nameof(FlagSets))]
    public void C11_All64PairsMatchTheShortestAllowedPath(MigrationCapabilities flags)
    {
        foreach (var from in Enum.GetValues<MigrationState>())
            foreach (var to in Enum.GetValues<MigrationState>())
            {
                var plan = TransitionPlanner.Plan(from, to, flags);
                bool bothExist = TransitionPlanner.IsSupported(from, flags) && TransitionPlanner.IsSupported(to, flags);
                int? shortest = bothExist ? ShortestAllowed(from, to, flags) : null;
                if (from == StopCopy && to is PreCopy or PreCopyP2P) shortest = null; // docs/protocol.md §3.12: refused outright
                if (shortest is null)
                {
                    Assert.True(plan.IsRefused, $"{flags}: {from} -> {to} should be refused but planned {plan}");
                    continue;
                }
                Assert.False(plan.IsRefused, $"{flags}: {from} -> {to} refused: {plan.RefusalReason}");
                Assert.True(Allowed(plan.Path, flags), $"{flags}: {plan} uses an arc the device lacks or breaks a session rule");
                Assert.Equal(shortest, plan.Arcs.Count);
            }
    }

    [Fact]
    public void C14_TargetNeedingAMissingFlagIsRefusedWithTheFlagNamed()
    {
        var plan = TransitionPlanner.Plan(Running, RunningP2P, SC | PRE);
        Assert.True(plan.IsRefused);
        Assert.Contains("P2P", plan.RefusalReason);
    }

    [Fact]
    public void C13_ErrorIsNeverATargetAndNeverAStart()
    {
        foreach (var s in Enum.GetValues<MigrationState>())
        {
            Assert.True(TransitionPlanner.Plan(s, Error, SC | P2P | PRE).IsRefused);
            Assert.True(TransitionPlanner.Plan(Error, s, SC | P2P | PRE).IsRefused);
        }
    }

    [Fact]
    public void C12_TargetOutsideTheEnumIsRefused() =>
        Assert.True(TransitionPlanner.Plan(Running, (MigrationState)8, SC).IsRefused);

    [Fact]
    public void ReachableStatesFromStopCopyExcludePreCopy()
    {
        var reachable = TransitionPlanner.ReachableFrom(StopCopy, SC | P2P | PRE);
        Assert.Equal(new[] { Stop, Running, Resuming, RunningP2P }, reachable);
    }
}
