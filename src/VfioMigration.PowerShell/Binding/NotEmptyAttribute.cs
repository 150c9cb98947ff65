using System.Collections;

namespace VfioMigration.PowerShell.Binding;

/// <summary>
/// The value may not be null or empty, nor a list that is empty or holds an empty value (a variable that was not
/// set). A mandatory parameter with this check also needs AllowNull, AllowEmptyString and AllowEmptyCollection,
/// or pwsh's own mandatory check refuses first, as a binding error.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class NotEmptyAttribute : Attribute, IArgumentCheck
{
    /// <param name="what">What the parameter takes, for the error: "a file path".</param>
    public NotEmptyAttribute(string what) => What = what;

    public string What { get; }

    string? IArgumentCheck.Refusal(object? value) => value switch
    {
        null => $"no value was given (null: a variable that was not set?); give {What}.",
        string s when s.Length == 0 => $"the value is empty; give {What}.",
        string => null,
        IEnumerable list when !list.Cast<object?>().Any() => $"the list is empty; give {What}.",
        IEnumerable list when list.Cast<object?>().Any(v => v is null || v is string { Length: 0 }) => $"the list holds an empty value; give {What}.",
        _ => null,
    };
}
