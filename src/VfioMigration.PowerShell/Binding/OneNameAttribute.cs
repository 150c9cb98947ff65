using System.Management.Automation;

namespace VfioMigration.PowerShell.Binding;

/// <summary>
/// Makes an enum parameter take exactly one of its names. PowerShell's own conversion also accepts a number
/// (<c>-State 3</c>) and a comma list it ORs together (<c>-State 'Running,Stop'</c> is StopCopy, 1|2), so a typo
/// or a config value could move a device somewhere nobody named. Anything but one allowed name (any case), or a
/// value of the enum that is one of them, is refused with an error that lists the allowed names. The refusal is
/// the cmdlet's (InvalidParameterValue, which <c>-ErrorAction Stop</c> stops at), not the binding's: the
/// transformation passes a <see cref="RefusedEnumValue"/> on, so the parameter keeps its enum type (help shows
/// it, <c>[MigrationState]::Stop</c> is a value). Completion offers all the enum's names: pwsh completes an enum
/// parameter from its type before any ArgumentCompleter, and only a ValidateSet narrowed that.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class OneNameAttribute : ArgumentTransformationAttribute, IArgumentCheck
{
    private readonly Type _enum;
    private readonly string[] _names;

    /// <param name="enumType">The parameter's enum type (its underlying type is int).</param>
    /// <param name="names">The names allowed; all the enum's names when none are given.</param>
    public OneNameAttribute(Type enumType, params string[] names)
    {
        if (!enumType.IsEnum || Enum.GetUnderlyingType(enumType) != typeof(int)) throw new ArgumentException($"{enumType} is not an enum over int.", nameof(enumType));
        _enum = enumType;
        _names = names.Length > 0 ? names : Enum.GetNames(enumType);
    }

    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        object? value = inputData is PSObject pso ? pso.BaseObject : inputData;
        if (value is null) return inputData; // the parameter's own null rules apply
        return Check(value) is { } why ? RefusedEnumValue.Mark(_enum, why) : value is string ? Enum.Parse(_enum, Match((string)value)!) : value;
    }

    string? IArgumentCheck.Refusal(object? value) => value is null ? null : RefusedEnumValue.Reason(value) ?? Check(value);

    private string? Match(string text) => _names.FirstOrDefault(n => n.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>Why <paramref name="value"/> is not one allowed name; null when it is.</summary>
    private string? Check(object value)
    {
        string allowed = $"give exactly one of: {string.Join(", ", _names)}";
        if (value.GetType() == _enum)
        {
            string? name = Enum.GetName(_enum, value);
            return name is not null && _names.Contains(name) ? null : $"'{value}' is not one {_enum.Name} name; {allowed}.";
        }
        if (value is not string text)
            return $"{value} ({value.GetType().Name}) is not a {_enum.Name} name; numbers are not accepted, {allowed}.";
        if (Match(text) is not null) return null;
        string trimmed = text.Trim();
        string why = trimmed.Contains(',') ? "names more than one value, and only one is taken"
            : trimmed.Length > 0 && trimmed.All(c => char.IsAsciiDigit(c) || c is '-' or '+') ? "is a number, and only names are accepted"
            : Enum.GetNames(_enum).Any(n => n.Equals(trimmed, StringComparison.OrdinalIgnoreCase)) ? "is not taken here"
            : "is not a name of one";
        return $"'{text}' {why}; {allowed}.";
    }
}
