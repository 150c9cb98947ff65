namespace VfioMigration.Operations;

/// <summary>What a save did: bytes moved, pre-copy rounds, and how long the device was stopped for the final copy.</summary>
internal sealed record SaveReport(string Device, long Bytes, long PreCopyBytes, int PreCopyRounds, TimeSpan Downtime, TimeSpan Duration)
{
    /// <summary>How often the device announced new initial data during pre-copy (VFIO_PRECOPY_INFO_REINIT).</summary>
    public int PreCopyReinits { get; init; }
    /// <summary>Whether PRECOPY_INFO flags were read (the PRECOPY_INFOv2 opt-in was taken).</summary>
    public bool PreCopyFlagsReported { get; init; }
}
