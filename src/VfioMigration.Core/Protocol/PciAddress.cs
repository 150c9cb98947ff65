using System.Text.RegularExpressions;

namespace VfioMigration.Protocol;

/// <summary>
/// The parts of a PCI function's address as the kernel names it in sysfs (<c>dddd:bb:dd.f</c>: domain, bus,
/// device, function); any other name (a ccw bus id, an mdev UUID) has none.
/// </summary>
internal static partial class PciAddress
{
    /// <summary>The slot (domain:bus:device) a function sits in, as written; null for a name that is not a PCI address.</summary>
    public static string? Slot(string address) => Parse().Match(address) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>The function number, 0 to 7; null for a name that is not a PCI address.</summary>
    public static int? Function(string address) => Parse().Match(address) is { Success: true } m ? m.Groups[2].Value[0] - '0' : null;

    [GeneratedRegex(@"^([0-9a-fA-F]{4,}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2})\.([0-7])$", RegexOptions.CultureInvariant)]
    private static partial Regex Parse();
}
