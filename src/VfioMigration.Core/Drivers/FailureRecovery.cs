using Microsoft.Extensions.Logging;
using VfioMigration.Logging;
using VfioMigration.Protocol;

namespace VfioMigration.Drivers;

/// <summary>
/// What happens after a state change or a save failed: one rule, the VMM's. QEMU (hw/vfio/migration.c,
/// vfio_migration_set_state) follows a failed SET with a SET of a recover state and, when that fails too or the
/// device is in ERROR, with VFIO_DEVICE_RESET. Here the recover state is the state before the failed arc (a state
/// change, run one arc per SET) or the state a save started in (<see cref="Recover"/>, used by the save). A device
/// in Error cannot take the recover SET at all (vfio.h: only VFIO_DEVICE_RESET leaves ERROR; v1 likewise), and one
/// whose state cannot be read back is in no known state; for those, and for a device whose return failed, the
/// last resort is a reset (<see cref="LastResort"/>), run only when <see cref="IDeviceMigration.WhatResetLoses"/>
/// says a reset loses nothing the user still needs and the device has a reset that can work
/// (<see cref="IDeviceMigration.ResetUnavailable"/>). Every error built here says what was tried and what happened,
/// and recommends a reset only where one is possible, so what an error says is decided in one place.
/// </summary>
internal static class FailureRecovery
{
    // A failure while returning a device is not itself followed by another return (it would bounce between states).
    [ThreadStatic] private static bool t_returning;

    /// <summary>
    /// A refused request (nothing was sent to the device): logged, and the error says the device is still in
    /// <paramref name="from"/> and where it can go from there. DeviceInErrorState when it is in Error.
    /// </summary>
    public static MigrationTransitionException Refused(IDeviceMigration device, ILogger logger, MigrationState from, MigrationState target,
        string reason, IReadOnlyList<MigrationState> reachable)
    {
        CoreLog.TransitionRefused(logger, device.Address, from, target, reason);
        return new MigrationTransitionException(device.Address, from, target, reason, from, reachable, Array.Empty<MigrationArc>(),
            from == MigrationState.Error ? VfioErrors.DeviceInErrorState : VfioErrors.TransitionRefused,
            resetUnavailable: from is MigrationState.Error or MigrationState.Resuming ? device.ResetUnavailable : null);
    }

    /// <summary>
    /// A failed step of a state change (<paramref name="arc"/>, after the arcs <paramref name="done"/>): reads the
    /// state back, lets the driver react to it (<paramref name="readBack"/>, e.g. close a data fd the device no
    /// longer serves), logs, recovers (the recover state is the arc's start: <see cref="Recover"/>), and returns the
    /// error, which says <paramref name="reason"/>, what recovery did, where the device is now and where it can go
    /// (<paramref name="reachable"/> from that state). DeviceInErrorState when it is in Error, else TransitionFailed.
    /// </summary>
    public static MigrationTransitionException Failed(IDeviceMigration device, ILogger logger, MigrationState from, MigrationState target,
        MigrationArc arc, string why, string reason, IReadOnlyList<MigrationArc> done, int errno,
        Func<MigrationState, IReadOnlyList<MigrationState>> reachable, Action<MigrationState?>? readBack = null)
    {
        var now = device.TryGetState();
        readBack?.Invoke(now);
        CoreLog.TransitionFailed(logger, device.Address, from, target, arc.ToString(), why, string.Join(", ", done), now?.ToString() ?? "unknown");
        // A driver used on its own (no policy) leaves the device where the failure left it.
        (now, string recovery) = device.WhatResetLoses is null ? (now, "") : Recover(device, now, arc.From);
        return new MigrationTransitionException(device.Address, from, target, reason + "." + recovery, now,
            now is { } n ? reachable(n) : Array.Empty<MigrationState>(), done.ToArray(),
            now == MigrationState.Error ? VfioErrors.DeviceInErrorState : VfioErrors.TransitionFailed, errno,
            resetUnavailable: now is null or MigrationState.Error or MigrationState.Resuming ? device.ResetUnavailable : null);
    }

