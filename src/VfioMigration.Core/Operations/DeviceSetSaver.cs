using System.Diagnostics;
using VfioMigration.Drivers;
using VfioMigration.Images;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// Saves one device or a set of devices to image files, all or nothing. Each device is saved by the single-device
/// save (<see cref="DeviceStateSaver.Run"/>, which for a set gives one point in time: every device quiesced, then
/// every device stopped, and only then the stop-copy data of each read); what this type adds is the files. Data
/// streams into temporary files that are fsynced and renamed only when every device has been saved. On any failure or cancellation no file is left behind, an existing file is untouched, every device is
/// returned to where it started when the protocol allows, and each outcome says the state the device is in now.
/// </summary>
internal static class DeviceSetSaver
{
    public static IReadOnlyList<DeviceOutcome> Save(IReadOnlyList<SaveTarget> targets, SaveOptions options, bool overwrite, bool forceQuiesce,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (targets.Count == 0) return Array.Empty<DeviceOutcome>();
        // Checks that need no device: every error here leaves everything as it was.
        foreach (var t in targets)
        {
            try { ImageFile.FullPath(t.Path); }
            catch (VfioMigrationException e) { return FailAll(targets, e); }
        }
        if (targets.GroupBy(t => t.Device).FirstOrDefault(g => g.Count() > 1) is { } twice)
            return FailAll(targets, QuiesceRules.ListedTwice(twice.Key.Address));
        var duplicate = targets.GroupBy(t => Path.GetFullPath(t.Path)).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            return FailAll(targets, new VfioMigrationException($"Two devices would be saved to the same file {duplicate.Key}.", VfioErrors.ImagePathConflict, null));
        foreach (var t in targets)
        {
            if (t.Device.Protocol == MigrationProtocol.None)
                return FailAll(targets, new VfioMigrationException($"{t.Device.Address}: cannot save: {NoMigrationDriver.Explanation}.", VfioErrors.MigrationNotSupported, t.Device.Address));
            if (options.Live && !t.Device.Capabilities.HasFlag(MigrationCapabilities.PreCopy))
                return FailAll(targets, new VfioMigrationException($"{t.Device.Address}: a live save needs pre-copy, which this device does not offer ({t.Device.Capabilities}); save it stopped instead.", VfioErrors.PreCopyNotSupported, t.Device.Address));
        }
        IDisposable held;
        try { held = DeviceLock.Acquire(targets.Select(t => t.Device), "save"); }
        catch (VfioMigrationException busy) { return FailAll(targets, busy); }
        using (held) return SaveHeld(targets, options, overwrite, forceQuiesce, progress, cancellationToken);
    }

    private static IReadOnlyList<DeviceOutcome> SaveHeld(IReadOnlyList<SaveTarget> targets, SaveOptions options, bool overwrite, bool forceQuiesce,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        // Whatever ends the save, even an exception no path below expects, no temporary or lock file outlives it.
        var files = new List<AtomicFile>();
        try { return SaveFiles(targets, files, options, overwrite, forceQuiesce, progress, cancellationToken); }
        finally { foreach (var f in files) f.Dispose(); }
    }

