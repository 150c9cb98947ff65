using System.Management.Automation;

namespace VfioMigration.PowerShell.Binding;

/// <summary>
/// Makes an enum parameter take exactly one of its names. PowerShell's own conversion also accepts a number
/// (<c>-State 3</c>) and a comma list it ORs together (<c>-State 'Running,Stop'</c> is StopCopy, 1|2), so a typo
/// or a config value could move a device somewhere nobody named. Anything but one allowed name (any case), or a
/// value of the enum that is one of them, is refused with an error that lists the allowed names.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class OneNameAttribute : ArgumentTransformationAttribute
{
    private readonly Type _enum;
    private readonly string[] _names;

    /// <param name="enumType">The parameter's enum type.</param>
    /// <param name="names">The names allowed; all the enum's names when none are given.</param>
    public OneNameAttribute(Type enumType, params string[] names)
    {
        _enum = enumType;
        _names = names.Length > 0 ? names : Enum.GetNames(enumType);
    }

    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        object? value = inputData is PSObject pso ? pso.BaseObject : inputData;
        if (value is null) return inputData; // the parameter's own null rules apply
        string allowed = $"give exactly one of: {string.Join(", ", _names)}";
        if (value.GetType() == _enum)
        {
            string? name = Enum.GetName(_enum, value);
            if (name is not null && _names.Contains(name)) return value;
            throw new ArgumentTransformationMetadataException($"'{value}' is not one {_enum.Name} name; {allowed}.");
        }
        if (value is not string text)
            throw new ArgumentTransformationMetadataException($"{value} ({value.GetType().Name}) is not a {_enum.Name} name; numbers are not accepted, {allowed}.");
        string trimmed = text.Trim();
        if (_names.FirstOrDefault(n => n.Equals(trimmed, StringComparison.OrdinalIgnoreCase)) is { } match)
            return Enum.Parse(_enum, match);
        string why = trimmed.Contains(',') ? "names more than one value, and only one is taken"
            : trimmed.Length > 0 && trimmed.All(c => char.IsAsciiDigit(c) || c is '-' or '+') ? "is a number, and only names are accepted"
            : Enum.GetNames(_enum).Any(n => n.Equals(trimmed, StringComparison.OrdinalIgnoreCase)) ? "is not taken here"
            : "is not a name of one";
        throw new ArgumentTransformationMetadataException($"'{text}' {why}; {allowed}.");
    }
}
