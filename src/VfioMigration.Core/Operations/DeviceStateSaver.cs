using System.Diagnostics;
using VfioMigration.Drivers;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Operations;

/// <summary>
/// The save: streams devices' migration data into sinks with bounded memory. <see cref="Run"/> is the one save
/// sequence: <see cref="Save(IDeviceMigration, DataSink, SaveOptions, IProgress{SaveProgress}?, CancellationToken)"/>
/// runs it for one device into a sink, and <see cref="DeviceSetSaver"/> (every save the module runs, of one device
/// or a set) runs it for its members in step, adding only the image files and all-or-nothing. The sequence:
/// optional pre-copy rounds while the device runs (until it reports convergence or the round limit is hit), the
/// set's peer quiesce, stop-copy, the stream read to its end.
/// </summary>
internal static class DeviceStateSaver
{
    /// <summary>How many times in a row pre-copy asks again after "no data right now" before switching over (each wait ≤ 20 ms).</summary>
    public const int MaxIdlePolls = 50;

    private static bool Converged(PrecopyInfo info, SaveOptions options) => info.InitialBytes == 0 && (long)info.DirtyBytes <= options.ConvergedDirtyBytes;

    public static SaveReport Save(IDeviceMigration device, Stream sink, SaveOptions options,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var report = Save(device, chunk => sink.Write(chunk), options, progress, cancellationToken);
        sink.Flush();
        return report;
    }

    /// <summary>Saves one device into a sink, then moves it to <see cref="SaveOptions.FinalState"/>; throws on failure, leaving the device where the failure left it.</summary>
    public static SaveReport Save(IDeviceMigration device, DataSink sink, SaveOptions options,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var held = DeviceLock.Acquire(new[] { device }, "save");
        var total = Stopwatch.StartNew();
        var save = new DeviceSave(device, sink);
        Run(new[] { save }, options, progress, cancellationToken);
        device.RequestState(options.FinalState, cancellationToken);
        return new SaveReport(device.Address, save.Bytes, save.PreCopyBytes, save.PreCopyRounds, save.Downtime, total.Elapsed)
        {
            PreCopyReinits = save.PreCopyReinits,
            PreCopyFlagsReported = save.PreCopyFlagsReported,
        };
    }

    /// <summary>
    /// The save sequence, for one device or for a set in step: pre-copy rounds per member (when
    /// <see cref="SaveOptions.Live"/>); for a set, every member quiesced (<see cref="QuiesceRules"/>); every member
    /// in StopCopy before any member's stop-copy data is read (one point in time, as QEMU stops all devices before
    /// saving any); then each member's stream read to its end, and <paramref name="drained"/> told. Leaves the
    /// devices in StopCopy. <paramref name="entering"/> is told the index of the member each step works on, so a
    /// caller knows which device a failure concerns. Throws on the first failure; the caller recovers.
    /// </summary>
    public static void Run(IReadOnlyList<DeviceSave> members, SaveOptions options, IProgress<SaveProgress>? progress, CancellationToken cancellationToken,
        Action<int>? entering = null, Action<int>? drained = null)
    {
        var buffer = new byte[options.ChunkSize];
        if (options.Live)
            for (int i = 0; i < members.Count; i++)
            {
                entering?.Invoke(i);
                var m = members[i];
                var pre = PreCopy(m.Device, m.Sink, buffer, options, progress, cancellationToken);
                (m.PreCopyRounds, m.PreCopyBytes, m.PreCopyReinits, m.PreCopyFlagsReported) = (pre.Rounds, pre.Bytes, pre.Reinits, pre.FlagsReported);
                m.PreCopyLeftInitialData = InitialDataLeft(m.Device, m.PreCopyRounds, m.PreCopyBytes, options);
                if (pre.Lost > 0)
                    m.StreamWarnings.Add($"{m.Device.Address}: pre-copy delivered {m.PreCopyBytes} bytes, but the device's PRECOPY_INFO initial_bytes fell by {pre.Fell} while they were read ({pre.Lost} bytes more than arrived): the device counts {pre.Lost} bytes as sent that the stream never delivered. Check the image by restoring it onto a spare device before relying on it.");
            }
        if (QuiesceRules.QuiesceBefore(members.Count, MigrationState.StopCopy))
            for (int i = 0; i < members.Count; i++)
            {
                entering?.Invoke(i);
                var device = members[i].Device;
                // A member that cannot quiesce was refused or accepted (forced) before the save began.
                if (QuiesceRules.QuiescedForm(device.GetState()) is { } quiesced && QuiesceRules.CanQuiesce(device))
                    device.RequestState(quiesced, cancellationToken);
            }
        for (int i = 0; i < members.Count; i++)
        {
            entering?.Invoke(i);
            members[i].StoppedAt = EnterStopCopy(members[i].Device, cancellationToken);
        }
        for (int i = 0; i < members.Count; i++)
        {
            entering?.Invoke(i);
            var m = members[i];
            (m.Bytes, m.Downtime, m.SizeCheck) = DrainStopCopy(m.Device, m.StoppedAt!, m.Sink, buffer, m.PreCopyRounds, m.PreCopyBytes, progress, cancellationToken);
            if (m.SizeCheck is { Disagrees: true } check) m.StreamWarnings.Add(check.Warning);
            drained?.Invoke(i);
        }
    }

