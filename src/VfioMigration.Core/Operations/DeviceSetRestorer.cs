using VfioMigration.Drivers;
using VfioMigration.Images;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// Restores images onto devices, all or nothing. Every image is verified whole first (<see cref="RestorePreflight"/>:
/// checksum, format version, identity against its target, a set's completeness and mapping) before any device is touched. Then each device is restored by
/// the single-device restore (<see cref="DeviceStateRestorer.Run"/>: Resuming, a set quiesced first; the data, its
/// checksum computed again on the way; out of Resuming for Stop, or for Running with a set woken in order). After
/// any failure every touched device is reset, which returns it to Running.
/// </summary>
internal static class DeviceSetRestorer
{
    public static IReadOnlyList<DeviceOutcome> Restore(IReadOnlyList<RestoreTarget> targets, MigrationState finalState, RestoreOverrides overrides,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (targets.Count == 0) return Array.Empty<DeviceOutcome>();
        if (finalState is not (MigrationState.Stop or MigrationState.Running))
            throw new ArgumentOutOfRangeException(nameof(finalState), finalState, "a restore leaves devices in Stop or Running");
        IDisposable held;
        try { held = DeviceLock.Acquire(targets.Select(t => t.Device), "restore"); }
        catch (VfioMigrationException busy)
        {
            return targets.Select(t => new DeviceOutcome(t.Device.Address, null, Blame(t, busy, "not restored"), t.Device.TryGetState())).ToArray();
        }
        using (held) return RestoreHeld(targets, finalState, overrides, progress, cancellationToken);
    }

    private static IReadOnlyList<DeviceOutcome> RestoreHeld(IReadOnlyList<RestoreTarget> targets, MigrationState finalState, RestoreOverrides overrides,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        RestorePreflight check;
        try
        {
            check = RestorePreflight.Run(targets, overrides, cancellationToken);
        }
        catch (OperationCanceledException e)
        {
            var cancelled = new VfioMigrationException("Restore cancelled while verifying the images.", VfioErrors.RestoreCancelled, null, e);
            return targets.Select(t => Untouched(t, cancelled)).ToArray();
        }
        if (!check.Passed) return targets.Select((t, i) => Untouched(t, ProblemOf(check, i, t))).ToArray();
        var images = check.Images.Select(im => im!).ToArray();
        var sources = check.Sources.Select(s => s!).ToArray();

        IDeviceMigration? current = null;
        // Each device's restore is the single-device restore; the set runs its members in step.
        var restores = targets.Select((t, i) => new DeviceRestore(t.Device, (sink, ct) => sources[i].Feed(chunk => sink(chunk), ct), images[i].DataBytes)).ToArray();
        try
        {
            DeviceStateRestorer.Run(restores, finalState, progress, cancellationToken, entering: i => current = i < 0 ? null : targets[i].Device);
        }
        catch (Exception e) when (e is VfioMigrationException or OperationCanceledException or IOException)
        {
            var cause = e switch
            {
                VfioMigrationException v => v,
                OperationCanceledException => new VfioMigrationException("Restore cancelled.", VfioErrors.RestoreCancelled, current?.Address, e),
                _ => new VfioMigrationException($"reading the image failed: {e.Message}", VfioErrors.ImageReadFailed, current?.Address, e),
            };
            // A partial resume is left only by a reset (vfio.h); a device without one, or whose reset fails, is
            // told so with what is left, and is never told to reset again.
            var resetFailed = new Dictionary<IDeviceMigration, string>();
            var touched = restores.Where(r => r.Touched).Select(r => r.Device).ToHashSet();
            foreach (var d in touched)
            {
                if (d.ResetUnavailable is { } none) { resetFailed[d] = $"it was not reset: no VFIO reset is possible ({none}); {DeviceReset.WhatIsLeft}"; continue; }
                try { d.Reset(); }
                catch (VfioMigrationException r) { resetFailed[d] = $"the reset (VFIO_DEVICE_RESET) that ends a partial resume failed: {r.Message.TrimEnd('.')}; no VFIO reset is possible now; {DeviceReset.WhatIsLeft}"; }
            }
            return targets.Select(t =>
            {
                var now = t.Device.TryGetState();
                string state = now is { } s ? $"is in {s}" : "is in a state that could not be read";
                string where = resetFailed.TryGetValue(t.Device, out var failure) ? $"Recovery: {failure}. The device {state}."
                    : touched.Contains(t.Device) ? (now is { } r ? $"The device was reset and is in {r}." : "The device's state could not be read after the reset.")
                    : $"The device was not touched and {state}.";
                var remedy = FailureRecovery.RemedyAt(t.Device, now, touched.Contains(t.Device) ? MigrationState.Running : null, t.Device == current || current is null ? cause.Remedy : ErrorRemedy.None);
                var error = t.Device == current || current is null
                    ? new VfioMigrationException($"{Prefix(cause, t.Device.Address)} {where}", cause.Error, t.Device.Address, cause, remedy)
                    : new VfioMigrationException($"{t.Device.Address}: not restored: restoring {current.Address} failed. {where}", VfioErrors.RestoreAborted, t.Device.Address, cause, remedy);
                return new DeviceOutcome(t.Device.Address, null, error, now);
            }).ToArray();
        }
        return targets.Select((t, i) => new DeviceOutcome(t.Device.Address, images[i], null, t.Device.TryGetState(), check.Warnings)).ToArray();
    }

