using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using VfioMigration.PowerShell.Binding;

namespace VfioMigration.PowerShell.Completion;

/// <summary>
/// Completes the names a text parameter of <typeparamref name="TCmdlet"/> takes, as its check (OneOf) lists them:
/// the check replaced ValidateSet, whose completion came with it, and the list is written once. (An enum
/// parameter is completed from its type by pwsh, before any completer.)
/// </summary>
public sealed class AllowedNamesCompleter<TCmdlet> : IArgumentCompleter where TCmdlet : Cmdlet
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var names = typeof(TCmdlet).GetProperty(parameterName)?.GetCustomAttributes(true).OfType<IAllowedNames>().FirstOrDefault()?.Names
                    ?? Array.Empty<string>();
        var word = wordToComplete.Trim('\'', '"');
        return names.Where(n => n.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .Select(n => new CompletionResult(n, n, CompletionResultType.ParameterValue, n)).ToArray();
    }
}
