using System.Management.Automation;
using VfioMigration.Operations;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Device names and wildcard patterns resolved against a session's devices, with an error per name that matches
/// nothing or is not a valid pattern.
/// </summary>
internal static class DeviceNames
{
    /// <summary>Resolves name patterns against a session's devices; a literal name that matches nothing is an error.</summary>
    public static IReadOnlyList<DeviceIdentity> Resolve(this VfioCmdlet cmdlet, VfioHostSession session, IEnumerable<string> patterns, bool includeCandidates = false)
    {
        var all = session.Enumerate(includeCandidates);
        var found = new List<DeviceIdentity>();
        foreach (var pattern in patterns)
            found.AddRange(cmdlet.Resolve(session, all, pattern).Where(m => !found.Contains(m)));
        return found;
    }

    /// <summary>
    /// The devices one name or wildcard pattern matches. A literal name that matches nothing, and a pattern that is
    /// not a valid wildcard, are errors for that name only.
    /// </summary>
    public static IReadOnlyList<DeviceIdentity> Resolve(this VfioCmdlet cmdlet, VfioHostSession session, IReadOnlyList<DeviceIdentity> all, string pattern)
    {
        string where = session.Backend.IsSimulated ? "simulated " : "";
        string list = $"Get-VfioDevice{(session.Backend.IsSimulated ? " -Simulated" : "")} lists the devices there are";
        DeviceIdentity[] matches;
        try
        {
            var wildcard = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase);
            matches = all.Where(d => wildcard.IsMatch(d.Address)).ToArray();
        }
        catch (WildcardPatternException e)
        {
            cmdlet.WriteVfioError(new VfioMigrationException(
                $"'{pattern}' is neither a device name nor a valid wildcard pattern ({e.Message.TrimEnd('.')}); {list}.", VfioErrors.InvalidDeviceName, pattern, e), pattern);
            return Array.Empty<DeviceIdentity>();
        }
        if (matches.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
            cmdlet.WriteVfioError(new VfioMigrationException($"No {where}VFIO device at '{pattern}'. {list}.", VfioErrors.DeviceNotFound, pattern), pattern);
        return matches;
    }
}
