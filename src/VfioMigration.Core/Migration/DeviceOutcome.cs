using VfioMigration.Protocol;

namespace VfioMigration.Migration;

/// <summary>
/// How one device of a save or restore ended: the image written or read, or the error; and in every case the
/// state the device is in now, read back after any recovery (null if it could not be read).
/// </summary>
public sealed record DeviceOutcome(string Address, VfioStateImage? Image, VfioMigrationException? Error, MigrationState? StateNow)
{
    public bool Succeeded => Error is null;
}
