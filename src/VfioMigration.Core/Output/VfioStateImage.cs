using VfioMigration.Protocol;

namespace VfioMigration;

/// <summary>
/// A device state image as the module shows it: where it is, what it holds, and whether it verifies. The module
/// builds it in one place, <see cref="Images.StateImageInspector"/>.Describe, from the image's header and file;
/// settable so that a script can make one (a view test does). What the image's header or summary would say is
/// null when that part could not be read (a damaged image shows its Problem, not zeros or a year-1 date).
/// </summary>
public sealed class VfioStateImage
{
    /// <summary>The file's path exactly as it is, for scripts to open it again (piped into Restore, Export).</summary>
    public required string Path { get; init; }
    /// <summary>
    /// The image file's name, without its directory, as the views show it: control and bidi characters written out
    /// as <c>\u001B</c> (<see cref="DisplayText"/>), so a file dropped in an image directory cannot drive the terminal.
    /// </summary>
    public string FileName => DisplayText.Escape(System.IO.Path.GetFileName(Path));
    /// <summary>The name of the device the state was saved from (the Name of its VfioDevice).</summary>
    public required string DeviceName { get; init; }
    public VfioDeviceKind? Kind { get; init; }
    public string? VendorId { get; init; }
    public string? DeviceId { get; init; }
    public string? Driver { get; init; }
    public MigrationProtocol? Protocol { get; init; }
    public string? Capabilities { get; init; }
    public DateTimeOffset? Created { get; init; }
    public string? Host { get; init; }
    public string? SaveMode { get; init; }
    public int? FormatVersion { get; init; }
    /// <summary>Migration data bytes (what the device produced); null when the header could not be read.</summary>
    public long? DataBytes { get; init; }
    /// <summary>Size of the image file.</summary>
    public long FileBytes { get; init; }
    /// <summary>XXH128 of the image, 32 hex digits.</summary>
    public string? Checksum { get; init; }
    public int? PreCopyRounds { get; init; }
    public long? PreCopyBytes { get; init; }
    /// <summary>How often the source device announced new initial data during pre-copy (VFIO_PRECOPY_INFO_REINIT, kernel 7.3).</summary>
    public int? PreCopyReinits { get; init; }
    /// <summary>Whether the save read PRECOPY_INFO flags (the source took the PRECOPY_INFOv2 opt-in): re-inits can only be seen then.</summary>
    public bool? PreCopyFlagsReported { get; init; }
    public TimeSpan? Downtime { get; init; }
    public TimeSpan? Duration { get; init; }
    public Guid? SetId { get; init; }
    public int? SetIndex { get; init; }
    public string[]? SetMembers { get; init; }
    /// <summary>
    /// What tied this member to the others at save time (the header's set.links), by kind (peer, iommuGroup, slot,
    /// parent), as 0-based set indexes; a kind absent was not known; null for an image saved alone or before links
    /// were recorded. The restore pre-flight compares it with the targets'.
    /// </summary>
    internal IReadOnlyDictionary<string, int[]>? Links { get; init; }
    /// <summary>The same as users read it, by set position: "peer: 2/2; iommuGroup: none; slot: 2/2".</summary>
    public string? SetLinks => Links is null ? null : string.Join("; ", Links.Select(kv => $"{kv.Key}: {(kv.Value.Length == 0 ? "none" : string.Join(", ", kv.Value.Select(i => Position(i, SetMembers?.Length ?? 0))))}"));
    /// <summary>
    /// The image's place in its set, "1/2"; null for an image saved alone. (Not called Set: an array's own Set()
    /// method would shadow it in member enumeration.)
    /// </summary>
    public string? SetPosition => SetIndex is { } i ? Position(i, SetMembers?.Length ?? 0) : null;

    /// <summary>
    /// A set member's place as users see it everywhere (SetPosition, errors): counted from 1, "2/3". The image
    /// header's set.index counts from 0 (docs/image-format.md); only this turns one into the other.
    /// </summary>
    public static string Position(int index, int count) => $"{index + 1}/{count}";
    /// <summary>What the file is: "VfioState" (this module's image), "QemuStream" (a QEMU migration stream) or "LibvirtSave" (a libvirt save file).</summary>
    public string SourceFormat { get; init; } = "VfioState";
    /// <summary>For a QEMU stream or libvirt save: the VFIO section's idstr ("0000:00:04.0/vfio"); null for an image.</summary>
    public string? Section { get; init; }
    /// <summary>For a libvirt save: the host device the domain XML maps the guest address to (a PCI address or an mdev UUID), when it says.</summary>
    public string? HostDevice { get; init; }
    /// <summary>Device data bytes of the stop-copy part (a QEMU section; DataBytes - PreCopyBytes).</summary>
    public long StopCopyBytes { get; init; }
    /// <summary>For a QEMU section: the setup, stop-copy and config parts are all there (the save finished).</summary>
    public bool IsComplete { get; init; } = true;
    public string? SubsystemVendorId { get; init; }
    public string? SubsystemId { get; init; }
    /// <summary>PCI class code, 6 hex digits (class, subclass, programming interface).</summary>
    public string? ClassCode { get; init; }
    /// <summary>For a QEMU stream: the machine type it was saved from ("pc-q35-10.0").</summary>
    public string? MachineType { get; init; }
    public bool IsValid { get; init; }
    /// <summary>Why the image does not verify, when it does not.</summary>
    public string? Problem { get; init; }

    public override string ToString() => Path;
}
