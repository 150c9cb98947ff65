using System.Management.Automation;

namespace VfioMigration.PowerShell.Session;

/// <summary>The real host's VFIO, as far as this version goes: it says clearly what is missing and what to use instead.</summary>
public static class RealHost
{
    public static ErrorRecord NotAvailableError()
    {
        string why = File.Exists("/dev/vfio/vfio")
            ? "this version of VfioMigration cannot drive real VFIO devices yet (the Linux backend is not implemented)"
            : "this host offers no VFIO (/dev/vfio/vfio does not exist: the vfio modules are not loaded, or this is not Linux)";
        var e = new VfioMigrationException($"Real devices are not available: {why}. Use -Simulated to work with the built-in simulated host.", "VfioNotAvailable");
        return new ErrorRecord(e, e.ErrorId, ErrorCategory.NotInstalled, null)
        {
            ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = "Add -Simulated, e.g. Get-VfioDevice -Simulated." },
        };
    }
}
