using System.Management.Automation;

namespace VfioMigration.PowerShell.Tests;

public sealed class HelpAndCompletionTests : IDisposable
{
    private readonly Engine _ps = new();

    internal static readonly string[] Cmdlets =
        { "Get-VfioDevice", "Set-VfioDeviceState", "Reset-VfioDevice", "New-VfioSimulatedDevice", "Remove-VfioSimulatedDevice", "Add-VfioSimulatedFault", "Clear-VfioSimulatedFault", "Save-VfioDeviceState", "Restore-VfioDeviceState", "Get-VfioStateImage", "Export-VfioQemuStream", "Test-VfioMigration", "Test-VfioMigrationConformance", "Get-VfioConformanceSuite" };

    [Fact]
    public void EveryCmdletHasHelpForEveryParameterAndAnExamplePerParameterSet()
    {
        foreach (var name in Cmdlets)
        {
            var help = _ps.Ok($"Get-Help {name} -Full").Single();
            string synopsis = help.Properties["Synopsis"].Value?.ToString() ?? "";
            Assert.False(string.IsNullOrWhiteSpace(synopsis), $"{name}: no synopsis");
            Assert.DoesNotContain(name + " ", synopsis.TrimStart()); // auto-generated help starts with the syntax
            var cmd = _ps.Ok($"Get-Command {name}").Single().BaseObject as CmdletInfo;
            var documented = _ps.Ok($"(Get-Help {name} -Full).parameters.parameter.name").Where(o => o is not null).Select(o => o.ToString()).ToHashSet(); // none for a cmdlet without parameters
            foreach (var p in cmd!.Parameters.Keys.Where(p => !IsCommon(p)))
                Assert.True(documented.Contains(p), $"{name}: parameter {p} has no help");
            foreach (var p in documented)
            {
                var desc = _ps.Ok($"((Get-Help {name} -Parameter {p}).description | ForEach-Object Text) -join ''").Single().ToString();
                Assert.False(string.IsNullOrWhiteSpace(desc), $"{name} -{p}: empty description");
            }
            int examples = _ps.Ok($"@((Get-Help {name} -Full).examples.example).Count").Single().BaseObject is int n ? n : 0;
            Assert.True(examples >= Math.Max(2, cmd.ParameterSets.Count), $"{name}: {examples} examples for {cmd.ParameterSets.Count} parameter sets");
        }
    }

    private static bool IsCommon(string p) => p is "Verbose" or "Debug" or "ErrorAction" or "WarningAction" or "InformationAction" or "ProgressAction"
        or "ErrorVariable" or "WarningVariable" or "InformationVariable" or "OutVariable" or "OutBuffer" or "PipelineVariable";

    [Fact]
    public void TheAboutTopicIsThere()
    {
        var text = string.Join("\n", _ps.Ok("Get-Help about_VfioMigration").Select(o => o.ToString()));
        Assert.Contains("DEVICE LIFETIME", text);
    }

    private string[] Complete(string input)
    {
        using var shell = System.Management.Automation.PowerShell.Create();
        shell.Runspace = _ps.Runspace;
        var result = CommandCompletion.CompleteInput(input, input.Length, null, shell);
        return result.CompletionMatches.Select(m => m.CompletionText).ToArray();
    }

    [Fact]
    public void AddressesOfTheSimulatedHostComplete()
    {
        _ps.Ok("$null = Get-VfioDevice -Simulated"); // the host exists once used
        Assert.Equal(new[] { "0000:3b:00.2", "0000:3b:00.3" }, Complete("Set-VfioDeviceState -Simulated -Address 0000:3b"));
        Assert.Equal(new[] { "0.0.0100", "0.0.0101" }, Complete("Remove-VfioSimulatedDevice -Address 0.0."));
        Assert.Empty(Complete("Set-VfioDeviceState -Address 0000:3b"));
    }

    [Fact]
    public void StatesCompleteWithoutError()
    {
        // pwsh completes an enum parameter from its type: Error too, which the cmdlet refuses with the allowed names
        // (only a ValidateSet narrowed it, and a ValidateSet's refusal did not stop a script at -ErrorAction Stop).
        var states = Complete("Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State ");
        Assert.Equal(new[] { "Error", "PreCopy", "PreCopyP2P", "Resuming", "Running", "RunningP2P", "Stop", "StopCopy" }, states.Order());
        Assert.Equal(new[] { "PreCopy", "PreCopyP2P" }, Complete("Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State Pre"));
    }

    [Fact]
    public void ConformanceAreasComplete()
    {
        Assert.Equal(new[] { "plumbing", "fsm", "data", "resume", "dma-logging", "v1", "ndma" }, Complete("Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -Area "));
        Assert.Equal(new[] { "data", "dma-logging" }, Complete("Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -Area d"));
    }

    public void Dispose() => _ps.Dispose();
}
