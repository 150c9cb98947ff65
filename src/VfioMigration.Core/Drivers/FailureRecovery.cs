using VfioMigration.Protocol;

namespace VfioMigration.Drivers;

/// <summary>
/// What a driver does after a state change failed, the way a VMM does it. QEMU (hw/vfio/migration.c,
/// vfio_migration_set_state) follows a failed SET with a SET of a recover state (the state the device was in before
/// the failed one) and, when that fails too or the recover state is ERROR, with VFIO_DEVICE_RESET. Here: a device
/// that stayed in the state before the failed arc is already in the recover state, and one in any other readable
/// state is left there (reported with the states it can reach). A device in Error cannot take the recover SET at
/// all (vfio.h: only VFIO_DEVICE_RESET leaves ERROR; v1 likewise), and one whose state cannot be read back is in
/// no known state; for those the driver resets as a last resort, but only when <see cref="IDeviceMigration.WhatResetLoses"/>
/// says a reset loses nothing the user still needs.
/// </summary>
public static class FailureRecovery
{
    /// <summary>
    /// Runs the last resort for a failed state change. <paramref name="now"/> is the state read back after the
    /// failure (null: unreadable). Returns the state the device is in afterwards (null: unreadable) and a sentence
    /// for the error saying what was tried, or "" when nothing was (no policy set, or the device is in a readable
    /// state other than Error). Never throws for a failed reset: the sentence says so.
    /// </summary>
    public static (MigrationState? Now, string Said) AfterFailure(IDeviceMigration device, MigrationState? now, Action reset)
    {
        if (now is not (null or MigrationState.Error) || device.WhatResetLoses is not { } check) return (now, "");
        string where = now is null ? "its state could not be read back" : "a device in Error takes no recover state (only VFIO_DEVICE_RESET leaves Error)";
        if (check() is { } loss)
            return (now, $" Recovery: {where}, and it was not reset, because {loss}; a reset discards that state.");
        try
        {
            reset();
        }
        catch (VfioMigrationException e)
        {
            var after = device.TryGetState();
            return (after, $" Recovery: {where}, so the device was reset (VFIO_DEVICE_RESET) as a last resort, and the reset failed: {e.Message}");
        }
        return (device.TryGetState(), $" Recovery: {where}, so the device was reset (VFIO_DEVICE_RESET) as a last resort; it held no state restored by this session that a reset would lose.");
    }
}
