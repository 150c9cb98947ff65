using VfioMigration.Transport;

namespace VfioMigration.Backends.Simulated;

/// <summary>The simulated host seen through the same backend interface as the real one.</summary>
public sealed class SimulatedBackend : IDeviceBackend
{
    public SimulatedBackend(SimulatedHost host) => Host = host;

    public SimulatedHost Host { get; }
    public bool IsSimulated => true;

    public IReadOnlyList<DeviceIdentity> Enumerate(bool includeCandidates = false)
    {
        var all = Host.Devices;
        return all.Select(d => Identify(d, all)).ToArray();
    }

    public IVfioDeviceTransport Open(string address) => Host[address].Open();

    public IConformanceObserver? Observe(string address) => new SimulatedConformanceObserver(Host[address]);

    /// <summary>
    /// The simulated process that holds the device (<see cref="SimulatedDevice.HeldBy"/>), and its state as a
    /// kernel with VFIO debugfs would show it.
    /// </summary>
    public DeviceHolding Holding(DeviceIdentity id)
    {
        var d = Host[id.Address];
        if (d.HeldBy is not { } holder) return DeviceHolding.None;
        return d.MigrationState is { } state
            ? new DeviceHolding
            {
                Holders = new[] { holder },
                State = state,
                Features = d.Options.Protocol == Protocol.MigrationProtocol.V2 ? DebugfsFeatures(d.Options.Capabilities) : null,
                Capabilities = d.Options.Protocol == Protocol.MigrationProtocol.V2 ? d.Options.Capabilities : null,
            }
            : new DeviceHolding { Holders = new[] { holder }, StateProblem = "the device has no migration state" };
    }

    private static string DebugfsFeatures(Protocol.MigrationCapabilities c) => string.Join(", ", new[]
    {
        c.HasFlag(Protocol.MigrationCapabilities.StopCopy) ? "stop-copy" : null,
        c.HasFlag(Protocol.MigrationCapabilities.P2P) ? "p2p" : null,
        c.HasFlag(Protocol.MigrationCapabilities.PreCopy) ? "pre-copy" : null,
    }.Where(w => w is not null));

    /// <summary>
    /// What the simulator's configuration says the device is, as sysfs would show it, and (what sysfs cannot) the
    /// device among <paramref name="host"/> it writes into peer-to-peer.
    /// </summary>
    public static DeviceIdentity Identify(SimulatedDevice d, IEnumerable<SimulatedDevice>? host = null)
    {
        var o = d.Options;
        var peer = d.Model.Peer is { } model ? host?.FirstOrDefault(x => x.Model == model)?.Address : null;
        var id = new DeviceIdentity
        {
            Address = o.Address,
            Kind = o.Kind == SimulatedDeviceKind.Ccw ? VfioDeviceKind.Ccw : VfioDeviceKind.Pci,
            Driver = o.Driver,
            IommuGroup = o.IommuGroup,
            IsSimulated = true,
            PeerAddress = peer,
        };
        return o.Kind == SimulatedDeviceKind.Ccw
            ? id with { DeviceId = o.CcwControlUnitType.ToString("x4"), DeviceNumber = $"0.0.{o.CcwDeviceNumber:x4}" }
            : o.PciIdentity.Describe(id);
    }
}
