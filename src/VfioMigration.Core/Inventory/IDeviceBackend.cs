using VfioMigration.Transport;

namespace VfioMigration.Inventory;

/// <summary>Where devices come from: the simulated host or the real one. Lists devices and opens them.</summary>
public interface IDeviceBackend
{
    bool IsSimulated { get; }
    IReadOnlyList<DeviceIdentity> Enumerate();
    /// <summary>Opens a device for exclusive use; throws <see cref="VfioMigrationException"/> with a clear id when it cannot.</summary>
    IVfioDeviceTransport Open(string address);
}
