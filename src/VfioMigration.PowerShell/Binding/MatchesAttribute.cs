using System.Text.RegularExpressions;

namespace VfioMigration.PowerShell.Binding;

/// <summary>Text that matches a pattern; the error says in words what the pattern allows.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class MatchesAttribute : Attribute, IArgumentCheck
{
    private readonly Regex _pattern;

    /// <param name="pattern">The whole value must match it.</param>
    /// <param name="what">What it is: "a PCI id".</param>
    /// <param name="allowed">What it allows, in words: "1 to 4 hex digits".</param>
    public MatchesAttribute(string pattern, string what, string allowed)
    {
        _pattern = new Regex(pattern, RegexOptions.CultureInvariant);
        What = what;
        Allowed = allowed;
    }

    public string What { get; }
    public string Allowed { get; }

    string? IArgumentCheck.Refusal(object? value) => value switch
    {
        null => $"no value was given (null); give {What}: {Allowed}.",
        string s when _pattern.IsMatch(s) => null,
        _ => $"'{value}' is not {What}; give {Allowed}.",
    };
}
