using System.Management.Automation;
using VfioMigration.Backends.Linux;
using VfioMigration.PowerShell.Errors;

namespace VfioMigration.PowerShell.Session;

/// <summary>Whether this host offers VFIO, and the error that says what is missing and what to do.</summary>
public static class RealHost
{
    /// <summary>Null when the real host can be used; else the reason.</summary>
    public static string? Unavailable(SysfsDiscovery discovery)
    {
        if (!OperatingSystem.IsLinux()) return "VFIO exists only on Linux";
        if (!discovery.HasVfio) return $"this host offers no VFIO ({discovery.ContainerNode} does not exist: the vfio modules are not loaded; modprobe vfio-pci loads them)";
        return null;
    }

    public static ErrorRecord NotAvailableError(string why)
    {
        var e = new VfioMigrationException($"Real devices are not available: {why}. Use -Simulated to work with the built-in simulated host.", VfioErrors.VfioNotAvailable);
        return ErrorRecords.For(e, null, "Load the vfio modules (modprobe vfio-pci), or add -Simulated, e.g. Get-VfioDevice -Simulated.");
    }
}
