using System.Collections;

namespace VfioMigration.PowerShell.Binding;

/// <summary>
/// Text that is one of a fixed list of names, any case; for a list parameter, every element. Its completer is
/// <c>Completion/AllowedNamesCompleter</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class OneOfAttribute : Attribute, IArgumentCheck, IAllowedNames
{
    private readonly string[] _names;

    public OneOfAttribute(params string[] names) => _names = names;

    public IReadOnlyList<string> Names => _names;

    string? IArgumentCheck.Refusal(object? value)
    {
        var given = value switch
        {
            null => new object?[] { null },
            string s => new object?[] { s },
            IEnumerable list => list.Cast<object?>().ToArray(),
            _ => new[] { value },
        };
        if (given.Length == 0) return $"the list is empty; give one or more of: {string.Join(", ", _names)}.";
        foreach (var v in given)
            if (v is not string s || !_names.Contains(s, StringComparer.OrdinalIgnoreCase))
                return $"{(v is null ? "null" : $"'{v}'")} is not one of: {string.Join(", ", _names)}; give one or more of them.";
        return null;
    }
}
