using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;
using VfioMigration.Operations;

namespace VfioMigration.PowerShell.Session;

/// <summary>
/// Keeps Core's public types reachable by full name in scripts (<c>[VfioMigration.VfioDevice]</c>, <c>-is</c>,
/// <c>catch [VfioMigration.VfioMigrationException]</c>). PowerShell's type resolution skips assemblies in a load
/// context of their own, and Core lives in one (src/VfioMigration.Loader), so on import each exported type of
/// Core is registered as a type accelerator under its full name. Where Core shares the default context (a host
/// that references it), resolution finds it anyway and nothing is registered.
/// </summary>
public sealed class CoreTypeNames : IModuleAssemblyInitializer
{
    public void OnImport()
    {
        var core = typeof(VfioHostSession).Assembly;
        if (AssemblyLoadContext.GetLoadContext(core) == AssemblyLoadContext.Default) return;
        // TypeAccelerators is internal to PowerShell and has no public counterpart; its Add(string, Type) has kept
        // its shape since PowerShell 3. Without it, type names fail as before the isolation; the cmdlets still work.
        var add = typeof(PSObject).Assembly.GetType("System.Management.Automation.TypeAccelerators")
            ?.GetMethod("Add", BindingFlags.Public | BindingFlags.Static, [typeof(string), typeof(Type)]);
        if (add is null) return;
        foreach (var type in core.GetExportedTypes())
            if (type.FullName is { } name && !type.IsNested) add.Invoke(null, [name, type]);
    }
}
