namespace VfioMigration.Backends.Simulated;

/// <summary>
/// The ids a simulated PCI function shows in config space (numbers, as the simulator's input) and, through
/// <see cref="Describe"/>, in sysfs (text, as <see cref="DeviceIdentity"/> holds them).
/// </summary>
public sealed record PciIdentity(ushort VendorId, ushort DeviceId, ushort SubsystemVendorId, ushort SubsystemId,
    uint ClassCode, byte Revision = 1)
{
    /// <summary>The device's identity with these ids as sysfs shows them: lower-case hex, 4 digits (class code 6).</summary>
    public DeviceIdentity Describe(DeviceIdentity device) => device with
    {
        VendorId = VendorId.ToString("x4"),
        DeviceId = DeviceId.ToString("x4"),
        SubsystemVendorId = SubsystemVendorId.ToString("x4"),
        SubsystemId = SubsystemId.ToString("x4"),
        ClassCode = ClassCode.ToString("x6"),
    };
}
