namespace VfioMigration.Images;

/// <summary>What an image says about itself before its data: when, where, from which device, how.</summary>
public sealed record StateImageHeader
{
    public int FormatVersion { get; init; } = StateImageFormat.Version;
    public DateTimeOffset Created { get; init; }
    public string Host { get; init; } = "";
    public string Tool { get; init; } = "";
    public required ImageDevice Device { get; init; }
    /// <summary>"stop-copy" or "live".</summary>
    public string SaveMode { get; init; } = "stop-copy";
    /// <summary>Protocol details of the source: v2 flags, v1 NDMA, the device's stop-copy estimate.</summary>
    public Dictionary<string, string> ProtocolMetadata { get; init; } = new();
    /// <summary>Set when several devices were saved together as one consistent cut.</summary>
    public ImageSet? Set { get; init; }
}

/// <summary>
/// Membership of a multi-device save: the images of one set share an id and list every member. <see cref="Links"/>
/// says what tied this member to the others at save time, by kind (<see cref="SetLinks"/>), as the 0-based indexes
/// of those members: a kind present was known at save (an empty list: linked to none), a kind absent was not.
/// Null in images written before links were recorded.
/// </summary>
public sealed record ImageSet(Guid Id, int Index, IReadOnlyList<string> Members, IReadOnlyDictionary<string, int[]>? Links = null);

/// <summary>What the save measured, written after the data.</summary>
public sealed record StateImageSummary
{
    public long DataBytes { get; init; }
    public int PreCopyRounds { get; init; }
    public long PreCopyBytes { get; init; }
    /// <summary>How often the device announced new initial data during pre-copy (VFIO_PRECOPY_INFO_REINIT, kernel 7.3).</summary>
    public int PreCopyReinits { get; init; }
    /// <summary>Whether the save could read PRECOPY_INFO flags (the device took the PRECOPY_INFOv2 opt-in); false for a stop-copy save.</summary>
    public bool PreCopyFlagsReported { get; init; }
    public double DowntimeMilliseconds { get; init; }
    public double DurationMilliseconds { get; init; }
}
