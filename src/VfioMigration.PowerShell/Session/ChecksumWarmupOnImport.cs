using System.Management.Automation;
using VfioMigration.Images;

namespace VfioMigration.PowerShell.Session;

/// <summary>
/// Starts Core's checksum warm-up when the module is imported, so that a user's first save, restore or listing
/// finds XXH128 optimized instead of spending its first few hundred MiB at tier 0 (<see cref="ChecksumWarmup"/>).
/// It runs on a background thread for at most a few seconds and never delays the import.
/// </summary>
public sealed class ChecksumWarmupOnImport : IModuleAssemblyInitializer
{
    public void OnImport() => ChecksumWarmup.Start();
}
