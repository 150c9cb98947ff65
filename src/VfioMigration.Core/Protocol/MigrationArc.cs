namespace VfioMigration.Protocol;

/// <summary>One direct arc of the state machine: a single transition a driver implements.</summary>
public readonly record struct MigrationArc(MigrationState From, MigrationState To)
{
    public override string ToString() => $"{From} -> {To}";
}
