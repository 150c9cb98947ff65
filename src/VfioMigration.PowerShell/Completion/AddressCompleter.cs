using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using VfioMigration.PowerShell.Session;

namespace VfioMigration.PowerShell.Completion;

/// <summary>
/// Completes device addresses: the simulated host's when -Simulated is given (or the cmdlet works only on the
/// simulated host). Never throws and never opens a device, so it stays fast.
/// </summary>
public sealed class AddressCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        try
        {
            bool simulated = fakeBoundParameters.Contains("Simulated") || commandName.Contains("Simulated", StringComparison.OrdinalIgnoreCase);
            if (!simulated) return Array.Empty<CompletionResult>();
            var word = wordToComplete.Trim('\'', '"');
            var pattern = WildcardPattern.Get(word + "*", WildcardOptions.IgnoreCase);
            return ModuleState.Current.SimulatedHost.Devices
                .Where(d => pattern.IsMatch(d.Address))
                .Select(d => new CompletionResult(d.Address, d.Address, CompletionResultType.ParameterValue,
                    $"{d.Address} {d.Options.Kind} {d.Options.Driver} {d.Options.Protocol}"))
                .ToArray();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>(); // a completer must never break the prompt
        }
    }
}
