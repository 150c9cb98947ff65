namespace VfioMigration;

/// <summary>How much a finding matters: it stops any migration, only a live one, or it is worth knowing.</summary>
public enum BlockerSeverity
{
    Blocker,
    LiveBlocker,
    Warning,
}

/// <summary>
/// One reason a device cannot (or cannot easily) migrate: a stable code, the cause, and the fix. The core words the
/// fix in the kernel's terms; where a cmdlet or switch is the way out, <paramref name="Remedy"/> says which, and the
/// module adds its wording to <see cref="Fix"/> before the result reaches the user.
/// </summary>
public sealed record MigrationBlocker(string Code, BlockerSeverity Severity, string Cause, string Fix, ErrorRemedy Remedy = ErrorRemedy.None)
{
    public override string ToString() => $"{Code}: {Cause} Fix: {Fix}";
}
