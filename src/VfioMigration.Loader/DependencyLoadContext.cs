using System.Globalization;
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
    /// <summary>The folder, beside the loader, that holds the isolated assemblies, one subfolder per target framework.</summary>
    public const string FolderName = "Dependencies";

    private readonly string? _folder;

    /// <param name="dependencies">The <c>Dependencies</c> folder; the set used is <see cref="FolderFor"/>'s.</param>
    public DependencyLoadContext(string dependencies) : base("VfioMigration", isCollectible: false) =>
        _folder = FolderFor(dependencies, Environment.Version.Major);

    /// <summary>
    /// The set of <paramref name="dependencies"/> built for the newest .NET not newer than the running one: its
    /// <c>netN.0</c> subfolder with the highest N at most <paramref name="runtimeMajor"/>. The module is built for
    /// .NET 8 and .NET 10 (ReadyToRun code is only used by the runtime it was compiled against, so pwsh 7.6 on .NET 10
    /// runs net10.0's precompiled and pwsh 7.4 net8.0's); .NET 9 takes net8.0's IL. Null when there is none.
    /// </summary>
    public static string? FolderFor(string dependencies, int runtimeMajor)
    {
        if (!Directory.Exists(dependencies)) return null;
        return Directory.EnumerateDirectories(dependencies, "net*.0")
            .Select(dir => (Dir: dir, Major: MajorOf(Path.GetFileName(dir))))
            .Where(d => d.Major is int m && m <= runtimeMajor)
            .OrderByDescending(d => d.Major)
            .Select(d => d.Dir)
            .FirstOrDefault();
    }

    /// <summary>N of a folder named <c>netN.0</c>; null for any other name.</summary>
    private static int? MajorOf(string name) =>
        name.Length > 5 && name.EndsWith(".0", StringComparison.Ordinal) &&
        int.TryParse(name.AsSpan(3, name.Length - 5), NumberStyles.None, CultureInfo.InvariantCulture, out int major) ? major : null;

    /// <summary>Whether the chosen set holds an assembly of this name (file name = simple name + .dll, as the build lays it out).</summary>
    public bool Holds(AssemblyName name) => _folder is not null && name.Name is { Length: > 0 } simple && File.Exists(PathOf(simple));

    protected override Assembly? Load(AssemblyName assemblyName) =>
        // Ours first, so our Microsoft.Extensions.* 8 is used even when the shared context already has a 10;
        // null hands the name to the default context (System.*, System.Management.Automation).
        Holds(assemblyName) ? LoadFromAssemblyPath(PathOf(assemblyName.Name!)) : null;

    private string PathOf(string simpleName) => Path.Combine(_folder!, simpleName + ".dll");
}
