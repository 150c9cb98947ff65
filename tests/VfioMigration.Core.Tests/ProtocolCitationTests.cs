using System.Text.RegularExpressions;
using VfioMigration.Backends.Simulated;

namespace VfioMigration.Tests;

/// <summary>
/// Citations of the protocol point into the repository: every "docs/protocol.md §x" and "docs/protocol.md
/// checklist N" in src/, tests/, bench/ and examples/ (and in the Source of every conformance result) names a
/// heading or an item that docs/protocol.md has, and nothing cites the old out-of-tree document ("protocol doc",
/// a "§" or "checklist N" without the file). tools/rewrite-protocol-citations.pl turns the old form into this one.
/// </summary>
public sealed partial class ProtocolCitationTests
{
    private const string Doc = "docs/protocol.md";

    private static readonly Lazy<string> DocText = new(() => File.ReadAllText(Path.Combine(RepoRoot, "docs", "protocol.md")));

    /// <summary>The section numbers docs/protocol.md has as headings ("## 3. …" is 3, "### 3.12 …" is 3.12).</summary>
    private static readonly Lazy<HashSet<string>> Sections = new(() =>
        Heading().Matches(DocText.Value).Select(m => m.Groups[1].Value).ToHashSet());

    /// <summary>The checklist items of §8, by number.</summary>
    private static readonly Lazy<List<int>> Items = new(() =>
    {
        string text = DocText.Value;
        int start = text.IndexOf("\n## 8. ", StringComparison.Ordinal), end = text.IndexOf("\n## 9. ", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"{Doc} has no section 8 followed by section 9");
        return ChecklistItem().Matches(text[start..end]).Select(m => int.Parse(m.Groups[1].Value)).ToList();
    });

    [Fact]
    public void The_checklist_keeps_its_numbers_in_order()
    {
        // Tests (C42_...), Conformance/ and the Number of every result are named after these; renumbering breaks them.
        // 77-83: PRECOPY_INFOv2 (kernel 7.3); 84: NDMA's two readings.
        Assert.Equal(Enumerable.Range(1, 84), Items.Value);
    }

    [Fact]
    public void The_sections_that_code_has_always_cited_are_headings()
    {
        string[] cited = ["1", "1.2", "1.4", "1.7", "1.8", "2.1", "2.3", "3.1", "3.2", "3.6", "3.7", "3.10", "3.12", "3.13",
            "4", "4.2", "4.3", "5.3", "7", "8", "8.1", "8.2", "8.3", "8.4", "8.5", "8.6", "8.7", "8.8", "8.9", "8.10", "8.11"];
        var missing = cited.Where(s => !Sections.Value.Contains(s)).ToArray();
        Assert.True(missing.Length == 0, $"{Doc} lacks the headings {string.Join(", ", missing)}");
    }

