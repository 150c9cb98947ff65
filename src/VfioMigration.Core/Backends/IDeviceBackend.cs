using VfioMigration.Transport;

namespace VfioMigration.Backends;

/// <summary>Where devices come from: the simulated host or the real one. Lists devices and opens them.</summary>
public interface IDeviceBackend
{
    bool IsSimulated { get; }
    /// <summary>The devices usable through VFIO; with <paramref name="includeCandidates"/> also those bound to other drivers.</summary>
    IReadOnlyList<DeviceIdentity> Enumerate(bool includeCandidates = false);
    /// <summary>Opens a device for exclusive use; throws <see cref="VfioMigrationException"/> with a clear id when it cannot.</summary>
    IVfioDeviceTransport Open(string address);
    /// <summary>
    /// What can be seen of a device beyond its uAPI (arcs walked, peer writes, internal state), for the conformance
    /// suite; null where nothing can (a real device).
    /// </summary>
    IConformanceObserver? Observe(string address);
    /// <summary>
    /// Who holds the device (other processes, read without opening it) and the migration state the kernel shows
    /// for it without opening it; each part says why it is missing when it is.
    /// </summary>
    DeviceHolding Holding(DeviceIdentity id);
}
