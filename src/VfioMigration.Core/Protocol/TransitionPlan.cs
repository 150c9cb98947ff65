namespace VfioMigration.Protocol;

/// <summary>
/// The planner's answer for one request: either the arcs to execute, in order (empty for a same-state request),
/// or a refusal with the reason, phrased for the person who asked.
/// </summary>
public sealed class TransitionPlan
{
    private TransitionPlan(MigrationState from, MigrationState to, IReadOnlyList<MigrationArc> arcs, string? refusal)
    {
        From = from;
        To = to;
        Arcs = arcs;
        RefusalReason = refusal;
    }

    public MigrationState From { get; }
    public MigrationState To { get; }
    public IReadOnlyList<MigrationArc> Arcs { get; }
    public string? RefusalReason { get; }
    public bool IsRefused => RefusalReason is not null;

    /// <summary>The states visited, starting with <see cref="From"/>: "Running -> RunningP2P -> Stop".</summary>
    public IReadOnlyList<MigrationState> Path =>
        IsRefused ? Array.Empty<MigrationState>() : new[] { From }.Concat(Arcs.Select(a => a.To)).ToArray();

    public static TransitionPlan Accept(MigrationState from, MigrationState to, IReadOnlyList<MigrationArc> arcs) =>
        new(from, to, arcs, null);

    public static TransitionPlan Refuse(MigrationState from, MigrationState to, string reason) =>
        new(from, to, Array.Empty<MigrationArc>(), reason);

    public override string ToString() =>
        IsRefused ? $"{From} -> {To}: refused: {RefusalReason}" : string.Join(" -> ", Path);
}
