namespace VfioMigration.Backends.Simulated;

/// <summary>The ids a PCI function shows in config space and sysfs.</summary>
public sealed record PciIdentity(ushort VendorId, ushort DeviceId, ushort SubsystemVendorId, ushort SubsystemId,
    uint ClassCode, byte Revision = 1);
