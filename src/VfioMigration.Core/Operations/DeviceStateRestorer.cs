using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// The restore: loads saved migration data streams into devices. <see cref="Run"/> is the one restore sequence:
/// <see cref="Restore"/> runs it for one device from a stream, and <see cref="DeviceSetRestorer"/> (every restore
/// the module runs, of one device or a set) runs it for its members in step, adding only the image checks and
/// all-or-nothing. The sequence: Resuming (a set quiesced first, <see cref="QuiesceRules"/>), the data in bounded
/// chunks, then leaving Resuming (the device validates there), then the requested final state.
/// </summary>
public static class DeviceStateRestorer
{
    /// <summary>Restores one device from a stream; returns the bytes written. Throws on failure, leaving the device where the failure left it.</summary>
    public static long Restore(IDeviceMigration device, Stream source, MigrationState finalState = MigrationState.Stop,
        int chunkSize = 1 << 20, IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var buffer = new byte[chunkSize];
        var restore = new DeviceRestore(device, (sink, ct) =>
        {
            int n;
            while ((n = source.Read(buffer, 0, buffer.Length)) > 0)
            {
                ct.ThrowIfCancellationRequested();
                sink(buffer.AsSpan(0, n));
            }
        });
        Run(new[] { restore }, finalState, progress, cancellationToken);
        return restore.Bytes;
    }

    /// <summary>
    /// The restore sequence, for one device or for a set in step: every member into Resuming (a set quiesced
    /// first), each member's stream written, every member out of Resuming (where it validates what it was given:
    /// a single device bound for Running leaves straight for Running, set members for Stop), then the members
    /// moved to <paramref name="finalState"/> together (a set woken through RunningP2P). <paramref name="entering"/>
    /// is told the index of the member each step works on, or -1 for a step of the whole set; a member is
    /// <see cref="DeviceRestore.Touched"/> once the sequence may have changed it. Throws on the first failure;
    /// the caller recovers.
    /// </summary>
    public static void Run(IReadOnlyList<DeviceRestore> members, MigrationState finalState, IProgress<SaveProgress>? progress, CancellationToken cancellationToken,
        Action<int>? entering = null)
    {
        MoveTogether(members, MigrationState.Resuming, cancellationToken, entering);
        for (int i = 0; i < members.Count; i++)
        {
            entering?.Invoke(i);
            var m = members[i];
            m.Feed(chunk =>
            {
                m.Device.WriteResumeData(chunk);
                m.Bytes += chunk.Length;
                progress?.Report(new SaveProgress(m.Device.Address, "restore", m.Bytes, m.TotalBytes, 0));
            }, cancellationToken);
        }
        // Leaving Resuming is where each device validates what it was given.
        var leave = QuiesceRules.LeaveResumingFor(members.Count, finalState);
        for (int i = 0; i < members.Count; i++)
        {
            entering?.Invoke(i);
            members[i].Device.RequestState(leave, cancellationToken);
        }
        if (finalState != leave) MoveTogether(members, finalState, cancellationToken, entering);
    }

    /// <summary>Moves the members to <paramref name="target"/> in the order <see cref="QuiesceRules"/> gives; throws the first member's error.</summary>
    private static void MoveTogether(IReadOnlyList<DeviceRestore> members, MigrationState target, CancellationToken cancellationToken, Action<int>? entering)
    {
        entering?.Invoke(-1);
        var plan = DeviceSetTransition.Plan(members.Select(m => (m.Device, m.Device.GetState())).ToArray(), target, force: true);
        foreach (var m in members) m.Touched = true;
        foreach (var o in plan.Execute(cancellationToken))
            if (o.Error is { } e)
            {
                entering?.Invoke(members.Select(m => m.Device).ToList().IndexOf(o.Device));
                throw e;
            }
    }
}
