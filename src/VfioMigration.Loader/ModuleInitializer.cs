using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace VfioMigration.Loader;

/// <summary>
/// Runs when PowerShell imports the loader, the manifest's first nested module, before it imports the cmdlets
/// (VfioMigration.PowerShell.dll, in the shared default context). From then on, when the default context cannot
/// find VfioMigration.Core — the one assembly the cmdlets use that lives in the <c>Dependencies</c> folder — it is
/// loaded into <see cref="DependencyLoadContext"/>, which then serves Core's own dependencies too. The cmdlets use
/// only Core's types, never a Microsoft.Extensions type, so no version of those is ever bound in the shared context
/// on the module's behalf. A host that already has Core in its default context (a program referencing Core, like
/// the xunit tests) keeps its copy: the default context finds it and never asks.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer
{
    /// <summary>The one assembly the default context may be given from the isolated context (the cmdlets' engine).</summary>
    private const string EngineName = "VfioMigration.Core";

    // One context and one hook per process, never removed: the cmdlet assembly stays loaded after Remove-Module,
    // its OnRemove hook (VfioMigration.psm1) may be the first code to touch Core, and a re-import must find the
    // Core it already bound to.
    private static readonly Lazy<DependencyLoadContext> Context = new(() => new DependencyLoadContext(
        Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, DependencyLoadContext.FolderName)));

    private static readonly object Sync = new();
    private static bool _hooked;

    public void OnImport()
    {
        lock (Sync)
        {
            if (_hooked) return;
            AssemblyLoadContext.Default.Resolving += ResolveEngine;
            _hooked = true;
        }
    }

    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == EngineName && Context.Value.Holds(name) ? Context.Value.LoadFromAssemblyName(name) : null;
}
