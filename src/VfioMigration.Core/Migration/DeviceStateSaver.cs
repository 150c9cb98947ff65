using System.Diagnostics;
using VfioMigration.Protocol;

namespace VfioMigration.Migration;

/// <summary>
/// Streams one device's migration data into a sink with bounded memory: optionally pre-copy rounds while the
/// device runs (until the device reports convergence or the round limit is hit), then stop-copy to the end of the
/// stream, then the requested final state. The phases are also offered one by one, for multi-device saves.
/// </summary>
public static class DeviceStateSaver
{
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
            throw new VfioMigrationException($"{device.Address}: a live save needs pre-copy, which this device does not offer ({device.Capabilities}); save it stopped instead.", "PreCopyNotSupported", device.Address);
        var start = device.GetState();
        device.RequestState(start is MigrationState.RunningP2P or MigrationState.PreCopyP2P ? MigrationState.PreCopyP2P : MigrationState.PreCopy, cancellationToken);
        int rounds = 0;
        long bytes = 0;
        while (rounds < options.MaxPreCopyRounds)
        {
            rounds++;
            // A round sends what the device reported outstanding when it began; a busy device dirties pages
            // while we read, so "until nothing is left" might never come.
            var before = device.GetPrecopyInfo();
            long budget = before is { } b ? (long)(b.InitialBytes + b.DirtyBytes) : 0;
            var clock = Stopwatch.StartNew();
            long moved = Drain(device, sink, buffer, untilEnd: false, progress, "pre-copy", rounds, bytes, null, cancellationToken, Math.Max(budget, 1));
            bytes += moved;
            var info = device.GetPrecopyInfo();
            if (info is { } i && i.InitialBytes == 0 && (long)i.DirtyBytes <= options.ConvergedDirtyBytes) break;
            if (options.MaxDowntime is { } limit && info is { } left && moved > 0)
            {
                double rate = moved / Math.Max(clock.Elapsed.TotalSeconds, 1e-6);
                double remaining = left.InitialBytes + left.DirtyBytes + (double)(device.GetStopCopySize() ?? 0);
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
        var stopwatch = Stopwatch.StartNew();
        device.RequestState(MigrationState.StopCopy, cancellationToken);
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
                if (++idle > 1000) throw new VfioMigrationException($"{device.Address}: the stop-copy stream stalled without reaching its end.", "SaveStreamStalled", device.Address);
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
