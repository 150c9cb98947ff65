using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// Loads a migration data stream into a device: Resuming, the data in bounded chunks, then leaving Resuming (the
/// device validates there), then the requested final state.
/// </summary>
public static class DeviceStateRestorer
{
    public static long Restore(IDeviceMigration device, Stream source, MigrationState finalState = MigrationState.Stop,
        int chunkSize = 1 << 20, IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        device.RequestState(MigrationState.Resuming, cancellationToken);
        var buffer = new byte[chunkSize];
        long bytes = 0;
        int n;
        while ((n = source.Read(buffer, 0, buffer.Length)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            device.WriteResumeData(buffer.AsSpan(0, n));
            bytes += n;
            progress?.Report(new SaveProgress(device.Address, "restore", bytes, null, 0));
        }
        // Leaving Resuming loads and validates. Going straight to Running is one v1 write (0x4 -> 0x1, as QEMU did,
        // and the only way out some v1 servers accept); v2 walks through Stop either way.
        var leave = finalState == MigrationState.Running ? MigrationState.Running : MigrationState.Stop;
        device.RequestState(leave, cancellationToken);
        if (finalState != leave) device.RequestState(finalState, cancellationToken);
        return bytes;
    }
}
