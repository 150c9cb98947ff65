using VfioMigration.Drivers;

namespace VfioMigration.Operations;

/// <summary>
/// One device's part in a restore run by <see cref="DeviceStateRestorer.Run"/>: the device, and what feeds its
/// saved stream into a sink (a plain stream, or an image file whose checksum is computed again on the way).
/// </summary>
public sealed class DeviceRestore
{
    /// <param name="device">The device to restore into.</param>
    /// <param name="feed">Writes the whole saved stream into the sink it is given, in order; throws if the source is damaged.</param>
    /// <param name="totalBytes">The stream's length when known in advance (for progress), else null.</param>
    public DeviceRestore(IDeviceMigration device, Action<DataSink, CancellationToken> feed, long? totalBytes = null)
    {
        Device = device;
        Feed = feed;
        TotalBytes = totalBytes;
    }

    public IDeviceMigration Device { get; }
    public Action<DataSink, CancellationToken> Feed { get; }
    public long? TotalBytes { get; }
    /// <summary>Bytes written into the device so far.</summary>
    public long Bytes { get; internal set; }
    /// <summary>Whether the restore has begun to change the device (from then on a failure leaves it to be recovered).</summary>
    public bool Touched { get; internal set; }
}
