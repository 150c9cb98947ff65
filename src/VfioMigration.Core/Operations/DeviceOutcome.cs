using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// How one device of a save or restore ended: the image written or read, or the error; and in every case the
/// state the device is in now, read back after any recovery (null if it could not be read). Warnings are what
/// went wrong without undoing the outcome (a saved image whose device could not then be moved, a stream that
/// disagrees with the device's own size estimate).
/// </summary>
public sealed record DeviceOutcome(string Address, VfioStateImage? Image, VfioMigrationException? Error, MigrationState? StateNow,
    IReadOnlyList<string>? Warnings = null)
{
    public bool Succeeded => Error is null;
}
