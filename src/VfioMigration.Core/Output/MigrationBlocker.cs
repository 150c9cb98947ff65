namespace VfioMigration;

/// <summary>How much a finding matters: it stops any migration, only a live one, or it is worth knowing.</summary>
public enum BlockerSeverity
{
    Blocker,
    LiveBlocker,
    Warning,
}

/// <summary>One reason a device cannot (or cannot easily) migrate: a stable code, the cause, and the fix.</summary>
public sealed record MigrationBlocker(string Code, BlockerSeverity Severity, string Cause, string Fix)
{
    public override string ToString() => $"{Code}: {Cause} Fix: {Fix}";
}
