using System.Text.RegularExpressions;

namespace VfioMigration.PowerShell.Tests;

/// <summary>
/// The two ways a cmdlet can fail automation without the module's say: ThrowTerminatingError (statement-terminating,
/// which -ErrorAction Stop does not escalate, so a cron script runs on) and ShouldProcess (which throws the engine's
/// prompt failure in a session that cannot ask). Every call goes through <c>Commands/Support/Refusal.cs</c>; the
/// behaviour itself is tested in real pwsh scripts by tests/Unattended.Tests.ps1.
/// </summary>
public sealed class RefusalSourceTests
{
    private static IEnumerable<(string File, string Text)> ModuleSources() =>
        Directory.EnumerateFiles(Path.Combine(Engine.RepositoryRoot, "src", "VfioMigration.PowerShell"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => Path.GetFileName(f) != "Refusal.cs")
            .Select(f => (Path.GetRelativePath(Engine.RepositoryRoot, f), File.ReadAllText(f)));

    [Theory]
    [InlineData(@"\bThrowTerminatingError\s*\(")]
    [InlineData(@"\bShouldProcess\s*\(")]
    public void NoCmdletCallsTheEngineDirectly(string call)
    {
        var offenders = ModuleSources().Where(s => Regex.IsMatch(s.Text, call)).Select(s => s.File).ToArray();
        Assert.True(offenders.Length == 0, $"call Refusal.Terminate / ShouldProcessOrRefuse instead in: {string.Join(", ", offenders)}");
    }
}
