using Microsoft.Extensions.Logging;
using VfioMigration.Logging;
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
/// says a reset loses nothing the user still needs. Both drivers build their refusals and failures here, so what
/// an error says about where the device is now is decided in one place.
/// </summary>
public static class FailureRecovery
{
    /// <summary>
    /// A refused request (nothing was sent to the device): logged, and the error says the device is still in
    /// <paramref name="from"/> and where it can go from there. DeviceInErrorState when it is in Error.
    /// </summary>
    public static MigrationTransitionException Refused(IDeviceMigration device, ILogger logger, MigrationState from, MigrationState target,
        string reason, IReadOnlyList<MigrationState> reachable)
    {
        CoreLog.TransitionRefused(logger, device.Address, from, target, reason);
        return new MigrationTransitionException(device.Address, from, target, reason, from, reachable, Array.Empty<MigrationArc>(),
            from == MigrationState.Error ? VfioErrors.DeviceInErrorState : VfioErrors.TransitionRefused);
    }

    /// <summary>
    /// A failed step of a state change (<paramref name="arc"/>, after the arcs <paramref name="done"/>): reads the
    /// state back, lets the driver react to it (<paramref name="readBack"/>, e.g. close a data fd the device no
    /// longer serves), logs, runs the last resort (<see cref="AfterFailure"/>), and returns the error, which says
    /// <paramref name="reason"/>, what recovery did, where the device is now and where it can go
    /// (<paramref name="reachable"/> from that state). DeviceInErrorState when it is in Error, else TransitionFailed.
    /// </summary>
    public static MigrationTransitionException Failed(IDeviceMigration device, ILogger logger, MigrationState from, MigrationState target,
        MigrationArc arc, string why, string reason, IReadOnlyList<MigrationArc> done, int errno,
        Func<MigrationState, IReadOnlyList<MigrationState>> reachable, Action<MigrationState?>? readBack = null)
    {
        var now = device.TryGetState();
        readBack?.Invoke(now);
        CoreLog.TransitionFailed(logger, device.Address, from, target, arc.ToString(), why, string.Join(", ", done), now?.ToString() ?? "unknown");
        (now, string recovery) = AfterFailure(device, now, device.Reset);
        return new MigrationTransitionException(device.Address, from, target, reason + "." + recovery, now,
            now is { } n ? reachable(n) : Array.Empty<MigrationState>(), done.ToArray(),
            now == MigrationState.Error ? VfioErrors.DeviceInErrorState : VfioErrors.TransitionFailed, errno);
    }

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
