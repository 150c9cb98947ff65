namespace VfioMigration.Protocol;

/// <summary>The low bits of the v1 <c>device_state</c> register. Bits 4–31 are reserved and preserved.</summary>
[Flags]
internal enum V1DeviceStateBits : uint
{
    None = 0,
    Running = 0x1,
    Saving = 0x2,
    Resuming = 0x4,
    /// <summary>Optional "no DMA" bit of the Dec 2021 RFC; only meaningful when the region advertises capability 6.</summary>
    Ndma = 0x8,
}
