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

    /// <summary>
    /// The third way: a parameter attribute whose failure pwsh raises while binding (ValidateSet, ValidateRange, ...),
    /// a ParameterBindingException that ends only the statement. The cmdlets check values themselves (Binding/).
    /// BooleanText is the one transformation that still throws: a SwitchParameter has no value to carry a refusal,
    /// and it binds from the pipeline (CSV inventories), where pwsh's binding error does stop at -ErrorAction Stop.
    /// </summary>
    [Fact]
    public void NoParameterIsRefusedByPwshsBinding()
    {
        using var ps = new Engine();
        var offenders = ps.Ok("""
            foreach ($c in Get-Command -Module VfioMigration) {
                # The common parameters are pwsh's own (-OutVariable's ValidateVariableName).
                foreach ($p in $c.Parameters.Values | Where-Object Name -notin ([System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters)) {
                    foreach ($a in $p.Attributes) {
                        if ($a -is [System.Management.Automation.ValidateArgumentsAttribute] -or ($a -is [System.Management.Automation.ArgumentTransformationAttribute] -and
                            $a.GetType().Name -notin 'OneNameAttribute', 'BooleanTextAttribute')) { "$($c.Name) -$($p.Name) [$($a.GetType().Name)]" }
                    }
                }
            }
            """).Select(o => o.ToString()).Distinct().ToArray();
        Assert.True(offenders.Length == 0, $"check the value in the cmdlet (a Binding/ check attribute) instead: {string.Join(", ", offenders)}");
    }
}