    private static IReadOnlyList<DeviceOutcome> SaveFiles(IReadOnlyList<SaveTarget> targets, List<AtomicFile> files, SaveOptions options, bool overwrite, bool forceQuiesce,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        var starts = new Dictionary<IDeviceMigration, MigrationState>();
        try
        {
            foreach (var t in targets) files.Add(AtomicFile.Create(t.Path, overwrite));
            foreach (var t in targets) starts[t.Device] = t.Device.GetState();
            if (targets.Count > 1) DeviceSetTransition.Plan(targets.Select(t => (t.Device, starts[t.Device])).ToArray(), MigrationState.StopCopy, forceQuiesce);
        }
        catch (VfioMigrationException e)
        {
            foreach (var f in files) f.Dispose();
            return FailAll(targets, e);
        }

        var setId = Guid.NewGuid();
        var members = targets.Select(t => t.Device.Address).ToArray();
        var links = SetLinks.Of(targets.Select(t => t.Description.Identity).ToArray());
        var writers = new StateImageWriter[targets.Count];
        var headers = new StateImageHeader[targets.Count];
        var results = new VfioStateImage[targets.Count];
        var warnings = targets.Select(_ => new List<string>()).ToArray();
        var clock = Stopwatch.StartNew();
        IDeviceMigration? current = null;
        int currentFile = 0;
        int committed = 0;
        try
        {
            for (int i = 0; i < targets.Count; i++)
                writers[i] = new StateImageWriter(files[i].Stream, headers[i] = Header(targets[i], options, targets.Count > 1 ? new ImageSet(setId, i, members, links[i]) : null));
            // Each device's save is the single-device save; the set runs its members in step (one point in time).
            var saves = targets.Select((t, i) => new DeviceSave(t.Device, writers[i].WriteChunk)).ToArray();
            DeviceStateSaver.Run(saves, options, progress, cancellationToken,
                entering: i => { current = targets[i].Device; currentFile = i; },
                drained: i =>
                {
                    var s = saves[i];
                    if (s.PreCopyLeftInitialData is { } unsent) warnings[i].Add(unsent);
                    warnings[i].AddRange(s.StreamWarnings);
                    var summary = new StateImageSummary { PreCopyRounds = s.PreCopyRounds, PreCopyBytes = s.PreCopyBytes, PreCopyReinits = s.PreCopyReinits, PreCopyFlagsReported = s.PreCopyFlagsReported, DowntimeMilliseconds = s.Downtime.TotalMilliseconds, DurationMilliseconds = clock.Elapsed.TotalMilliseconds };
                    string checksum = writers[i].Finish(summary);
                    results[i] = StateImageInspector.Describe(files[i].Path, files[i].Length, headers[i], writers[i].DataBytes, checksum, summary, null);
                });
            current = null;
            // Every image durable first, then all renamed: a set appears whole or, if a rename fails, not at all.
            for (int i = 0; i < targets.Count; i++) { currentFile = i; files[i].Prepare(); }
            // The commit point. A cancellation (Ctrl+C, SIGTERM, SIGHUP) that came before it, during the stream or
            // the fsyncs, undoes the save: no image, an existing one untouched, the devices back. One that comes
            // after it is too late: the first rename may already have replaced an image, so the save runs to its
            // end and is reported done.
            cancellationToken.ThrowIfCancellationRequested();
            for (int i = 0; i < targets.Count; i++) { currentFile = i; files[i].Commit(); committed++; }
        }
        catch (Exception e) when (e is VfioMigrationException or OperationCanceledException or IOException or UnauthorizedAccessException)
        {
            for (int i = 0; i < committed; i++) files[i].Retract();
            foreach (var f in files) f.Dispose();
            var path = files.Count > currentFile ? files[currentFile].Path : targets[currentFile].Path;
            // Writing out or renaming a file fails on that file's device, not on "the set".
            var failed = current ?? (e is OperationCanceledException ? null : targets[currentFile].Device);
            return Recover(targets, starts, failed, Wrap(e, current, path));
        }
        catch (Exception e)
        {
            // Not a failure the save knows (a bug, or a caller's progress handler that threw): still no image and
            // every device back where it started, then the exception goes on to the caller.
            for (int i = 0; i < committed; i++) files[i].Retract();
            foreach (var f in files) f.Dispose();
            _ = Recover(targets, starts, current, new VfioMigrationException($"the save was interrupted: {e.Message}", VfioErrors.SaveAborted, current?.Address, e));
            throw;
        }
        foreach (var f in files) f.Dispose();

        // The images are safe on disk; now leave the devices where the caller asked.
        // A device that cannot be moved now is a warning: the save itself succeeded and the image is valid.
        var outcomes = new List<DeviceOutcome>();
        var final = FinalStates(targets, options.FinalState, CancellationToken.None);
        for (int i = 0; i < targets.Count; i++)
        {
            if (final[i].Error is { } e) warnings[i].Add(e.Message);
            outcomes.Add(new DeviceOutcome(targets[i].Device.Address, results[i], null, final[i].Now, warnings[i]));
        }
        return outcomes;
    }

