namespace VfioMigration.Operations;

/// <summary>
/// A stop-copy stream against the device's own estimate of it (v2 MIG_DATA_SIZE, read once the device is in
/// STOP_COPY), checked when the stream has ended (read() = 0). The uAPI calls the value an estimate
/// (include/uapi/linux/vfio.h, "estimated data length"): mtty and the simulator give it exactly, other drivers may
/// round it up, so a difference cannot prove the stream wrong and is a warning naming both numbers, never a failed
/// save. A stream under <see cref="ShortPercent"/>% of the estimate is reported (a cut to 76% must be seen); one
/// over <see cref="LongPercent"/>% of it (and more than <see cref="Slack"/> bytes over) too.
/// </summary>
internal sealed record StreamSizeCheck(string Address, long StopCopyBytes, long Estimate)
{
    public const int ShortPercent = 90;
    public const int LongPercent = 110;
    public const long Slack = 4096;

    public bool Short => StopCopyBytes * 100 < Estimate * ShortPercent;

    public bool Long => StopCopyBytes * 100 > Estimate * LongPercent && StopCopyBytes - Estimate > Slack;

    public bool Disagrees => Short || Long;

    public string Warning => Short
        ? $"{Address}: the stop-copy stream ended (read() returned 0) after {StopCopyBytes} bytes, {Percent}% of the {Estimate} bytes the device estimated (MIG_DATA_SIZE); the stream may have been cut short, or the driver's estimate is an upper bound. Check the image by restoring it onto a spare device before relying on it."
        : $"{Address}: the stop-copy stream was {StopCopyBytes} bytes, {Percent}% of the {Estimate} bytes the device estimated (MIG_DATA_SIZE); the stream may hold more than the device meant to send, or the estimate is loose. Check the image by restoring it onto a spare device before relying on it.";

    private long Percent => Estimate == 0 ? 0 : StopCopyBytes * 100 / Estimate;
}
