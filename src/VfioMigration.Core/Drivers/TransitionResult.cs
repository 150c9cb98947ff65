using VfioMigration.Protocol;

namespace VfioMigration.Drivers;

/// <summary>What a completed state change did: where it started, where it ended, and the arcs on the way.</summary>
public sealed record TransitionResult(string Device, MigrationState From, MigrationState To, IReadOnlyList<MigrationArc> Arcs)
{
    public bool OpenedSession { get; init; }
    public override string ToString() => Arcs.Count == 0 ? $"{From} (no change)" : string.Join(" -> ", new[] { From }.Concat(Arcs.Select(a => a.To)));
}
