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

    public static DeviceIdentity Identify(SimulatedDevice d)
    {
        var o = d.Options;
        if (o.Kind == SimulatedDeviceKind.Ccw)
            return new DeviceIdentity
            {
                Address = o.Address,
                Kind = VfioDeviceKind.Ccw,
                Driver = o.Driver,
                IommuGroup = o.IommuGroup,
                DeviceId = o.CcwControlUnitType.ToString("x4"),
                DeviceNumber = $"0.0.{o.CcwDeviceNumber:x4}",
                IsSimulated = true,
            };
        var id = o.PciIdentity;
        return new DeviceIdentity
        {
            Address = o.Address,
            Kind = VfioDeviceKind.Pci,
            Driver = o.Driver,
            IommuGroup = o.IommuGroup,
            VendorId = id.VendorId.ToString("x4"),
            DeviceId = id.DeviceId.ToString("x4"),
            SubsystemVendorId = id.SubsystemVendorId.ToString("x4"),
            SubsystemId = id.SubsystemId.ToString("x4"),
            ClassCode = id.ClassCode.ToString("x6"),
            IsSimulated = true,
        };
    }
}