    public static TheoryData<string> CitingFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Scanned()) data.Add(f);
        return data;
    }

    [Theory]
    [MemberData(nameof(CitingFiles))]
    public void Every_citation_names_a_section_or_item_of_docs_protocol_md(string file)
    {
        string text = File.ReadAllText(Path.Combine(RepoRoot, file));
        Assert.Empty(Problems(text).Select(p => $"{file}: {p}"));
    }

    [Fact]
    public void The_files_cite_the_doc_at_all()
    {
        // Guards the scan itself: if the file list or the pattern broke, the theory above would pass on nothing.
        int citations = Scanned().Sum(f => Citation().Matches(File.ReadAllText(Path.Combine(RepoRoot, f))).Count);
        Assert.True(citations >= 40, $"only {citations} citations of {Doc} found under src/ and tests/");
    }

    [Theory]
    [InlineData("0000:3b:00.2", "0000:3b:00.3")]
    [InlineData("0000:af:00.1", null)]
    [InlineData("0.0.0100", "0.0.0101")]
    public void Every_conformance_result_carries_a_checklist_number_and_a_source_that_exist(string address, string? peer)
    {
        var (results, _) = ConformanceSuiteTests.Run(SimulatedHost.CreateDefault(), address, peer);
        Assert.NotEmpty(results);
        Assert.Empty(results.Where(r => !Items.Value.Contains(r.Number)).Select(r => $"{r.Check}: Number {r.Number}"));
        Assert.Empty(results.Where(r => string.IsNullOrWhiteSpace(r.Source)).Select(r => $"{r.Check}: no Source"));
        Assert.Empty(results.SelectMany(r => Problems(r.Source).Select(p => $"{r.Check}: {p}")));
    }

    [Fact]
    public void Conformance_checks_and_tests_are_numbered_by_existing_items()
    {
        var numbers = new List<string>();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(RepoRoot, "src", "VfioMigration.Core", "Conformance"), "*.cs"))
            numbers.AddRange(CheckNumber().Matches(File.ReadAllText(f)).Select(m => $"{Path.GetFileName(f)}: {m.Groups[1].Value}"));
        foreach (var f in Directory.EnumerateFiles(Path.Combine(RepoRoot, "tests", "VfioMigration.Core.Tests"), "*.cs"))
            numbers.AddRange(TestNumber().Matches(File.ReadAllText(f)).Select(m => $"{Path.GetFileName(f)}: {m.Groups[1].Value}"));
        Assert.True(numbers.Count >= 60, $"only {numbers.Count} numbered checks and tests found");
        var unknown = numbers.Where(n => !Items.Value.Contains(int.Parse(n[(n.LastIndexOf(' ') + 1)..]))).ToArray();
        Assert.True(unknown.Length == 0, "numbered after items that do not exist: " + string.Join("; ", unknown));
    }

    [Theory]
    [InlineData("see docs/protocol.md §3.12 and docs/protocol.md checklist 18, 75", true)]
    [InlineData("docs/protocol.md §1.4, §2.3, §3.13; docs/protocol.md §4.2–4.3; docs/protocol.md §7, checklist 70–72", true)]
    [InlineData("docs/protocol.md §8.2, and checklist 23–25", true)]
    [InlineData("(protocol doc §3.12)", false)]
    [InlineData("(§3.12)", false)]
    [InlineData("(checklist 18)", false)]
    [InlineData("docs/protocol.md §3.99", false)]
    [InlineData("docs/protocol.md §4.2–4.9", false)]
    [InlineData("docs/protocol.md checklist 97", false)]
    [InlineData("docs/protocol.md checklist 75–99", false)]
    [InlineData("the uAPI's rule; protocol doc 2.1", false)]
    public void The_check_itself_tells_good_citations_from_bad_ones(string text, bool good)
    {
        Assert.Equal(good, Problems(text).Count == 0);
    }

    /// <summary>What is wrong with the citations in <paramref name="text"/>: unknown targets, and old forms left.</summary>
    private static List<string> Problems(string text)
    {
        var problems = new List<string>();
        foreach (Match c in Citation().Matches(text))
        {
            bool checklist = false;
            foreach (Match item in CitedItem().Matches(c.Groups["list"].Value))
            {
                if (item.Groups["sec"].Success)
                {
                    checklist = false;
                    foreach (var s in Expand(item.Groups["sec"].Value, item.Groups["secto"].Value, sections: true))
                        if (!Sections.Value.Contains(s)) problems.Add($"'{c.Value}' cites §{s}, which {Doc} has no heading for");
                    continue;
                }
                checklist |= item.Groups["kw"].Success;
                if (!checklist) continue; // a bare number after a section is prose ("§3.2, 9 features"), not an item
                foreach (var n in Expand(item.Groups["num"].Value, item.Groups["numto"].Value, sections: false))
                    if (!Items.Value.Contains(int.Parse(n))) problems.Add($"'{c.Value}' cites checklist {n}, which {Doc} does not have");
            }
        }
        string rest = Citation().Replace(text, " ");
        foreach (Match old in OldForm().Matches(rest))
            problems.Add($"old citation form '{old.Value}' (cite '{Doc} §x' or '{Doc} checklist N')");
        return problems;
    }

    /// <summary>A range's endpoints (§4.2–4.3 → 4.2, 4.3; checklist 70–72 → 70, 71, 72).</summary>
    private static IEnumerable<string> Expand(string from, string to, bool sections)
    {
        if (to.Length == 0) return [from];
        if (sections) return [from, to];
        int a = int.Parse(from), b = int.Parse(to);
        return b < a ? [from, to] : Enumerable.Range(a, b - a + 1).Select(i => i.ToString());
    }

    private static IEnumerable<string> Scanned()
    {
        string self = Path.Combine("tests", "VfioMigration.Core.Tests", "ProtocolCitationTests.cs");
        string[] roots = ["src", "tests", "bench", "examples"];
        string[] extensions = [".cs", ".ps1", ".psm1", ".psd1", ".ps1xml", ".xml", ".sh", ".md"];
        return roots.Select(r => Path.Combine(RepoRoot, r)).Where(Directory.Exists)
            .SelectMany(r => Directory.EnumerateFiles(r, "*", SearchOption.AllDirectories))
            .Select(f => Path.GetRelativePath(RepoRoot, f))
            .Where(f => extensions.Contains(Path.GetExtension(f)) && f != self &&
                        !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or "TestResults"))
            .Order(StringComparer.Ordinal);
    }

    private static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "VfioMigration.slnx")))
                    return dir.FullName;
            throw new DirectoryNotFoundException("VfioMigration.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    // One citation: the file, then a list of sections (§3.12, §4.2–4.3) and checklist items (checklist 18, 75).
    [GeneratedRegex(@"docs/protocol\.md (?<list>(?:§\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?|checklist \d+(?:[–-]\d+)?)(?:(?:, and |, | and | / )(?:§\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?|(?:checklist )?\d+(?:[–-]\d+)?))*)")]
    private static partial Regex Citation();

    [GeneratedRegex(@"§(?<sec>\d+(?:\.\d+)*)(?:[–-](?<secto>\d+(?:\.\d+)*))?|(?<kw>checklist )?(?<num>\d+)(?:[–-](?<numto>\d+))?")]
    private static partial Regex CitedItem();

    // Left over once the citations are taken out: a "§", "checklist N", or the old document's name.
    [GeneratedRegex(@"§[\d.]*|\b[Cc]hecklist \d+|\b[Pp]rotocol doc\b")]
    private static partial Regex OldForm();

    [GeneratedRegex(@"^#{2,3} (\d+(?:\.\d+)?)\.? ", RegexOptions.Multiline)]
    private static partial Regex Heading();

    [GeneratedRegex(@"^(\d+)\. \((?:S|R|S,R)\) ", RegexOptions.Multiline)]
    private static partial Regex ChecklistItem();

    // Conformance/: Check(42, "dma-logging.start-twice", ...), LoggingCheck(42, ...), NotApplicableResult(14, ...), Number = 74.
    [GeneratedRegex(@"\b(?:(?:Check|LoggingCheck|NotApplicableResult)\(\s*|Number = )(\d+)\b")]
    private static partial Regex CheckNumber();

    // Tests named after an item: C42_StartValidatesItsRanges.
    [GeneratedRegex(@"\bvoid C(\d+)_\w+\(")]
    private static partial Regex TestNumber();
}
