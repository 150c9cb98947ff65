using System.Management.Automation;
using VfioMigration;

/// <summary>The cmdlets themselves against the real kernel, through the PowerShell engine hosted in the guest.</summary>
internal static class ModuleChecks
{
    public static void Run(Action<string, Func<string?>> check, HostedShell shell, string[] eduAddresses, int eduCount)
    {
        (List<PSObject> Output, List<ErrorRecord> Errors) Run(string script)
        {
            var (output, errors, _) = shell.Run(script);
            return (output, errors);
        }

        check("Get-VfioDevice lists the edu devices with driver, group and ids", () =>
        {
            var (output, errors) = Run("Get-VfioDevice");
            var devices = output.Select(o => (VfioDevice)o.BaseObject).Where(d => d.VendorId == "1234").ToArray();
            if (errors.Count > 0) return string.Join("; ", errors);
            return devices.Length == eduCount && devices.All(d => d.Driver == "vfio-pci" && d.DeviceId == "11e8" && d.IommuGroup is not null
                && d.Protocol == VfioMigration.Protocol.MigrationProtocol.None && !d.IsSimulated)
                ? null : string.Join("; ", devices.Select(d => $"{d.Name} {d.Driver} {d.IommuGroup} {d.Protocol}"));
        });

        check("Get-VfioDevice closes what it only looked at: a second process could open the group", () =>
        {
            Run("$null = Get-VfioDevice");
            using var t = new VfioMigration.Backends.Linux.LinuxBackend().Open(eduAddresses[0]);
            return null;
        });

        check("Set-VfioDeviceState on a device without migration is a clear, non-terminating error", () =>
        {
            var (_, errors) = Run($"Set-VfioDeviceState -Address {eduAddresses[0]} -State Stop");
            var e = errors.SingleOrDefault();
            return e is not null && e.FullyQualifiedErrorId.StartsWith("MigrationNotSupported,", StringComparison.Ordinal)
                && e.Exception.Message.Contains("does not support migration") ? null : string.Join("; ", errors.Select(x => x.FullyQualifiedErrorId));
        });

        check("Test-VfioMigration names plain vfio-pci, with the fix", () =>
        {
            var (output, errors) = Run($"Test-VfioMigration -Address {eduAddresses[1]}");
            var r = output.Select(o => (VfioMigrationReadiness)o.BaseObject).SingleOrDefault();
            return r is not null && !r.CanMigrate && r.Blockers.Any(b => b.Code == "PlainVfioPci" && b.Fix.Contains("variant driver"))
                ? null : $"{errors.Count} errors; {string.Join(", ", r?.Blockers.Select(b => b.Code) ?? Array.Empty<string>())}";
        });

        check("Get-VfioDevice -All adds the other PCI functions as candidates", () =>
        {
            var (output, errors) = Run("Get-VfioDevice -All");
            var all = output.Select(o => (VfioDevice)o.BaseObject).ToArray();
            return errors.Count == 0 && all.Any(d => !d.IsVfioBound) && all.Count(d => d.IsVfioBound) >= 2 ? null : $"{all.Length} devices, {errors.Count} errors";
        });
    }
}