    /// <summary>
    /// Enters pre-copy (PreCopyP2P if the device is already quiesced) and runs the rounds. A device opted in to
    /// PRECOPY_INFOv2 may report VFIO_PRECOPY_INFO_REINIT: new initial data is on the stream. Those bytes are
    /// initial data again (docs/protocol.md §3.8, checklist 78): the round limit counts afresh from the re-init, so
    /// pre-copy is not left while they remain, unless the downtime limit says the rest fits in the downtime. At
    /// most <see cref="SaveOptions.MaxPreCopyRounds"/> re-inits restart the count (a device that re-inits for ever
    /// still gets switched over). Returns the rounds, bytes, re-inits seen, and whether the flags were read at all; also the bytes the stream
    /// lost by the device's own count: initial_bytes "reduces as data is read" (include/uapi/linux/vfio.h,
    /// VFIO_MIG_GET_PRECOPY_INFO), so between two PRECOPY_INFO calls it cannot fall by more than was read; what it
    /// fell by beyond that (Fell sums every fall) never arrived.
    /// </summary>
    private static (int Rounds, long Bytes, int Reinits, bool FlagsReported, long Lost, long Fell) PreCopy(IDeviceMigration device, DataSink sink, byte[] buffer, SaveOptions options,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        if (!device.Capabilities.HasFlag(MigrationCapabilities.PreCopy))
            throw new VfioMigrationException($"{device.Address}: a live save needs pre-copy, which this device does not offer ({device.Capabilities}); save it stopped instead.", VfioErrors.PreCopyNotSupported, device.Address);
        device.RequestState(QuiesceRules.PreCopyFrom(device.GetState()), cancellationToken);
        int rounds = 0, idle = 0, reinits = 0, roundsSinceInit = 0;
        bool reinitData = false, flagsReported = false;
        long bytes = 0;
        var info = Observe(device.GetPrecopyInfo());
        long lost = 0, fell = 0;
        while (roundsSinceInit < options.MaxPreCopyRounds)
        {
            // A round sends what the device reported outstanding when it began; a busy device dirties pages
            // while we read, so "until nothing is left" might never come.
            long budget = info is { } b ? (long)(b.InitialBytes + b.DirtyBytes) : 0;
            var clock = Stopwatch.StartNew();
            // The total shown for a round: what is saved so far, what the device reports outstanding for this
            // round, and its estimate of the stop-copy data still to come (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE).
            long total = bytes + Math.Max(budget, 1) + (long)Math.Min(StopCopyEstimate(device) ?? 0, long.MaxValue / 2);
            long moved = Drain(device, sink, buffer, untilEnd: false, progress, "pre-copy", rounds + 1, bytes, total, cancellationToken, Math.Max(budget, 1));
            if (moved > 0)
            {
                rounds++;
                roundsSinceInit++;
                bytes += moved;
            }
            var previous = info;
            info = Observe(device.GetPrecopyInfo());
            if (previous is { } p && info is { } n && n.InitialBytes < p.InitialBytes)
            {
                long drop = (long)(p.InitialBytes - n.InitialBytes);
                fell += drop;
                if (drop > moved) lost += drop - moved;
            }
            if (moved == 0)
            {
                // "No data right now" (ENOMSG, as mlx5 answers until PRECOPY_INFO starts its next chunk, or 0, as
                // mtty does) is not a round: switch over if the device has converged, else wait briefly and ask again.
                if (info is null || Converged(info.Value, options)) break;
                if (++idle > MaxIdlePolls) break;
                if (cancellationToken.WaitHandle.WaitOne(Math.Min(1 << Math.Min(idle, 5), 20))) cancellationToken.ThrowIfCancellationRequested();
                continue;
            }
            idle = 0;
            if (info is not { } i || Converged(i, options)) break;
            if (i.InitialBytes == 0) reinitData = false;
            // The downtime limit may end pre-copy early, but not while the first initial bytes are left: vfio.h
            // advises against leaving PRE_COPY before initial_bytes reaches zero (the destination may need them to
            // resume in time); QEMU's switchover-ack waits for them likewise. Re-init data counts in the estimate
            // instead: the device announced it mid-save, and the limit is the user's word on how long a stop may be.
            if (options.MaxDowntime is { } limit && (i.InitialBytes == 0 || reinitData))
            {
                double rate = moved / Math.Max(clock.Elapsed.TotalSeconds, 1e-6);
                double remaining = i.InitialBytes + (double)i.DirtyBytes + (device.GetStopCopySize() ?? 0);
                if (remaining / rate <= limit.TotalSeconds) break;
            }
        }
        return (rounds, bytes, reinits, flagsReported, lost, fell);

        PrecopyInfo? Observe(PrecopyInfo? seen)
        {
            if (seen is not { } s) return seen;
            flagsReported |= s.FlagsReported;
            if (!s.Reinit) return seen;
            reinits++;
            reinitData = true;
            // The new initial data is initial data again: the round count starts over (a bounded number of times).
            if (reinits <= options.MaxPreCopyRounds) roundsSinceInit = 0;
            return seen;
        }
    }