    /// <summary>The problem the pre-flight found with this target, else a "not restored because" error naming the first one.</summary>
    private static VfioMigrationException ProblemOf(RestorePreflight check, int index, RestoreTarget t)
    {
        foreach (var (target, error) in check.Problems) if (target == index) return error;
        var (_, first) = check.Problems[0];
        return first.Device is null && first is not StateImageException ? first : Blame(t, first, "not restored");
    }

    private static string FullOrSelf(string path)
    {
        try { return ImageFile.FullPath(path); }
        catch (VfioMigrationException) { return path; }
    }

    private static string Prefix(VfioMigrationException e, string address)
    {
        var text = MigrationTransitionException.WithoutState(e);
        if (!text.EndsWith('.')) text += ".";
        return text.StartsWith(address, StringComparison.Ordinal) || e is StateImageException ? text : $"{address}: {text}";
    }

    /// <summary>The error itself for the target it concerns; a "not restored because" error for the others.</summary>
    /// <summary>A restore refused before any device was touched: the error says so and names the state the device is in.</summary>
    private static DeviceOutcome Untouched(RestoreTarget t, VfioMigrationException e)
    {
        var now = t.Device.TryGetState();
        string where = now is { } s ? $" {t.Device.Address} was not touched and is in {s}." : $" {t.Device.Address} was not touched; its state could not be read.";
        VfioMigrationException error = e is StateImageException si
            ? new StateImageException(si.Path, si.Field, si.Message[(si.Message.StartsWith(si.Path + ": ", StringComparison.Ordinal) ? si.Path.Length + 2 : 0)..] + where, si.Error, si.Remedy)
            : new VfioMigrationException(e.Message + where, e.Error, e.Device ?? t.Device.Address, e, e.Remedy);
        return new DeviceOutcome(t.Device.Address, null, error, now);
    }

    private static VfioMigrationException Blame(RestoreTarget t, VfioMigrationException e, string what)
    {
        bool concerns = e is StateImageException si
            ? si.Path == FullOrSelf(t.Path)
            : e.Device is null || string.Equals(e.Device, t.Device.Address, StringComparison.OrdinalIgnoreCase);
        return concerns ? e : new VfioMigrationException($"{t.Device.Address}: {what}: {e.Message}", VfioErrors.RestoreAborted, t.Device.Address, e);
    }

}
