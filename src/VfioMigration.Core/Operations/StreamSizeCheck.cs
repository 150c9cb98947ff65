namespace VfioMigration.Operations;

/// <summary>
/// A stop-copy stream against the device's own estimate of it (v2 MIG_DATA_SIZE, read once the device is in
/// STOP_COPY). The uAPI calls the value an estimate (include/uapi/linux/vfio.h, "estimated data length"), and
/// drivers compute it differently (mtty exactly, others an upper bound), so a difference alone cannot prove the
/// stream wrong: a stream that is off by more than a factor of <see cref="Factor"/> (and more than
/// <see cref="Slack"/> bytes) is reported as a warning that names both numbers, never as a failed save.
/// </summary>
internal sealed record StreamSizeCheck(string Address, long StopCopyBytes, long Estimate)
{
    public const int Factor = 2;
    public const long Slack = 64 * 1024;

    public bool Disagrees =>
        Math.Abs(StopCopyBytes - Estimate) > Slack && (StopCopyBytes * Factor < Estimate || StopCopyBytes > Estimate * Factor);

    public string Warning =>
        $"{Address}: the stop-copy stream was {StopCopyBytes} bytes, but the device estimated {Estimate} (MIG_DATA_SIZE); the stream may have been cut short or the estimate is loose. Check the image by restoring it onto a spare device before relying on it.";
}