    /// <summary>
    /// Says so when pre-copy ended (the round limit, or a device that kept saying "nothing now") with initial data
    /// the device still reports (PRECOPY_INFO, asked again now, before stop-copy): vfio.h advises against leaving
    /// PRE_COPY before initial_bytes reaches 0, and those bytes now go in stop-copy, while the device is stopped.
    /// Null when none is left, or the device does not say.
    /// </summary>
    private static string? InitialDataLeft(IDeviceMigration device, int rounds, long bytes, SaveOptions options)
    {
        PrecopyInfo? info;
        try { info = device.GetPrecopyInfo(); }
        catch (VfioMigrationException) { return null; } // the save itself goes on and reports what fails
        if (info is not { InitialBytes: > 0 } left) return null;
        string why = rounds >= options.MaxPreCopyRounds
            ? $"the pre-copy round limit ({options.MaxPreCopyRounds}) was reached"
            : $"the device offered no data {MaxIdlePolls} times in a row";
        return $"{device.Address}: pre-copy ended after {rounds} round(s) and {bytes} bytes with {left.InitialBytes} bytes of initial data still unsent " +
               $"(PRECOPY_INFO initial_bytes; dirty_bytes {left.DirtyBytes}), because {why}. They are sent in stop-copy, while the device is stopped, " +
               "so the downtime is longer than a complete pre-copy would leave it; allow more pre-copy rounds to send them first.";
    }

    /// <summary>The device's stop-copy size estimate, or null where it gives none (it is optional: QEMU carries on without it too).</summary>
    private static ulong? StopCopyEstimate(IDeviceMigration device)
    {
        try { return device.GetStopCopySize(); }
        catch (VfioMigrationException) { return null; }
    }

    /// <summary>Enters stop-copy (the device stops; its data fd stays open to be read); returns the downtime clock.</summary>
    private static Stopwatch EnterStopCopy(IDeviceMigration device, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        device.RequestState(MigrationState.StopCopy, cancellationToken);
        return stopwatch;
    }

    /// <summary>
    /// Reads a device already in stop-copy to the end of its stream; returns all bytes saved, the downtime, and the
    /// stop-copy bytes against the device's own estimate (null where it has none).
    /// </summary>
    private static (long Bytes, TimeSpan Downtime, StreamSizeCheck? Check) DrainStopCopy(IDeviceMigration device, Stopwatch stopwatch, DataSink sink, byte[] buffer, int rounds, long bytesSoFar,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        ulong? estimate = StopCopyEstimate(device);
        long? total = estimate is { } e ? bytesSoFar + (long)e : null;
        long moved = Drain(device, sink, buffer, untilEnd: true, progress, "stop-copy", rounds, bytesSoFar, total, cancellationToken, long.MaxValue);
        return (bytesSoFar + moved, stopwatch.Elapsed, estimate is { } est ? new StreamSizeCheck(device.Address, moved, (long)est) : null);
    }

    private static long Drain(IDeviceMigration device, DataSink sink, byte[] buffer, bool untilEnd, IProgress<SaveProgress>? progress,
        string phase, int round, long before, long? total, CancellationToken cancellationToken, long budget)
    {
        long moved = 0;
        int idle = 0;
        while (moved < budget)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var r = device.ReadSaveData(buffer);
            if (r.EndOfStream) break;
            if (r.Bytes == 0)
            {
                if (!untilEnd) break; // pre-copy: nothing right now ends the round
                if (++idle > 1000) throw new VfioMigrationException($"{device.Address}: the stop-copy stream stalled without reaching its end.", VfioErrors.SaveStreamStalled, device.Address);
                continue;
            }
            idle = 0;
            sink(buffer.AsSpan(0, r.Bytes));
            moved += r.Bytes;
            progress?.Report(new SaveProgress(device.Address, phase, before + moved, total, round));
        }
        return moved;
    }
}