    private static StateImageHeader Header(SaveTarget t, SaveOptions options, ImageSet? set)
    {
        var meta = new Dictionary<string, string> { ["capabilities"] = t.Device.Capabilities.ToString() };
        if (t.Device.ReadRawState() is { } raw) meta["v1DeviceStateAtSave"] = $"0x{raw:X}";
        if (t.Device.GetStopCopySize() is { } size) meta["stopCopySizeEstimate"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new StateImageHeader
        {
            Created = DateTimeOffset.UtcNow,
            Host = Environment.MachineName,
            Tool = $"VfioMigration {typeof(DeviceSetSaver).Assembly.GetName().Version}",
            Device = ImageDevice.From(t.Description),
            SaveMode = options.Live ? "live" : "stop-copy",
            ProtocolMetadata = meta,
            Set = set,
        };
    }

    private static (VfioMigrationException? Error, MigrationState? Now)[] FinalStates(IReadOnlyList<SaveTarget> targets, MigrationState final, CancellationToken ct)
    {
        var result = new (VfioMigrationException?, MigrationState?)[targets.Count];
        try
        {
            var plan = DeviceSetTransition.Plan(targets.Select(t => (t.Device, t.Device.GetState())).ToArray(), final, force: true);
            var outcomes = plan.Execute(ct);
            for (int i = 0; i < targets.Count; i++)
            {
                var o = outcomes.First(x => x.Device == targets[i].Device);
                var now = targets[i].Device.TryGetState();
                result[i] = (o.Error is null ? null : NotMoved(targets[i], final, o.Error, now), now);
            }
        }
        catch (VfioMigrationException e)
        {
            for (int i = 0; i < targets.Count; i++)
            {
                var now = targets[i].Device.TryGetState();
                result[i] = (NotMoved(targets[i], final, e, now), now);
            }
        }
        return result;
    }

    private static VfioMigrationException NotMoved(SaveTarget t, MigrationState final, VfioMigrationException e, MigrationState? now) =>
        new($"{t.Device.Address}: the image was saved to {t.Path} and is valid, but the device could not then be moved to {final}: {Sentence(MigrationTransitionException.WithoutState(e))} {Where(t.Device, now)}",
            VfioErrors.SavedButNotMoved, t.Device.Address, e, FailureRecovery.RemedyAt(t.Device, now, null, ErrorRemedy.None));

    /// <summary>
    /// After a failed save, the recovery rule of a failed state change (<see cref="FailureRecovery.Recover"/>):
    /// every device back to where it started (Running, usually; a set in its quiesce order), and a device that
    /// cannot go back, or is in Error or unreadable, gets the last resort (a reset when it loses nothing and the
    /// device has one). Each outcome says what was tried, what happened and where its device is.
    /// </summary>
    private static IReadOnlyList<DeviceOutcome> Recover(IReadOnlyList<SaveTarget> targets, Dictionary<IDeviceMigration, MigrationState> starts,
        IDeviceMigration? failed, VfioMigrationException cause)
    {
        var touched = targets.Where(t => starts.ContainsKey(t.Device)).ToArray();
        var returnFailed = new Dictionary<IDeviceMigration, string>();
        if (touched.Length > 1)
        {
            // A set goes back in its quiesce order; what fails there is not tried again alone, only reset.
            var backToRunning = touched.Where(t => starts[t.Device] == MigrationState.Running && t.Device.TryGetState() is { } s && s != MigrationState.Error && s != MigrationState.Running).ToArray();
            try
            {
                if (backToRunning.Length > 0)
                    foreach (var o in DeviceSetTransition.Plan(backToRunning.Select(t => (t.Device, t.Device.GetState())).ToArray(), MigrationState.Running, force: true).Execute())
                        if (o.Error is { } e) returnFailed[o.Device] = MigrationTransitionException.WithoutState(e);
            }
            catch (VfioMigrationException e)
            {
                foreach (var t in backToRunning) returnFailed[t.Device] = MigrationTransitionException.WithoutState(e);
            }
        }
        var said = new Dictionary<IDeviceMigration, string>();
        foreach (var t in touched)
            said[t.Device] = FailureRecovery.Recover(t.Device, t.Device.TryGetState(), starts[t.Device], returnFailed.GetValueOrDefault(t.Device)).Said;
        return targets.Select(t =>
        {
            var now = t.Device.TryGetState();
            MigrationState? start = starts.TryGetValue(t.Device, out var s) ? s : null;
            string recovery = said.GetValueOrDefault(t.Device, "").Trim();
            if (recovery.Length > 0) recovery += " ";
            var error = t.Device == failed || failed is null && targets.Count == 1
                ? new VfioMigrationException($"{Sentence(MigrationTransitionException.WithoutState(cause))} No image was written. {recovery}{Where(t.Device, now)}", cause.Error, t.Device.Address, cause,
                    FailureRecovery.RemedyAt(t.Device, now, start, cause.Remedy))
                : new VfioMigrationException($"{t.Device.Address}: not saved: {(failed is null ? Sentence(MigrationTransitionException.WithoutState(cause)) : $"saving {failed.Address} failed.")} No image was written. {recovery}{Where(t.Device, now)}", VfioErrors.SaveAborted, t.Device.Address, cause,
                    FailureRecovery.RemedyAt(t.Device, now, start, failed is null ? cause.Remedy : ErrorRemedy.None));
            return new DeviceOutcome(t.Device.Address, null, error, now);
        }).ToArray();
    }

    private static string Sentence(string s) => s.EndsWith('.') ? s : s + ".";

    /// <summary>Where a device is after a save that did not happen: its state, or that it has none to read.</summary>
    private static string Where(IDeviceMigration device, MigrationState? now) => now switch
    {
        // A device without migration (plain vfio-pci, no v1 region) has no state: nothing failed to read it.
        null when device.Protocol == MigrationProtocol.None => $"{device.Address} has no migration state; it was not touched.",
        null => $"The state of {device.Address} could not be read.",
        MigrationState.Error => device.ResetUnavailable is { } none
            ? $"{device.Address} is in Error; only a reset (VFIO_DEVICE_RESET) leaves Error, and none is possible: {none}; {DeviceReset.WhatIsLeft}."
            : $"{device.Address} is in Error; only a reset (VFIO_DEVICE_RESET) leaves Error.",
        _ => $"{device.Address} is in {now}.",
    };


    private static VfioMigrationException Wrap(Exception e, IDeviceMigration? device, string path) => e switch
    {
        VfioMigrationException v => v,
        OperationCanceledException => new VfioMigrationException($"{device?.Address ?? "save"}: cancelled.", VfioErrors.SaveCancelled, device?.Address, e),
        _ => FileSystemError.From(e, Path.GetFullPath(path), "writing the image", writing: true),
    };


    /// <summary>A save refused before any device was changed: every outcome says why and where its device is.</summary>
    private static IReadOnlyList<DeviceOutcome> FailAll(IReadOnlyList<SaveTarget> targets, VfioMigrationException e) =>
        targets.Select(t =>
        {
            var now = t.Device.TryGetState();
            bool concerns = e.Device is null || string.Equals(e.Device, t.Device.Address, StringComparison.OrdinalIgnoreCase);
            var error = concerns
                ? new VfioMigrationException($"{Sentence(MigrationTransitionException.WithoutState(e))} No image was written. {Where(t.Device, now)}", e.Error, t.Device.Address, e, FailureRecovery.RemedyAt(t.Device, now, null, e.Remedy))
                : new VfioMigrationException($"{t.Device.Address}: not saved: {Sentence(MigrationTransitionException.WithoutState(e))} No image was written. {Where(t.Device, now)}", VfioErrors.SaveAborted, t.Device.Address, e, FailureRecovery.RemedyAt(t.Device, now, null, e.Remedy));
            return new DeviceOutcome(t.Device.Address, null, error, now);
        }).ToArray();
}
