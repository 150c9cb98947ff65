using System.Diagnostics;
using VfioMigration.Drivers;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Operations;

/// <summary>
/// Streams one device's migration data into a sink with bounded memory: optionally pre-copy rounds while the
/// device runs (until the device reports convergence or the round limit is hit), then stop-copy to the end of the
/// stream, then the requested final state. The phases are also offered one by one, for multi-device saves.
/// </summary>
public static class DeviceStateSaver
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

    public static SaveReport Save(IDeviceMigration device, DataSink sink, SaveOptions options,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var held = DeviceLock.Acquire(new[] { device }, "save");
        var total = Stopwatch.StartNew();
        var buffer = new byte[options.ChunkSize];
        var pre = options.Live ? PreCopy(device, sink, buffer, options, progress, cancellationToken) : default;
        var (bytes, downtime, _) = StopCopy(device, sink, buffer, pre.Rounds, pre.Bytes, progress, cancellationToken);
        device.RequestState(options.FinalState, cancellationToken);
        return new SaveReport(device.Address, bytes, pre.Bytes, pre.Rounds, downtime, total.Elapsed);
    }

    /// <summary>Enters pre-copy (PreCopyP2P if the device is already quiesced) and runs the rounds.</summary>
    public static (int Rounds, long Bytes) PreCopy(IDeviceMigration device, DataSink sink, byte[] buffer, SaveOptions options,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        if (!device.Capabilities.HasFlag(MigrationCapabilities.PreCopy))
            throw new VfioMigrationException($"{device.Address}: a live save needs pre-copy, which this device does not offer ({device.Capabilities}); save it stopped instead.", VfioErrors.PreCopyNotSupported, device.Address);
        var start = device.GetState();
        device.RequestState(start is MigrationState.RunningP2P or MigrationState.PreCopyP2P ? MigrationState.PreCopyP2P : MigrationState.PreCopy, cancellationToken);
        int rounds = 0, idle = 0;
        long bytes = 0;
        var info = device.GetPrecopyInfo();
        while (rounds < options.MaxPreCopyRounds)
        {
            // A round sends what the device reported outstanding when it began; a busy device dirties pages
            // while we read, so "until nothing is left" might never come.
            long budget = info is { } b ? (long)(b.InitialBytes + b.DirtyBytes) : 0;
            var clock = Stopwatch.StartNew();
            long moved = Drain(device, sink, buffer, untilEnd: false, progress, "pre-copy", rounds + 1, bytes, null, cancellationToken, Math.Max(budget, 1));
            info = device.GetPrecopyInfo();
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
            rounds++;
            bytes += moved;
            if (info is not { } i || Converged(i, options)) break;
            // The downtime limit may end pre-copy early, but not while initial bytes are left: vfio.h advises
            // against leaving PRE_COPY before initial_bytes reaches zero (the destination may need them to resume
            // in time); QEMU's switchover-ack waits for them likewise.
            if (options.MaxDowntime is { } limit && i.InitialBytes == 0)
            {
                double rate = moved / Math.Max(clock.Elapsed.TotalSeconds, 1e-6);
                double remaining = i.DirtyBytes + (double)(device.GetStopCopySize() ?? 0);
                if (remaining / rate <= limit.TotalSeconds) break;
            }
        }
        return (rounds, bytes);
    }

    /// <summary>
    /// Enters stop-copy and reads the stream to its end; returns all bytes saved, the downtime, and the stop-copy
    /// bytes against the device's own estimate of them (MIG_DATA_SIZE read in STOP_COPY; null where it has none).
    /// </summary>
    public static (long Bytes, TimeSpan Downtime, StreamSizeCheck? Check) StopCopy(IDeviceMigration device, DataSink sink, byte[] buffer, int rounds, long bytesSoFar,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        var stopwatch = EnterStopCopy(device, cancellationToken);
        return DrainStopCopy(device, stopwatch, sink, buffer, rounds, bytesSoFar, progress, cancellationToken);
    }

    /// <summary>Enters stop-copy (the device stops; its data fd stays open to be read); returns the downtime clock.</summary>
    public static Stopwatch EnterStopCopy(IDeviceMigration device, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        device.RequestState(MigrationState.StopCopy, cancellationToken);
        return stopwatch;
    }

    /// <summary>
    /// Reads a device already in stop-copy to the end of its stream; returns all bytes saved, the downtime, and the
    /// stop-copy bytes against the device's own estimate (null where it has none).
    /// </summary>
    public static (long Bytes, TimeSpan Downtime, StreamSizeCheck? Check) DrainStopCopy(IDeviceMigration device, Stopwatch stopwatch, DataSink sink, byte[] buffer, int rounds, long bytesSoFar,
        IProgress<SaveProgress>? progress, CancellationToken cancellationToken)
    {
        ulong? estimate = null;
        try { estimate = device.GetStopCopySize(); }
        catch (VfioMigrationException) { /* the estimate is optional: QEMU carries on without it too */ }
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
