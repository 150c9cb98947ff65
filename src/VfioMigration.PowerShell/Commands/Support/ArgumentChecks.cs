using System.Collections.Concurrent;
using System.Management.Automation;
using System.Reflection;
using VfioMigration.PowerShell.Binding;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Runs the checks (<see cref="IArgumentCheck"/>) on a cmdlet's bound parameters. They replace the Validate*
/// attributes and throwing transformations, whose failures pwsh raises while binding, before any module code runs:
/// a ParameterBindingException ends only the statement, so under <c>-ErrorAction Stop</c> a script went on. Here a
/// refused value is the module's InvalidParameterValue error, and <see cref="Refusal"/> makes it stop the script.
/// </summary>
internal static class ArgumentChecks
{
    private static readonly ConcurrentDictionary<Type, IReadOnlyDictionary<string, IArgumentCheck[]>> ByCmdlet = new();

    /// <summary>The error for the first of <paramref name="parameters"/> (bound) whose value a check refuses; null when none is.</summary>
    public static VfioMigrationException? Refusal(PSCmdlet cmdlet, IEnumerable<string> parameters)
    {
        var checks = ByCmdlet.GetOrAdd(cmdlet.GetType(), ChecksOf);
        foreach (var name in parameters)
        {
            if (!checks.TryGetValue(name, out var list) || !cmdlet.MyInvocation.BoundParameters.TryGetValue(name, out var bound)) continue;
            object? value = bound is PSObject pso ? pso.BaseObject : bound;
            foreach (var check in list)
                if (check.Refusal(value) is { } why)
                    return new VfioMigrationException($"-{name}: {why}", VfioErrors.InvalidParameterValue);
        }
        return null;
    }

    /// <summary>Per parameter, the checks on its property as the cmdlet declares it (an override's own attributes).</summary>
    private static IReadOnlyDictionary<string, IArgumentCheck[]> ChecksOf(Type cmdlet) =>
        cmdlet.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .GroupBy(p => p.Name, StringComparer.OrdinalIgnoreCase)
            .Select(g => g.OrderByDescending(p => Depth(p.DeclaringType)).First())
            .Select(p => (p.Name, Checks: p.GetCustomAttributes(false).OfType<IArgumentCheck>().ToArray()))
            .Where(p => p.Checks.Length > 0)
            .ToDictionary(p => p.Name, p => p.Checks, StringComparer.OrdinalIgnoreCase);

    private static int Depth(Type? t)
    {
        int n = 0;
        for (; t is not null; t = t.BaseType) n++;
        return n;
    }
}
