using System.Text.RegularExpressions;

namespace VfioMigration.Tests;

/// <summary>
/// The arrows of docs/architecture.md, read from the source: each folder of Core may name only the namespaces below
/// it. The build fails on an unused using (IDE0005), so a file's usings are its real dependencies; a fully qualified
/// name in code would bypass them, so that is checked too.
/// </summary>
public sealed partial class LayerTests
{
    private const string Root = "VfioMigration";

    /// <summary>What each namespace of Core may use besides itself and the root namespace (Output/, Errors/).</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["VfioMigration"] = ["Protocol", "Protocol.Uapi"],
        ["VfioMigration.Protocol"] = ["Protocol.Uapi"],
        ["VfioMigration.Protocol.Uapi"] = ["Protocol"],
        ["VfioMigration.Logging"] = ["Protocol", "Protocol.Uapi"],
        ["VfioMigration.Transport"] = ["Protocol", "Protocol.Uapi"],
        ["VfioMigration.Backends"] = ["Transport", "Protocol", "Protocol.Uapi"],
        ["VfioMigration.Backends.Linux"] = ["Backends", "Transport", "Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Backends.Simulated"] = ["Backends", "Transport", "Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Drivers"] = ["Transport", "Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Images"] = ["Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Qemu"] = ["Images", "Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Libvirt"] = ["Qemu", "Images", "Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Sources"] = ["Images", "Qemu", "Libvirt", "Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Operations"] = ["Drivers", "Images", "Sources", "Qemu", "Libvirt", "Backends", "Transport", "Protocol", "Protocol.Uapi", "Logging"],
        ["VfioMigration.Conformance"] = ["Drivers", "Transport", "Protocol", "Protocol.Uapi", "Logging"],
    };

    public static TheoryData<string> SourceFiles() => new(CoreFiles());

    /// <summary>Core's source files, relative to src/VfioMigration.Core (build output left out).</summary>
    private static IEnumerable<string> CoreFiles() =>
        Directory.EnumerateFiles(CoreSource, "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(CoreSource, f))
            .Where(f => !f.StartsWith("obj" + Path.DirectorySeparatorChar, StringComparison.Ordinal) &&
                        !f.StartsWith("bin" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    [Theory]
    [MemberData(nameof(SourceFiles))]
    public void EveryFileOfCoreUsesOnlyTheLayersBelowIt(string file)
    {
        string text = File.ReadAllText(Path.Combine(CoreSource, file));
        string ns = Namespace().Match(text) is { Success: true } m ? m.Groups[1].Value : "";
        Assert.True(Allowed.ContainsKey(ns), $"{file}: namespace '{ns}' is not a layer of docs/architecture.md");

        var allowed = Allowed[ns].Select(a => $"{Root}.{a}").Append(ns).Append(Root).ToHashSet();
        var used = UsingDirective().Matches(text).Select(u => u.Groups[1].Value)
            .Concat(QualifiedName().Matches(CodeOnly(text)).Select(q => NamespaceOf(q.Value)))
            .Where(u => u.StartsWith(Root + ".", StringComparison.Ordinal) || u == Root)
            .Distinct();
        Assert.Empty(used.Where(u => !allowed.Contains(u)).Select(u => $"{file} ({ns}) uses {u}"));
    }

    [Fact]
    public void EveryFolderOfCoreHasTheNamespaceOfItsLayer()
    {
        // Output/ and Errors/ hold what users see by full name (format views, catch blocks), so they are the root namespace.
        foreach (var file in CoreFiles())
        {
            string folder = Path.GetDirectoryName(file)!.Replace(Path.DirectorySeparatorChar, '.');
            string expected = folder is "Output" or "Errors" ? Root : $"{Root}.{folder}";
            string ns = Namespace().Match(File.ReadAllText(Path.Combine(CoreSource, file))).Groups[1].Value;
            Assert.True(expected == ns, $"{file}: namespace {ns}, expected {expected}");
        }
    }

    private static string CoreSource
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VfioMigration.slnx")))
                    return Path.Combine(dir.FullName, "src", "VfioMigration.Core");
            throw new DirectoryNotFoundException("VfioMigration.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The text without comments and string literals, where a qualified name is a real reference.</summary>
    private static string CodeOnly(string text) => CommentOrString().Replace(text, " ");

    [GeneratedRegex(@"^namespace ([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    [GeneratedRegex(@"^using (?:static )?([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();

    /// <summary>The longest known namespace a dotted name starts with (a name in the module counts as the module's).</summary>
    private static string NamespaceOf(string dotted) =>
        Allowed.Keys.Append($"{Root}.PowerShell")
            .Where(n => dotted == n || dotted.StartsWith(n + ".", StringComparison.Ordinal))
            .MaxBy(n => n.Length) ?? Root;

    [GeneratedRegex(@"(?<![\w.])VfioMigration(?:\.[A-Z]\w*)+")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@?""(?:[^""\\\n]|\\.)*""", RegexOptions.Singleline)]
    private static partial Regex CommentOrString();
}
