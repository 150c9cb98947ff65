using System.Text.RegularExpressions;
using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// A simulated hypervisor host: its VFIO devices (kept in address order), the guest memory they DMA into, and
/// the data fd numbers they hand out.
/// </summary>
public sealed partial class SimulatedHost
{
    private readonly SortedDictionary<string, SimulatedDevice> _devices = new(StringComparer.OrdinalIgnoreCase);
    private readonly object _sync = new();
    private int _nextFd = 100;

    public SimulatedHost(long guestMemorySize = 16 * 1024 * 1024) => Guest = new GuestMemory(guestMemorySize);

    public GuestMemory Guest { get; }

    public IReadOnlyList<SimulatedDevice> Devices
    {
        get { lock (_sync) return _devices.Values.ToArray(); }
    }

    public SimulatedDevice? Find(string address)
    {
        lock (_sync) return _devices.TryGetValue(address, out var d) ? d : null;
    }

    public SimulatedDevice this[string address] =>
        Find(address) ?? throw new VfioMigrationException($"No simulated device at '{address}'.", VfioErrors.DeviceNotFound, address);

    /// <summary>Adds a device; the options are checked first and a bad one is refused with the reason.</summary>
    public SimulatedDevice Add(SimulatedDeviceOptions options, string? peerAddress = null)
    {
        lock (_sync)
        {
            Validate(options);
            if (_devices.ContainsKey(options.Address))
                throw new VfioMigrationException($"A simulated device already exists at '{options.Address}'.", VfioErrors.DeviceExists, options.Address);
            SimulatedDevice? peer = null;
            if (peerAddress is not null)
            {
                if (string.Equals(peerAddress, options.Address, StringComparison.OrdinalIgnoreCase))
                    throw new VfioMigrationException($"A device cannot be its own peer ('{peerAddress}'); give another existing PCI device.", VfioErrors.InvalidSimulatedDevice, options.Address);
                if (!_devices.TryGetValue(peerAddress, out peer))
                    throw new VfioMigrationException($"Peer '{peerAddress}' does not exist; add it first.", VfioErrors.PeerNotFound, options.Address);
                if (peer.Options.Kind != SimulatedDeviceKind.Pci || options.Kind != SimulatedDeviceKind.Pci)
                    throw new VfioMigrationException("Only PCI devices can be linked peer-to-peer.", VfioErrors.PeerNotPci, options.Address);
            }
            var device = new SimulatedDevice(options, Guest, () => Interlocked.Increment(ref _nextFd));
            _devices.Add(options.Address, device);
            if (peer is not null) Link(device, peer);
            return device;
        }
    }

    public void Remove(string address)
    {
        lock (_sync)
        {
            var device = this[address];
            if (device.IsOpen)
                throw new VfioMigrationException($"'{address}' is open; close it before removing it.", VfioErrors.DeviceInUse, address);
            foreach (var other in _devices.Values)
                if (other.Model.Peer == device.Model) other.Model.Peer = null;
            _devices.Remove(address);
        }
    }

    /// <summary>Links two devices peer-to-peer, both ways: each DMA-writes into the other's BAR.</summary>
    public static void Link(SimulatedDevice a, SimulatedDevice b)
    {
        a.Model.Peer = b.Model;
        b.Model.Peer = a.Model;
    }

    /// <summary>Lets every device do <paramref name="steps"/> units of work.</summary>
    public void Advance(int steps)
    {
        foreach (var d in Devices) d.Advance(steps);
    }

    public static void Validate(SimulatedDeviceOptions o)
    {
        string? why = null;
        if (o.Kind == SimulatedDeviceKind.Pci && o.Driver == SimulatedDeviceOptions.PlainVfioPci && o.Protocol != MigrationProtocol.None)
            why = $"plain {SimulatedDeviceOptions.PlainVfioPci} has no migration support, so a device bound to it cannot speak {o.Protocol}; use protocol None for a plain vfio-pci device, or a variant driver name (the default, {SimulatedDeviceOptions.VariantDriver}).";
        else if (o.Kind == SimulatedDeviceKind.Pci && !PciAddress().IsMatch(o.Address))
            why = $"'{o.Address}' is not a PCI address; use domain:bus:device.function, e.g. 0000:3b:00.2.";
        else if (o.Kind == SimulatedDeviceKind.Ccw && !CcwAddress().IsMatch(o.Address))
            why = $"'{o.Address}' is not a ccw subchannel bus id; use cssid.ssid.devno, e.g. 0.0.0100.";
        else if (o.MemorySize < 16 * 1024 || o.MemorySize % PagedMemory.PageSize != 0 || o.MemorySize > 64L << 30)
            why = $"Memory size {o.MemorySize} is not allowed; use a multiple of 4 KiB from 16 KiB to 64 GiB.";
        else if (o.Protocol == MigrationProtocol.V2 && !o.Capabilities.HasFlag(MigrationCapabilities.StopCopy))
            why = "A v2 device needs the StopCopy capability (P2P and PreCopy are optional).";
        else if (o.Protocol == MigrationProtocol.V2 && o.Capabilities.HasFlag(MigrationCapabilities.Ndma))
            why = "Ndma is a v1 capability; v2 devices quiesce with P2P.";
        else if (o.Protocol == MigrationProtocol.V1 && (o.Capabilities & (MigrationCapabilities.P2P)) != 0)
            why = "P2P is a v2 capability; v1 devices quiesce with Ndma.";
        else if (o.Protocol == MigrationProtocol.None && o.Capabilities is not MigrationCapabilities.None and not MigrationCapabilities.StopCopy)
            why = "A device without migration support has no migration capabilities.";
        else if (o.V1DataSectionSize < 4096 || o.V1DataSectionSize > 16 << 20)
            why = "The v1 data section must be from 4 KiB to 16 MiB.";
        else if (o.IommuGroup < 0)
            why = "IOMMU group numbers are not negative.";
        else if (o.NdmaReading != NdmaReading.Rfc && !(o.Protocol == MigrationProtocol.V1 && o.Capabilities.HasFlag(MigrationCapabilities.Ndma)))
            why = $"The NDMA reading {o.NdmaReading} needs a v1 device with the Ndma capability.";
        else if (o.PreCopyReinitAfterBytes is { } reinit && (reinit < 0 || o.Protocol != MigrationProtocol.V2 || !o.Capabilities.HasFlag(MigrationCapabilities.PreCopy)))
            why = "A pre-copy re-init needs a v2 device with PreCopy and a byte count of 0 or more.";
        why ??= DefectiveTransport.Problem(o);
        if (why is not null) throw new VfioMigrationException(why, VfioErrors.InvalidSimulatedDevice, o.Address);
    }

