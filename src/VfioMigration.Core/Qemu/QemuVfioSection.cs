namespace VfioMigration.Qemu;

/// <summary>The identity fields of a PCI config space (offsets 0, 2, 9, 0x2c, 0x2e), as 4- or 6-digit hex.</summary>
internal sealed record PciConfigIdentity(string VendorId, string DeviceId, string SubsystemVendorId, string SubsystemId, string ClassCode)
{
    /// <summary>Reads the first 64 bytes of a config space (little-endian, PCI Local Bus spec, type 0 header).</summary>
    internal static PciConfigIdentity From(ReadOnlySpan<byte> header) => new(
        Hex16(header, 0), Hex16(header, 2), Hex16(header, 0x2c), Hex16(header, 0x2e),
        $"{header[0x0b]:x2}{header[0x0a]:x2}{header[0x09]:x2}");

    private static string Hex16(ReadOnlySpan<byte> b, int at) => $"{b[at] | (b[at + 1] << 8):x4}";
}

/// <summary>
/// Where chunks of device data sit in the stream: from the DEV_DATA_STATE marker of the first to the end of the
/// last of chunks that follow each other directly (marker, be64 size and bytes, each).
/// </summary>
internal readonly record struct VfioDataFrame(long Offset, long FrameLength);

/// <summary>
/// One VFIO device's state in a QEMU stream, as the walk found it: its section (idstr "&lt;guest PCI path&gt;/vfio"),
/// the device data bytes of its pre-copy parts and of its stop-copy part, kept apart, its config part's PCI
/// identity, and the markers the walk met that it names but does not act on.
/// </summary>
internal sealed class QemuVfioSection
{
    internal QemuVfioSection(string idStr, uint sectionId, uint instanceId, uint versionId)
    {
        IdStr = idStr;
        SectionId = sectionId;
        InstanceId = instanceId;
        VersionId = versionId;
    }

    public string IdStr { get; }
    /// <summary>The guest's PCI path, the idstr without "/vfio": "0000:00:04.0", or "0000:00:1c.0:00.0" behind a bridge.</summary>
    public string GuestAddress => IdStr[..^QemuStreamFormat.VfioIdSuffix.Length];
    public uint SectionId { get; }
    public uint InstanceId { get; }
    public uint VersionId { get; }
    public long PreCopyBytes { get; internal set; }
    public long PreCopyChunks { get; internal set; }
    public long StopCopyBytes { get; internal set; }
    public long StopCopyChunks { get; internal set; }
    public long DataBytes => PreCopyBytes + StopCopyBytes;
    /// <summary>The START part (DEV_SETUP_STATE ... END_OF_STATE) was there.</summary>
    public bool SetupSeen { get; internal set; }
    /// <summary>The stop-copy END part was there and ended with END_OF_STATE: the save finished.</summary>
    public bool StopCopySeen { get; internal set; }
    /// <summary>The config FULL part (DEV_CONFIG_STATE ... END_OF_STATE) was there.</summary>
    public bool ConfigSeen { get; internal set; }
    public PciConfigIdentity? Config { get; internal set; }
    /// <summary>Markers named, not acted on: "switchover-ack" (DEV_INIT_DATA_SENT), "config-load-ready".</summary>
    public IReadOnlyList<string> Markers => _markers;
    /// <summary>XXH128 of the device data bytes in stream order, 32 hex digits.</summary>
    public string Checksum { get; internal set; } = "";
    public bool IsComplete => Problem is null;

    /// <summary>What is missing for the section to be a whole device state, or null.</summary>
    public string? Problem =>
        !SetupSeen ? "the section has no setup part (DEV_SETUP_STATE)" :
        !StopCopySeen ? "the section has no stop-copy part: the save did not finish" :
        !ConfigSeen ? "the section has no config part (DEV_CONFIG_STATE)" : null;

    internal readonly List<string> _markers = new();
    /// <summary>The data chunks' places, merged where they follow each other (recorded only when a walk is asked to: a splice needs them).</summary>
    internal readonly List<VfioDataFrame> Frames = new();

    /// <summary>
    /// At most this many separate runs of chunks are recorded: QEMU writes one run per pre-copy part and one for
    /// the stop-copy part, so this bounds the memory of a crafted stream, not of a real one.
    /// </summary>
    internal const int MaxFrameRuns = 1 << 20;

    internal void AddFrame(long offset, long length, StreamCursor c)
    {
        if (Frames.Count > 0 && Frames[^1] is var last && last.Offset + last.FrameLength == offset)
        {
            Frames[^1] = last with { FrameLength = last.FrameLength + length };
            return;
        }
        if (Frames.Count >= MaxFrameRuns)
            throw c.Error($"VFIO section '{IdStr}' has more than {MaxFrameRuns} separate runs of data chunks; QEMU writes one per pre-copy part and this module writes into streams with fewer.", offset, VfioErrors.QemuStreamUnsupported);
        Frames.Add(new VfioDataFrame(offset, length));
    }
    /// <summary>Where the END part's closing END_OF_STATE marker is (new stop-copy data goes before it).</summary>
    internal long StopCopyEndOfState { get; set; } = -1;
    internal bool Ended { get; set; }
}

/// <summary>What a walk of a whole QEMU stream found.</summary>
internal sealed class QemuStreamContents
{
    public string MachineType { get; internal set; } = "";
    /// <summary>The QEMU stream's length in bytes (decompressed, when it was compressed).</summary>
    public long Length { get; internal set; }
    public IReadOnlyList<QemuVfioSection> VfioSections { get; internal set; } = Array.Empty<QemuVfioSection>();
    /// <summary>Sections of any kind (by section id).</summary>
    public int SectionCount { get; internal set; }
    /// <summary>Guest RAM size the RAM section declared.</summary>
    public long RamBytes { get; internal set; }
    /// <summary>Migration capabilities the configuration section lists.</summary>
    public IReadOnlyList<string> Capabilities { get; internal set; } = Array.Empty<string>();
}
