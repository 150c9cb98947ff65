using VfioMigration.Transport;

namespace VfioMigration.Backends.Simulated;

/// <summary>The simulated host seen through the same backend interface as the real one.</summary>
public sealed class SimulatedBackend : IDeviceBackend
{
    public SimulatedBackend(SimulatedHost host) => Host = host;

    public SimulatedHost Host { get; }
    public bool IsSimulated => true;

    public IReadOnlyList<DeviceIdentity> Enumerate(bool includeCandidates = false) => Host.Devices.Select(Identify).ToArray();

    public IVfioDeviceTransport Open(string address) => Host[address].Open();

    public IConformanceObserver? Observe(string address) => new SimulatedConformanceObserver(Host[address]);

    /// <summary>What the simulator's configuration says the device is, as sysfs would show it.</summary>
    public static DeviceIdentity Identify(SimulatedDevice d)
    {
        var o = d.Options;
        var id = new DeviceIdentity
        {
            Address = o.Address,
            Kind = o.Kind == SimulatedDeviceKind.Ccw ? VfioDeviceKind.Ccw : VfioDeviceKind.Pci,
            Driver = o.Driver,
            IommuGroup = o.IommuGroup,
            IsSimulated = true,
        };
        return o.Kind == SimulatedDeviceKind.Ccw
            ? id with { DeviceId = o.CcwControlUnitType.ToString("x4"), DeviceNumber = $"0.0.{o.CcwDeviceNumber:x4}" }
            : o.PciIdentity.Describe(id);
    }
}
