using System.IO.Hashing;
using VfioMigration.Images;
using VfioMigration.Libvirt;
using VfioMigration.Protocol;
using VfioMigration.Qemu;

namespace VfioMigration.Sources;

/// <summary>
/// A VFIO section of a QEMU migration stream (Qemu/) or of a libvirt save file (Libvirt/) as a restore source:
/// the whole stream is walked and the section must be complete; its identity is its config space's vendor and
/// device id; its bytes are the pre-copy chunks then the stop-copy chunks, checked against the XXH128 of the walk.
/// </summary>
internal sealed class QemuSectionSource : IDeviceStateSource
{
    private readonly QemuStreamInput _input;
    private readonly QemuVfioSection _section;

    private QemuSectionSource(QemuStreamInput input, QemuVfioSection section, VfioStateImage description)
    {
        _input = input;
        _section = section;
        Description = description;
    }

    public string Path => _input.Path;
    public VfioStateImage Description { get; }
    public MigrationProtocol Protocol => MigrationProtocol.V2;
    /// <summary>The section as the verifying walk found it (with its chunks' places when opened to write into).</summary>
    internal QemuVfioSection Section => _section;

    /// <summary>The file's QEMU stream, and the libvirt save around it when there is one.</summary>
    internal static (QemuStreamInput Input, LibvirtSaveFile? Save, string Format) Input(string full, ReadOnlySpan<byte> prefix, long fileBytes)
    {
        if (LibvirtSaveHeader.Is(prefix))
        {
            var save = LibvirtSaveFile.Open(full);
            return (save.Input, save, "LibvirtSave");
        }
        return (QemuStreamFile.Input(full, fileBytes), null, "QemuStream");
    }

    /// <summary>Every VFIO section of the file, described; a stream that cannot be walked throws.</summary>
    public static IReadOnlyList<VfioStateImage> Inspect(string full, ReadOnlySpan<byte> prefix, long fileBytes, CancellationToken cancellationToken)
    {
        var (input, save, format) = Input(full, prefix, fileBytes);
        var contents = QemuStreamReader.Read(input, cancellationToken: cancellationToken);
        return contents.VfioSections.Select(s => Describe(full, fileBytes, format, contents, s, save)).ToArray();
    }

    /// <summary>
    /// Walks the whole file and picks the VFIO section named by <paramref name="section"/> (its idstr or guest
    /// address), or the only one; a missing, ambiguous or incomplete section is refused. With
    /// <paramref name="recordFrames"/> the walk keeps where the section's chunks are (to write into the file).
    /// </summary>
    public static QemuSectionSource Open(string full, ReadOnlySpan<byte> prefix, long fileBytes, string? section, CancellationToken cancellationToken, bool recordFrames = false)
    {
        var (input, save, format) = Input(full, prefix, fileBytes);
        var contents = QemuStreamReader.Read(input, cancellationToken: cancellationToken, recordFrames: recordFrames);
        var sections = contents.VfioSections;
        string names = string.Join(", ", sections.Select(s => s.GuestAddress));
        QemuVfioSection chosen;
        if (section is null)
        {
            if (sections.Count != 1)
                throw new VfioMigrationException(sections.Count == 0
                    ? $"{full}: the stream holds no VFIO device section."
                    : $"{full}: the stream holds {sections.Count} VFIO device sections ({names}); name one by its guest address.", VfioErrors.QemuSectionNotFound);
            chosen = sections[0];
        }
        else
        {
            var matches = Matching(sections, section, StringComparison.OrdinalIgnoreCase);
            // Two sections that differ only in case, or one's idstr that is another's guest address: the name as
            // typed, case and all, must then pick one, or nothing is chosen (the wrong device's bytes are worse than no answer).
            if (matches.Length > 1 && Matching(matches, section, StringComparison.Ordinal) is { Length: 1 } exact) matches = exact;
            if (matches.Length > 1)
                throw new VfioMigrationException($"{full}: '{DisplayText.Escape(section)}' names {matches.Length} VFIO sections ({string.Join(", ", matches.Select(s => s.IdStr))}); name one by its idstr or guest address exactly as listed, case and all, so that it names only that one.", VfioErrors.QemuSectionNotFound);
            chosen = matches.FirstOrDefault()
                ?? throw new VfioMigrationException($"{full}: the stream has no VFIO section '{DisplayText.Escape(section)}'; its VFIO sections are: {(names.Length > 0 ? names : "none")}.", VfioErrors.QemuSectionNotFound);
        }
        // Only a whole device state from a finished save is restored: the section's parts, and libvirt's own word.
        var description = Describe(full, fileBytes, format, contents, chosen, save);
        if (description.Problem is { } problem)
            throw new QemuStreamException(full, $"VFIO section '{chosen.IdStr}' is not a whole device state: {problem}.", VfioErrors.QemuStreamTruncated);
        return new QemuSectionSource(input, chosen, description);
    }

