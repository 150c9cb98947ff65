namespace VfioMigration.PowerShell.Binding;

/// <summary>
/// How a transformation refuses without a binding error: it returns a value of the parameter's enum that no name
/// has (int.MinValue and up), which pwsh binds as it is, and the cmdlet's check finds it and reads back why. The
/// reasons sit in a small ring: one is read right after its binding, before that command begins.
/// </summary>
internal static class RefusedEnumValue
{
    private const int Slots = 1024;
    private static readonly string?[] Reasons = new string?[Slots];
    private static int _next = -1;

    /// <summary>A value of <paramref name="enumType"/> (its underlying type is int) that stands for <paramref name="reason"/>.</summary>
    public static object Mark(Type enumType, string reason)
    {
        int slot = (int)((uint)Interlocked.Increment(ref _next) % Slots);
        Volatile.Write(ref Reasons[slot], reason);
        return Enum.ToObject(enumType, int.MinValue + slot);
    }

    /// <summary>Why <paramref name="value"/> was refused, when it is a mark; null otherwise.</summary>
    public static string? Reason(object? value)
    {
        if (value is null || !value.GetType().IsEnum || Enum.GetUnderlyingType(value.GetType()) != typeof(int)) return null;
        long n = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) - int.MinValue;
        return n is >= 0 and < Slots ? Volatile.Read(ref Reasons[n]) : null;
    }
}
