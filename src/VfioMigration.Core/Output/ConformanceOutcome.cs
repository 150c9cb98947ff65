namespace VfioMigration;

/// <summary>The verdict of one conformance check.</summary>
public enum ConformanceOutcome
{
    /// <summary>The device did what the uAPI requires.</summary>
    Passed,
    /// <summary>The device did something the uAPI forbids; <see cref="ConformanceResult.Observed"/> says what.</summary>
    Failed,
    /// <summary>The rule does not apply to this device (a capability it lacks, or nothing to observe it with).</summary>
    NotApplicable,
}
