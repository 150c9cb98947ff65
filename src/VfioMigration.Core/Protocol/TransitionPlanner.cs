namespace VfioMigration.Protocol;

/// <summary>
/// Plans v2 transitions exactly as the kernel's <c>vfio_mig_get_next_state</c> walks them (docs/protocol.md §3.7): one
/// next-hop table for a device with every feature, reduced for the device's flags by skipping hops the device
/// cannot enter. Userspace plans every request itself so it never depends on the kernel to reject one (docs/protocol.md §3.12).
/// </summary>
internal static class TransitionPlanner
{
    private const MigrationState E = MigrationState.Error, S = MigrationState.Stop, R = MigrationState.Running,
        SC = MigrationState.StopCopy, RS = MigrationState.Resuming, RP = MigrationState.RunningP2P,
        PC = MigrationState.PreCopy, PP = MigrationState.PreCopyP2P;

    // Next hop with all features; [current, target], indexed by the kernel's state numbers. Error = no path.
    private static readonly MigrationState[,] NextHop =
    {
        //            target: ERROR STOP RUNNING STOP_COPY RESUMING RUNNING_P2P PRE_COPY PRE_COPY_P2P
        /* ERROR */        { E,  E,  E,  E,  E,  E,  E,  E },
        /* STOP */         { E,  S,  RP, SC, RS, RP, RP, RP },
        /* RUNNING */      { E,  RP, R,  RP, RP, RP, PC, RP },
        /* STOP_COPY */    { E,  S,  S,  SC, S,  S,  E,  E },
        /* RESUMING */     { E,  S,  S,  S,  RS, S,  S,  S },
        /* RUNNING_P2P */  { E,  S,  R,  S,  S,  RP, R,  PP },
        /* PRE_COPY */     { E,  R,  R,  PP, R,  R,  PC, PP },
        /* PRE_COPY_P2P */ { E,  RP, RP, SC, RP, RP, PC, PP },
    };

    private const int StateCount = 8;

    /// <summary>The device flags a state needs (docs/protocol.md §3.7); null for Error, which no flags satisfy.</summary>
    public static MigrationCapabilities? RequiredCapabilities(MigrationState state) => state switch
    {
        S or R or SC or RS => MigrationCapabilities.StopCopy,
        RP => MigrationCapabilities.StopCopy | MigrationCapabilities.P2P,
        PC => MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy,
        PP => MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy,
        _ => null,
    };

    /// <summary>Whether a device with <paramref name="flags"/> has <paramref name="state"/> at all.</summary>
    public static bool IsSupported(MigrationState state, MigrationCapabilities flags)
    {
        var need = RequiredCapabilities(state);
        return need is { } n && (flags & n) == n;
    }

    /// <summary>
    /// The kernel's next hop from <paramref name="current"/> toward <paramref name="target"/> for a device with
    /// <paramref name="flags"/>; Error means the kernel answers EINVAL. Includes the upstream fix that stops the
    /// skip loop at Error (without it, STOP_COPY → PRE_COPY spins forever).
    /// </summary>
    public static MigrationState NextState(MigrationState current, MigrationState target, MigrationCapabilities flags)
    {
        if (!IsValid(current) || !IsValid(target)) return E;
        if (!IsSupported(current, flags) || !IsSupported(target, flags)) return E;
        var next = NextHop[(int)current, (int)target];
        while (next != E && !IsSupported(next, flags))
            next = NextHop[(int)next, (int)target];
        return next;
    }

    /// <summary>Plans the whole path, or refuses with a reason that names what would be allowed instead.</summary>
    public static TransitionPlan Plan(MigrationState current, MigrationState target, MigrationCapabilities flags)
    {
        flags &= MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy;
        if (!IsValid(target))
            return TransitionPlan.Refuse(current, target, $"{(int)target} is not a migration state.");
        if (current == E)
            return TransitionPlan.Refuse(current, target, "The device is in the Error state; only a device reset leaves it.");
        if (target == E)
            return TransitionPlan.Refuse(current, target, "Error cannot be requested; it is only the result of a failed transition.");
        if ((flags & MigrationCapabilities.StopCopy) == 0)
            return TransitionPlan.Refuse(current, target, "The device does not support migration (no STOP_COPY capability).");
        if (!IsSupported(target, flags))
            return TransitionPlan.Refuse(current, target,
                $"{target} needs the {Missing(target, flags)} capability, which this device does not offer (it has {flags}).");
        if (!IsSupported(current, flags))
            return TransitionPlan.Refuse(current, target, $"The device reports {current}, which its own capabilities ({flags}) do not allow.");
        if (current == SC && (target == PC || target == PP))
            return TransitionPlan.Refuse(current, target,
                "A stop-copy session cannot return to pre-copy (the kernel refuses it, and kernels before the 2026 fix lock up); go to Stop or Running first.");

        var arcs = new List<MigrationArc>(4);
        var at = current;
        while (at != target)
        {
            var next = NextState(at, target, flags);
            if (next == E || arcs.Count >= StateCount)
                return TransitionPlan.Refuse(current, target, $"No path from {current} to {target} for a device with {flags}.");
            arcs.Add(new MigrationArc(at, next));
            at = next;
        }
        return TransitionPlan.Accept(current, target, arcs);
    }

    /// <summary>The states a device with <paramref name="flags"/> can reach from <paramref name="current"/>.</summary>
    public static IReadOnlyList<MigrationState> ReachableFrom(MigrationState current, MigrationCapabilities flags) =>
        Enum.GetValues<MigrationState>()
            .Where(t => t != current && !Plan(current, t, flags).IsRefused)
            .ToArray();

    /// <summary>Whether taking this arc (entering its <c>To</c> state) opens a data session (returns a data fd).</summary>
    public static bool OpensSession(MigrationArc arc) =>
        (arc.From == S && (arc.To == SC || arc.To == RS)) ||
        (arc.From == R && arc.To == PC) ||
        (arc.From == RP && arc.To == PP);

    /// <summary>Whether this arc ends the open data session.</summary>
    public static bool ClosesSession(MigrationArc arc) =>
        (arc.From == SC && arc.To == S) || (arc.From == RS && arc.To == S) ||
        (arc.From == PC && arc.To == R) || (arc.From == PP && arc.To == RP);

    public static bool IsSavingGroup(MigrationState state) => state is SC or PC or PP;

    public static bool IsRunning(MigrationState state) => state is R or RP or PC or PP;

    private static bool IsValid(MigrationState s) => (int)s >= 0 && (int)s < StateCount;

    private static MigrationCapabilities Missing(MigrationState state, MigrationCapabilities flags) =>
        (RequiredCapabilities(state) ?? MigrationCapabilities.None) & ~flags;
}
