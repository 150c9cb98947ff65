namespace VfioMigration.PowerShell.Tests;

/// <summary>Tests that set process environment variables run alone, so no other test's engine sees them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EnvironmentCollection
{
    public const string Name = "Process environment";
}
