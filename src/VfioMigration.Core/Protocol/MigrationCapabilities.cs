namespace VfioMigration.Protocol;

/// <summary>
/// What a device's migration support offers. The low three bits are the kernel's <c>VFIO_MIGRATION_*</c> flags
/// (feature 1); <see cref="Ndma"/> is the v1 RFC's optional no-DMA bit, which plays the role of P2P on v1 devices.
/// </summary>
[Flags]
public enum MigrationCapabilities
{
    None = 0,
    StopCopy = 1,
    P2P = 2,
    PreCopy = 4,
    Ndma = 8,
}
