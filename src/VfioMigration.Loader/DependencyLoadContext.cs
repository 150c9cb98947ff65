using System.Reflection;
using System.Runtime.Loader;

namespace VfioMigration.Loader;

/// <summary>
/// The load context of the module's own dependencies: every assembly in the module's <c>Dependencies</c> folder
/// (VfioMigration.Core, Microsoft.Extensions.*, System.IO.Hashing) loads here, from that folder, whatever version
/// of the same name another module loaded into the shared context; anything else (the runtime, PowerShell) comes
/// from the default context. The pattern PowerShell documents for binary modules in "Resolving PowerShell module
/// assembly dependency conflicts" (learn.microsoft.com, PowerShell docs, dev-cross-plat).
/// </summary>
internal sealed class DependencyLoadContext : AssemblyLoadContext
{
    /// <summary>The folder, beside the loader, that holds the isolated assemblies.</summary>
    public const string FolderName = "Dependencies";

    private readonly string _folder;

    public DependencyLoadContext(string folder) : base("VfioMigration", isCollectible: false) => _folder = folder;

    /// <summary>Whether the folder holds an assembly of this name (file name = simple name + .dll, as the build lays it out).</summary>
    public bool Holds(AssemblyName name) => name.Name is { Length: > 0 } simple && File.Exists(PathOf(simple));

    protected override Assembly? Load(AssemblyName assemblyName) =>
        // Ours first, so our Microsoft.Extensions.* 8 is used even when the shared context already has a 10;
        // null hands the name to the default context (System.*, System.Management.Automation).
        Holds(assemblyName) ? LoadFromAssemblyPath(PathOf(assemblyName.Name!)) : null;

    private string PathOf(string simpleName) => Path.Combine(_folder, simpleName + ".dll");
}
