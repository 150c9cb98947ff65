using VfioMigration.Protocol;

namespace VfioMigration.Drivers;

/// <summary>
/// A state change was refused or failed. Always says the state the device is in now (or that it could not be
/// read) and the states it can reach from there, so nobody has to guess.
/// </summary>
internal sealed class MigrationTransitionException : VfioMigrationException
{
    public MigrationTransitionException(string device, MigrationState? from, MigrationState requested, string reason,
        MigrationState? stateNow, IReadOnlyList<MigrationState> reachable, IReadOnlyList<MigrationArc> arcsDone,
        VfioError error, int? errno = null, string? resetUnavailable = null)
        : base(Compose(device, from, requested, reason, stateNow, Without(reachable, requested), resetUnavailable), error, device, null,
            RemedyFor(error, from, requested, stateNow, resetUnavailable))
    {
        reachable = Without(reachable, requested);
        From = from;
        Requested = requested;
        Reason = reason;
        StateNow = stateNow;
        Reachable = reachable;
        ArcsDone = arcsDone;
        Errno = errno;
    }

    public MigrationState? From { get; }
    public MigrationState Requested { get; }
    public string Reason { get; }
    /// <summary>The state read back after the failure; null if even that read failed.</summary>
    public MigrationState? StateNow { get; }
    public IReadOnlyList<MigrationState> Reachable { get; }
    public IReadOnlyList<MigrationArc> ArcsDone { get; }
    public int? Errno { get; }

    /// <summary>What failed, without the state sentence: for callers that read the state again after recovering and say it once.</summary>
    public string Failure => $"{Device}: cannot change state {(From is { } f ? $"from {f} " : "")}to {Requested}: {Reason}";

    /// <summary>An error's message without a device state in it, for a message that states the state read last.</summary>
    public static string WithoutState(VfioMigrationException e) => e is MigrationTransitionException t ? t.Failure : e.Message;

    /// <summary>The state just refused or failed is never offered as a way on.</summary>
    private static IReadOnlyList<MigrationState> Without(IReadOnlyList<MigrationState> reachable, MigrationState requested) =>
        reachable.Contains(requested) ? reachable.Where(s => s != requested).ToArray() : reachable;

    /// <summary>A reset where the device needs one and one is possible; what is left where none is; else the entry's own.</summary>
    private static ErrorRemedy? RemedyFor(VfioError error, MigrationState? from, MigrationState requested, MigrationState? now, string? resetUnavailable) =>
        NeedsReset(from, requested, now) || error.Remedy == ErrorRemedy.ResetDevice
            ? resetUnavailable is null ? ErrorRemedy.ResetDevice : ErrorRemedy.ReleaseDevice
            : null;

    /// <summary>Error, and a resume the driver would not leave, end only with VFIO_DEVICE_RESET.</summary>
    private static bool NeedsReset(MigrationState? from, MigrationState requested, MigrationState? now) =>
        now == MigrationState.Error || AbandonedResume(from, requested, now);

    private static bool AbandonedResume(MigrationState? from, MigrationState requested, MigrationState? now) =>
        now == MigrationState.Resuming && from == MigrationState.Resuming && requested != MigrationState.Resuming;

    /// <summary>The message; <paramref name="resetUnavailable"/> (why no VFIO reset can help) makes a device that needs one be told what is left instead.</summary>
    private static string Compose(string device, MigrationState? from, MigrationState requested, string reason,
        MigrationState? now, IReadOnlyList<MigrationState> reachable, string? resetUnavailable)
    {
        string start = from is { } f ? $"from {f} " : "";
        string where = now is { } n ? $"The device is now in {n}" : "The device's state could not be read back";
        string noReset = resetUnavailable is null ? "" : $", and none is possible: {resetUnavailable}; {DeviceReset.WhatIsLeft}";
        string next = now == MigrationState.Error
            ? $"; only a reset (VFIO_DEVICE_RESET) leaves Error{noReset}."
            : AbandonedResume(from, requested, now)
                // The uAPI: a driver refuses to leave RESUMING with a stream it cannot load (mtty: EINVAL, state
                // unchanged); the way out of an abandoned resume is VFIO_DEVICE_RESET, never RESUMING -> STOP again.
                ? $"; the state data written to it is missing or incomplete, so the driver did not load it. Only a reset (VFIO_DEVICE_RESET) aborts the resume and returns it to Running{noReset}."
                : reachable.Count > 0 ? $"; from there it can reach: {string.Join(", ", reachable)}." : ".";
        return $"{device}: cannot change state {start}to {requested}: {reason} {where}{next}";
    }
}