    private static QemuVfioSection[] Matching(IEnumerable<QemuVfioSection> sections, string name, StringComparison comparison) =>
        sections.Where(s => string.Equals(s.IdStr, name, comparison) || string.Equals(s.GuestAddress, name, comparison)).ToArray();

    public IReadOnlyList<(string Field, string? Saved, string? Device)> Mismatches(VfioDevice target)
    {
        var id = target.Identity;
        var found = new List<(string, string?, string?)>();
        if (id.Kind != VfioDeviceKind.Pci) found.Add(("kind", VfioDeviceKind.Pci.ToString(), id.Kind.ToString()));
        if (!Same(_section.Config?.VendorId, id.VendorId)) found.Add(("vendorId", _section.Config?.VendorId, id.VendorId));
        if (!Same(_section.Config?.DeviceId, id.DeviceId)) found.Add(("deviceId", _section.Config?.DeviceId, id.DeviceId));
        return found;
    }

    /// <summary>The section's bytes from a new walk of the whole stream, hashed on the way and compared with the verified walk.</summary>
    public void Feed(ChunkHandler sink, CancellationToken cancellationToken)
    {
        var hash = new XxHash128();
        QemuStreamReader.Read(_input, _section.SectionId, chunk => { hash.Append(chunk); sink(chunk); }, cancellationToken);
        if (Convert.ToHexString(hash.GetCurrentHash()).ToLowerInvariant() != _section.Checksum)
            throw new QemuStreamException(Path, $"VFIO section '{_section.IdStr}' changed while it was being restored.", VfioErrors.ImageChecksumMismatch);
    }

    /// <summary>The one place a QEMU section becomes the output object.</summary>
    internal static VfioStateImage Describe(string full, long fileBytes, string format, QemuStreamContents contents, QemuVfioSection s, LibvirtSaveFile? save)
    {
        string? host = save?.Domain.HostDeviceFor(s.GuestAddress);
        string? problem = s.Problem ?? (save?.Header.Partial == true ? "the libvirt save did not finish (LibvirtQemudPart)" : null);
        return new VfioStateImage
        {
            Path = full,
            DeviceName = host ?? s.GuestAddress,
            Kind = VfioDeviceKind.Pci,
            VendorId = s.Config?.VendorId,
            DeviceId = s.Config?.DeviceId,
            SubsystemVendorId = s.Config?.SubsystemVendorId,
            SubsystemId = s.Config?.SubsystemId,
            ClassCode = s.Config?.ClassCode,
            Protocol = MigrationProtocol.V2,
            // No Created: a stream records no save time, and the file's mtime is not one.
            SaveMode = s.PreCopyBytes > 0 ? "live" : "stop-copy",
            FormatVersion = (int)QemuStreamFormat.StreamVersion,
            DataBytes = s.DataBytes,
            FileBytes = fileBytes,
            Checksum = s.Checksum,
            PreCopyRounds = (int)Math.Min(int.MaxValue, s.PreCopyChunks),
            PreCopyBytes = s.PreCopyBytes,
            StopCopyBytes = s.StopCopyBytes,
            SourceFormat = format,
            Section = s.IdStr,
            HostDevice = host,
            MachineType = contents.MachineType,
            IsComplete = s.IsComplete,
            IsValid = problem is null,
            Problem = problem,
        };
    }

    private static bool Same(string? a, string? b) => string.Equals(a ?? "", b ?? "", StringComparison.OrdinalIgnoreCase);
}
