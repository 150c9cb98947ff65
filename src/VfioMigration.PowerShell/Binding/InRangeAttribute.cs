using System.Globalization;

namespace VfioMigration.PowerShell.Binding;

/// <summary>A whole number from a minimum to a maximum, both allowed.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class InRangeAttribute : Attribute, IArgumentCheck
{
    public InRangeAttribute(long min, long max) => (Min, Max) = (min, max);

    public long Min { get; }
    public long Max { get; }

    string? IArgumentCheck.Refusal(object? value)
    {
        string allowed = $"give a number from {Min.ToString(CultureInfo.InvariantCulture)} to {Max.ToString(CultureInfo.InvariantCulture)}";
        if (value is null) return $"no value was given (null); {allowed}.";
        decimal n = Convert.ToDecimal(value, CultureInfo.InvariantCulture);
        return n < Min || n > Max ? $"{n.ToString(CultureInfo.InvariantCulture)} is out of range; {allowed}." : null;
    }
}
