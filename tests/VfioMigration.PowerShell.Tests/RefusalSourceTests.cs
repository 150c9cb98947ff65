using System.Management.Automation;
using System.Reflection;
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
        var offenders = typeof(Commands.VfioCmdlet).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(Cmdlet)))
            .SelectMany(t => t.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(p => (t, p)))
            .SelectMany(x => x.p.GetCustomAttributes(false).Where(a => a is ValidateArgumentsAttribute
                || (a is ArgumentTransformationAttribute && a is not Binding.OneNameAttribute && a is not Binding.BooleanTextAttribute))
                .Select(a => $"{x.t.Name}.{x.p.Name} [{a.GetType().Name}]"))
            .Distinct().ToArray();
        Assert.True(offenders.Length == 0, $"check the value in the cmdlet (a Binding/ check attribute) instead: {string.Join(", ", offenders)}");
    }
}
