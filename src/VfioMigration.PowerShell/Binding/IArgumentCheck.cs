namespace VfioMigration.PowerShell.Binding;

/// <summary>
/// A check of a parameter's value that the cmdlet runs (<c>Commands/Support/ArgumentChecks</c>), not pwsh's binding.
/// A Validate* attribute's failure is a ParameterBindingException, which ends only the statement even under
/// <c>-ErrorAction Stop</c>, so a cron job ran on past it; the module's InvalidParameterValue error stops it.
/// </summary>
internal interface IArgumentCheck
{
    /// <summary>What is wrong with <paramref name="value"/> and what is allowed, as one clause; null when it is allowed.</summary>
    string? Refusal(object? value);
}