    /// <summary>
    /// The recovery rule: brings a device that a failure left in <paramref name="now"/> (null: unreadable) back to
    /// <paramref name="recover"/> with a state change, and when it is in Error or unreadable, or that change fails
    /// (<paramref name="returnFailed"/>: it was already tried, e.g. by a set's ordered return), runs the last resort.
    /// Returns the state afterwards and a sentence for the error saying what was tried and what happened ("" when
    /// the device was already in <paramref name="recover"/>). Never throws.
    /// </summary>
    public static (MigrationState? Now, string Said) Recover(IDeviceMigration device, MigrationState? now, MigrationState recover, string? returnFailed = null)
    {
        if (now == recover && returnFailed is null) return (now, "");
        if (now is null) return LastResort(device, now, "its state could not be read back");
        if (now == MigrationState.Error) return LastResort(device, now, "a device in Error takes no recover state (only VFIO_DEVICE_RESET leaves Error)");
        if (t_returning) return (now, "");
        if (returnFailed is null)
        {
            try
            {
                t_returning = true;
                device.RequestState(recover);
                return (device.TryGetState(), $" Recovery: it was returned to {recover}.");
            }
            catch (VfioMigrationException e) { returnFailed = MigrationTransitionException.WithoutState(e); }
            finally { t_returning = false; }
        }
        now = device.TryGetState();
        string tried = $"the return to {recover} failed ({returnFailed.TrimEnd('.')})";
        if (now == recover) return (now, $" Recovery: {tried}; it is in {recover} now.");
        return LastResort(device, now, tried);
    }

    /// <summary>
    /// The last resort for a device a failure left where recovery could not help (<paramref name="why"/>):
    /// VFIO_DEVICE_RESET, unless a reset would lose state the user still needs, or the device has no reset that can
    /// work; the sentence then says so and what is left. Without a policy (a driver used on its own) nothing is
    /// tried. Never throws for a failed reset: the sentence says so.
    /// </summary>
    public static (MigrationState? Now, string Said) LastResort(IDeviceMigration device, MigrationState? now, string why)
    {
        if (device.WhatResetLoses is not { } check) return (now, "");
        if (check() is { } loss)
            return (now, $" Recovery: {why}, and it was not reset, because {loss}; a reset discards that state.");
        if (device.ResetUnavailable is { } none)
            return (now, $" Recovery: {why}, and no VFIO reset is possible: {none}; {DeviceReset.WhatIsLeft}.");
        try
        {
            device.Reset();
        }
        catch (VfioMigrationException e)
        {
            var after = device.TryGetState();
            return (after, $" Recovery: {why}, so the device was reset (VFIO_DEVICE_RESET) as a last resort, and the reset failed: {e.Message} No VFIO reset is possible now; {DeviceReset.WhatIsLeft}.");
        }
        return (device.TryGetState(), $" Recovery: {why}, so the device was reset (VFIO_DEVICE_RESET) as a last resort; it held no state restored by this session that a reset would lose.");
    }

    /// <summary>
    /// What to recommend for a device left in <paramref name="now"/> (null: unreadable) where it should be in
    /// <paramref name="expected"/> (null: anywhere): a reset where the device needs one (Error, or the cause's own
    /// remedy is a reset) and one is possible; <see cref="ErrorRemedy.ReleaseDevice"/> where it needs one, or is
    /// not in <paramref name="expected"/> (unreadable included), and no VFIO reset can help (none offered, or the last one failed); else <paramref name="otherwise"/>.
    /// </summary>
    public static ErrorRemedy RemedyAt(IDeviceMigration device, MigrationState? now, MigrationState? expected, ErrorRemedy otherwise)
    {
        bool needsReset = now == MigrationState.Error || otherwise == ErrorRemedy.ResetDevice;
        bool stuck = expected is { } e && now != e;
        if (!needsReset && !(stuck && otherwise == ErrorRemedy.None)) return otherwise;
        if (device.ResetUnavailable is not null) return ErrorRemedy.ReleaseDevice;
        return needsReset ? ErrorRemedy.ResetDevice : otherwise;
    }
}
