using VfioMigration.Inventory;
using VfioMigration.Transport;

namespace VfioMigration.Linux;

/// <summary>The real host: devices from sysfs, opened through their IOMMU group.</summary>
public sealed class LinuxBackend : IDeviceBackend
{
    public LinuxBackend(SysfsDiscovery? discovery = null) => Discovery = discovery ?? new SysfsDiscovery();

    public SysfsDiscovery Discovery { get; }
    public bool IsSimulated => false;
    public IReadOnlyList<DeviceIdentity> Enumerate(bool includeCandidates = false) => Discovery.Enumerate(includeCandidates);

    public IVfioDeviceTransport Open(string address)
    {
        var id = Discovery.Enumerate(includeUnbound: true).FirstOrDefault(d => string.Equals(d.Address, address, StringComparison.OrdinalIgnoreCase))
            ?? throw new VfioMigrationException($"No device at '{address}' in sysfs.", "DeviceNotFound", address);
        if (!id.IsVfioBound)
            throw new VfioMigrationException($"{address} is bound to {id.Driver ?? "no driver"}, not to a VFIO driver: bind it to vfio-pci or a vfio variant driver first (this module never rebinds drivers).", "DeviceNotBound", address);
        // The group interface works on every kernel that has it; the cdev is for kernels built without it.
        if (id.GroupNode is not null)
            return LinuxVfioTransport.Open(id.Address, id.GroupNode, Discovery.ContainerNode, id.NoIommu);
        if (id.DeviceNode is not null)
            return LinuxVfioTransport.OpenCdev(id.Address, id.DeviceNode, Discovery.IommuNode);
        throw new VfioMigrationException($"{address}: no VFIO group node for IOMMU group {id.IommuGroup} and no device cdev{(id.Problem is null ? "" : $" ({id.Problem})")}.", "DeviceNotBound", address);
    }
}