    /// <summary>
    /// The host users start with: two v2 PCI functions with STOP_COPY + P2P + PRE_COPY linked peer-to-peer, one
    /// v2 function with STOP_COPY only, v1 functions with and without NDMA, one function with no migration
    /// support, and two ccw subchannels.
    /// </summary>
    public static SimulatedHost CreateDefault()
    {
        var host = new SimulatedHost();
        var all = MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy;
        var cx7Vf = new PciIdentity(0x15b3, 0x101e, 0x15b3, 0x0052, 0x020000);
        host.Add(new SimulatedDeviceOptions { Address = "0000:3b:00.2", Driver = "mlx5_vfio_pci", IommuGroup = 61, Capabilities = all, PciIdentity = cx7Vf, MemorySize = 1 << 20, Seed = 0x3b02, DmaLogging = true });
        host.Add(new SimulatedDeviceOptions { Address = "0000:3b:00.3", Driver = "mlx5_vfio_pci", IommuGroup = 62, Capabilities = all, PciIdentity = cx7Vf, MemorySize = 1 << 20, Seed = 0x3b03, DmaLogging = true }, "0000:3b:00.2");
        host.Add(new SimulatedDeviceOptions { Address = "0000:5e:00.1", Driver = "qat_vfio_pci", IommuGroup = 74, Capabilities = MigrationCapabilities.StopCopy, PciIdentity = new PciIdentity(0x8086, 0x4941, 0x8086, 0x0000, 0x0b4000), MemorySize = 256 * 1024, Seed = 0x5e01 });
        var xl710Vf = new PciIdentity(0x8086, 0x154c, 0x8086, 0x0000, 0x020000);
        host.Add(new SimulatedDeviceOptions { Address = "0000:af:00.1", Driver = "i40e_vf_migration", IommuGroup = 91, Protocol = MigrationProtocol.V1, Capabilities = MigrationCapabilities.Ndma, PciIdentity = xl710Vf, MemorySize = 256 * 1024, Seed = 0xaf01 });
        host.Add(new SimulatedDeviceOptions { Address = "0000:af:00.2", Driver = "i40e_vf_migration", IommuGroup = 92, Protocol = MigrationProtocol.V1, Capabilities = MigrationCapabilities.None, PciIdentity = xl710Vf, MemorySize = 256 * 1024, Seed = 0xaf02 });
        host.Add(new SimulatedDeviceOptions { Address = "0000:d8:00.0", Driver = "vfio-pci", IommuGroup = 103, Protocol = MigrationProtocol.None, Capabilities = MigrationCapabilities.None, PciIdentity = new PciIdentity(0x1234, 0x11e8, 0x1af4, 0x1100, 0x00ff00, 0x10), MemorySize = 64 * 1024, Seed = 0xd800, SupportsReset = false });
        host.Add(new SimulatedDeviceOptions { Address = "0.0.0100", Kind = SimulatedDeviceKind.Ccw, Driver = "vfio_ccw", IommuGroup = 1, Capabilities = MigrationCapabilities.StopCopy, CcwDeviceNumber = 0x2b09, MemorySize = 64 * 1024, Seed = 0x100 });
        host.Add(new SimulatedDeviceOptions { Address = "0.0.0101", Kind = SimulatedDeviceKind.Ccw, Driver = "vfio_ccw", IommuGroup = 2, Capabilities = MigrationCapabilities.StopCopy, CcwDeviceNumber = 0x2b0a, MemorySize = 64 * 1024, Seed = 0x101 });
        return host;
    }

    [GeneratedRegex("^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\\.[0-7]$")]
    private static partial Regex PciAddress();

    [GeneratedRegex("^[0-9a-fA-F]\\.[0-3]\\.[0-9a-fA-F]{4}$")]
    private static partial Regex CcwAddress();
}
