using VfioMigration;
using VfioMigration.Inventory;
using VfioMigration.Linux;
using VfioMigration.Migration;
using VfioMigration.Protocol;

/// <summary>
/// mtty mdevs (kernel samples/vfio-mdev/mtty.c, v2 migration since 6.7) on the backports kernel: discovery and
/// opening of an emulated-IOMMU group, then real migration through the drivers and the cmdlets.
/// </summary>
internal static class MttyChecks
{
    public static void Run(Action<string, Func<string?>> check, string[] mdevs)
    {
        var discovery = new SysfsDiscovery();
        var found = discovery.Enumerate().Where(d => mdevs.Contains(d.Address, StringComparer.OrdinalIgnoreCase)).ToArray();

        check("discovery lists the mtty mdevs with their emulated-IOMMU group's plain node", () =>
        {
            if (found.Length != mdevs.Length) return $"found {found.Length} of {mdevs.Length}";
            foreach (var d in found)
            {
                string group = Path.GetFileName(new FileInfo($"/sys/bus/mdev/devices/{d.Address}/iommu_group").LinkTarget!);
                string name = File.ReadAllText($"/sys/kernel/iommu_groups/{group}/name").Trim();
                if (name != "vfio-noiommu") return $"{d.Address}: group {group} is named '{name}' (the kernel names emulated-IOMMU groups vfio-noiommu)";
                if (d.Kind != VfioDeviceKind.Mdev || d.Driver != "mtty" || d.DeviceId != "mtty-1" || !d.IsVfioBound) return $"{d.Address}: {d.Kind} {d.Driver} {d.DeviceId} bound {d.IsVfioBound}";
                if (d.GroupNode != $"/dev/vfio/{group}" || d.NoIommu || d.IommuGroup?.ToString() != group) return $"{d.Address}: node {d.GroupNode}, no-IOMMU {d.NoIommu}, group {d.IommuGroup}";
            }
            return null;
        });

        var backend = new LinuxBackend(discovery);
        check("an mdev opens through a TYPE1v2 container and reports v2 with StopCopy, P2P and PreCopy", () =>
        {
            foreach (var d in found)
            {
                using var t = backend.Open(d.Address);
                using var m = MigrationDriverFactory.Open(t);
                if (m.Protocol != MigrationProtocol.V2 || m.Capabilities != (MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy))
                    return $"{d.Address}: {m.Protocol} {m.Capabilities}";
            }
            return null;
        });
    }
}
