using System.Diagnostics;
using VfioMigration.Drivers;

namespace VfioMigration.Operations;

/// <summary>
/// One device's part in a save run by <see cref="DeviceStateSaver.Run"/>: the device, where its stream goes, and
/// what the save did to it so far (filled in phase by phase, so a caller that stops half way knows what was done).
/// </summary>
internal sealed class DeviceSave
{
    public DeviceSave(IDeviceMigration device, DataSink sink)
    {
        Device = device;
        Sink = sink;
    }

    public IDeviceMigration Device { get; }
    public DataSink Sink { get; }
    public int PreCopyRounds { get; internal set; }
    /// <summary>How often the device announced new initial data during pre-copy (VFIO_PRECOPY_INFO_REINIT).</summary>
    public int PreCopyReinits { get; internal set; }
    /// <summary>Whether PRECOPY_INFO flags were read (the device was opted in to PRECOPY_INFOv2); false without pre-copy.</summary>
    public bool PreCopyFlagsReported { get; internal set; }
    /// <summary>Bytes sent during pre-copy (0 for a stop-and-copy save).</summary>
    public long PreCopyBytes { get; internal set; }
    /// <summary>All bytes of the stream, pre-copy included, once the stop-copy data has been read to its end.</summary>
    public long Bytes { get; internal set; }
    /// <summary>How long the device was stopped for the final copy: from entering StopCopy to the end of its stream.</summary>
    public TimeSpan Downtime { get; internal set; }
    /// <summary>Pre-copy ended with initial data unsent, in the device's own figures (a warning for the user); null when it did not.</summary>
    public string? PreCopyLeftInitialData { get; internal set; }
    /// <summary>The stop-copy bytes against the device's own estimate of them; null where the device has none.</summary>
    public StreamSizeCheck? SizeCheck { get; internal set; }
    /// <summary>Where the stream disagreed with the device's own figures (MIG_DATA_SIZE, PRECOPY_INFO), with the numbers; the save still succeeds.</summary>
    public List<string> StreamWarnings { get; } = new();

    internal Stopwatch? StoppedAt { get; set; }
}
