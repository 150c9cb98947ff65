using System.Buffers.Binary;

namespace VfioMigration.Backends.Simulated;

/// <summary>A PCI function: config space that answers in every state, BAR0 registers, device memory.</summary>
internal sealed class SimulatedPciModel : SimulatedDeviceModel
{
    public const int ConfigSpaceSize = 256;
    private readonly byte[] _config = new byte[ConfigSpaceSize];

    public SimulatedPciModel(PciIdentity identity, long memorySize, ulong seed, GuestMemory guest)
        : base(SimulatedDeviceKind.Pci, memorySize, seed, guest)
    {
        PciIdentity = identity;
        BinaryPrimitives.WriteUInt16LittleEndian(_config, identity.VendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(2), identity.DeviceId);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(4), 0x0006); // memory space + bus master
        _config[8] = identity.Revision;
        _config[9] = (byte)identity.ClassCode;
        _config[10] = (byte)(identity.ClassCode >> 8);
        _config[11] = (byte)(identity.ClassCode >> 16);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x2C), identity.SubsystemVendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(_config.AsSpan(0x2E), identity.SubsystemId);
    }

    public PciIdentity PciIdentity { get; }
    public override uint Identity => ((uint)PciIdentity.VendorId << 16) | PciIdentity.DeviceId;
    public ReadOnlySpan<byte> ConfigSpace => _config;

    /// <summary>Config writes touch only the command register here, which is what a host needs in any state.</summary>
    public void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
            if (offset + i is 4 or 5) _config[offset + i] = data[i];
    }
}
