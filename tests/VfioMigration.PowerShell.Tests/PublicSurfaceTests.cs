using System.Management.Automation;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace VfioMigration.PowerShell.Tests;

/// <summary>
/// Core's public surface is what the module needs (docs/architecture.md); everything else is internal, seen by the
/// tests through InternalsVisibleTo. A Core type the module no longer uses must not stay public by accident.
/// </summary>
public sealed partial class PublicSurfaceTests
{
    private const string CoreAssembly = "VfioMigration.Core";

    [Fact]
    public void CoreMakesPublicOnlyWhatTheModuleNeeds()
    {
        var core = typeof(VfioDevice).Assembly;
        var needed = NeededByTheModule(core);
        needed.UnionWith(CompileTimeOnly);
        var extra = core.GetExportedTypes().Where(t => !needed.Contains(t)).Select(t => t.FullName).Order().ToArray();
        Assert.True(extra.Length == 0, "public in Core but not needed by the module (make them internal): " + string.Join(", ", extra));
    }

    /// <summary>
    /// Types the module uses only at compile time (constants, <c>nameof</c>), which leave no reference in its
    /// metadata: ConformanceArea in a ValidateSet, StateImageFormat.FileExtension, CoreLog's event names.
    /// </summary>
    private static readonly Type[] CompileTimeOnly = [typeof(ConformanceArea), typeof(Images.StateImageFormat), typeof(Logging.CoreLog)];

    [Fact]
    public void EveryCompileTimeOnlyTypeIsStillNamedInTheModule()
    {
        string module = string.Concat(Directory.EnumerateFiles(Path.Combine(Engine.RepositoryRoot, "src", "VfioMigration.PowerShell"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")).Select(File.ReadAllText));
        Assert.All(CompileTimeOnly, t => Assert.Matches($@"\b{t.Name}\.", module));
    }

    [Fact]
    public void EveryTypeTheModuleNeedsIsFound()
    {
        // The test above could pass vacuously if the search found nothing; these are certainly needed.
        var needed = NeededByTheModule(typeof(VfioDevice).Assembly);
        Assert.Contains(typeof(VfioDevice), needed);
        Assert.Contains(typeof(VfioStateImage), needed);
        Assert.Contains(typeof(VfioMigrationException), needed);
        Assert.Contains(typeof(Protocol.MigrationState), needed);
    }

    /// <summary>
    /// The Core types the module references (its IL and signatures), its cmdlets declare as output, and the Pester
    /// suites and examples name, closed over the public signatures of those types (which C# requires to be public).
    /// </summary>
    private static HashSet<Type> NeededByTheModule(Assembly core)
    {
        string modulePath = Path.Combine(Engine.ModuleDirectory, "VfioMigration.PowerShell.dll");
        var needed = new HashSet<Type>();
        var queue = new Queue<Type>();
        void Need(Type? t)
        {
            if (t is null) return;
            if (t.HasElementType) { Need(t.GetElementType()); return; }
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                foreach (var a in t.GetGenericArguments()) Need(a);
                Need(t.GetGenericTypeDefinition());
                return;
            }
            if (t.Assembly == core && !t.IsGenericParameter && needed.Add(t)) queue.Enqueue(t);
        }

        using (var pe = new PEReader(File.OpenRead(modulePath)))
        {
            var md = pe.GetMetadataReader();
            foreach (var handle in md.TypeReferences)
                if (CoreName(md, handle) is { } name) Need(core.GetType(name, throwOnError: true));
        }

        var module = Assembly.LoadFrom(modulePath);
        foreach (var t in module.GetTypes())
        foreach (var output in t.GetCustomAttributes<OutputTypeAttribute>())
        foreach (var p in output.Type)
            Need(p.Type);

        var scripts = new[] { "tests", "examples", "src/VfioMigration.PowerShell" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(Engine.RepositoryRoot, d), "*.ps*1", SearchOption.TopDirectoryOnly));
        foreach (var script in scripts)
        foreach (Match m in TypeLiteral().Matches(File.ReadAllText(script)))
            Need(core.GetType(m.Groups[1].Value));

        const BindingFlags Visible = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        while (queue.TryDequeue(out var t))
        {
            Need(t.BaseType);
            Need(t.DeclaringType);
            foreach (var i in t.GetInterfaces()) Need(i);
            foreach (var m in t.GetMembers(Visible))
            {
                switch (m)
                {
                    case FieldInfo f when f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly:
                        Need(f.FieldType);
                        break;
                    case PropertyInfo p when p.GetAccessors().Any(a => a.IsPublic || a.IsFamily || a.IsFamilyOrAssembly):
                        Need(p.PropertyType);
                        break;
                    case MethodBase mb when mb.IsPublic || mb.IsFamily || mb.IsFamilyOrAssembly:
                        if (mb is MethodInfo mi) Need(mi.ReturnType);
                        foreach (var p in mb.GetParameters()) Need(p.ParameterType);
                        break;
                    case EventInfo e:
                        Need(e.EventHandlerType);
                        break;
                    case Type nested when nested.IsNestedPublic || nested.IsNestedFamily:
                        Need(nested);
                        break;
                }
            }
        }
        return needed;
    }

    /// <summary>The reflection name (Outer+Inner) of a type reference that resolves to Core; null for other assemblies.</summary>
    private static string? CoreName(MetadataReader md, TypeReferenceHandle handle)
    {
        var r = md.GetTypeReference(handle);
        string name = md.GetString(r.Name);
        switch (r.ResolutionScope.Kind)
        {
            case HandleKind.AssemblyReference:
                var assembly = md.GetAssemblyReference((AssemblyReferenceHandle)r.ResolutionScope);
                if (md.GetString(assembly.Name) != CoreAssembly) return null;
                string ns = md.GetString(r.Namespace);
                return ns.Length == 0 ? name : $"{ns}.{name}";
            case HandleKind.TypeReference:
                return CoreName(md, (TypeReferenceHandle)r.ResolutionScope) is { } outer ? $"{outer}+{name}" : null;
            default:
                return null;
        }
    }

    [GeneratedRegex(@"\[(VfioMigration(?:\.\w+)+)\]")]
    private static partial Regex TypeLiteral();
}
