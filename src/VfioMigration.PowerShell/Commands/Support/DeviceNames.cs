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
    /// The devices one name or wildcard pattern matches. A literal name that matches nothing, a name with a control
    /// character (a NUL would cut the name short where the kernel reads it), and a pattern that is not a valid
    /// wildcard, are errors for that name only; so is a wildcard that matches nothing when
    /// <paramref name="wildcardMustMatch"/> (a cmdlet that acts must say it acted on nothing, where a listing is
    /// simply empty, as Get-* cmdlets are).
    /// </summary>
    public static IReadOnlyList<DeviceIdentity> Resolve(this VfioCmdlet cmdlet, VfioHostSession session, IReadOnlyList<DeviceIdentity> all, string pattern, bool wildcardMustMatch = false)
    {
        string where = session.Backend.IsSimulated ? "simulated " : "";
        string list = $"Get-VfioDevice{(session.Backend.IsSimulated ? " -Simulated" : "")} lists the devices there are";
        if (string.IsNullOrWhiteSpace(pattern))
        {
            cmdlet.WriteVfioError(new VfioMigrationException(
                $"'{DisplayText.Escape(pattern)}' is not a device name: it is empty or blank (a variable that was not set?). {list}.", VfioErrors.InvalidDeviceName, pattern), pattern);
            return Array.Empty<DeviceIdentity>();
        }
        if (pattern.Any(char.IsControl))
        {
            string shown = DisplayText.Escape(pattern);
            cmdlet.WriteVfioError(new VfioMigrationException(
                $"'{shown}' is not a device name: it contains a control character ({(pattern.Contains('\0') ? "NUL" : "e.g. a newline or escape")}); device names are PCI addresses, ccw bus ids or mdev UUIDs, optionally with wildcards. {list}.",
                VfioErrors.InvalidDeviceName, shown), shown);
            return Array.Empty<DeviceIdentity>();
        }
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
        else if (matches.Length == 0 && wildcardMustMatch)
            cmdlet.WriteVfioError(new VfioMigrationException($"No {where}VFIO device matches '{pattern}', so nothing was done for it. {list}.", VfioErrors.DeviceNotFound, pattern), pattern);
        return matches;
    }
}
