namespace VfioMigration.PowerShell;

/// <summary>The module assembly; cmdlets arrive with the module issue.</summary>
internal static class ModuleInfo
{
    public const string Name = "VfioMigration";
}
