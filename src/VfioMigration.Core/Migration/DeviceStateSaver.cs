using System.Diagnostics;
using VfioMigration.Protocol;

namespace VfioMigration.Migration;

/// <summary>
/// Streams one device's migration data into a sink with bounded memory: optionally pre-copy rounds while the
/// device runs (until the device reports convergence or the round limit is hit), then stop-copy to the end of the
/// stream, then the requested final state.
/// </summary>
public static class DeviceStateSaver
{
    public static SaveReport Save(IDeviceMigration device, Stream sink, SaveOptions options,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var total = Stopwatch.StartNew();
        var buffer = new byte[options.ChunkSize];
        long bytes = 0, preCopyBytes = 0;
        int rounds = 0;
        var start = device.GetState();
        if (options.Live)
        {
            if (!device.Capabilities.HasFlag(MigrationCapabilities.PreCopy))
                throw new VfioMigrationException($"{device.Address}: a live save needs pre-copy, which this device does not offer ({device.Capabilities}); save it stopped instead.", "PreCopyNotSupported", device.Address);
            var preTarget = start is MigrationState.RunningP2P or MigrationState.PreCopyP2P ? MigrationState.PreCopyP2P : MigrationState.PreCopy;
            device.RequestState(preTarget, cancellationToken);
            while (rounds < options.MaxPreCopyRounds)
            {
                rounds++;
                // A round sends what the device reported outstanding when it began; a busy device dirties pages
                // while we read, so "until nothing is left" might never come.
                var before = device.GetPrecopyInfo();
                long budget = before is { } b ? (long)(b.InitialBytes + b.DirtyBytes) : 0;
                long roundBytes = Drain(device, sink, buffer, untilEnd: false, progress, "pre-copy", rounds, ref bytes, cancellationToken, Math.Max(budget, 1));
                preCopyBytes += roundBytes;
                var info = device.GetPrecopyInfo();
                if (info is { } i && i.InitialBytes == 0 && (long)i.DirtyBytes <= options.ConvergedDirtyBytes) break;
            }
        }
        var stopwatch = Stopwatch.StartNew();
        device.RequestState(MigrationState.StopCopy, cancellationToken);
        Drain(device, sink, buffer, untilEnd: true, progress, "stop-copy", rounds, ref bytes, cancellationToken, long.MaxValue);
        sink.Flush();
        var downtime = stopwatch.Elapsed;
        device.RequestState(options.FinalState, cancellationToken);
        return new SaveReport(device.Address, bytes, preCopyBytes, rounds, downtime, total.Elapsed);
    }

    private static long Drain(IDeviceMigration device, Stream sink, byte[] buffer, bool untilEnd, IProgress<SaveProgress>? progress,
        string phase, int round, ref long bytes, CancellationToken cancellationToken, long budget)
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
            sink.Write(buffer, 0, r.Bytes);
            moved += r.Bytes;
            bytes += r.Bytes;
            progress?.Report(new SaveProgress(device.Address, phase, bytes, null, round));
        }
        return moved;
    }
}
