using VfioMigration.Images;
using VfioMigration.Libvirt;
using VfioMigration.Qemu;

namespace VfioMigration.Sources;

/// <summary>
/// Opens any file of saved device state by what its first bytes say: "VFIOSTAT" a state image, "QEVM" a QEMU
/// stream, "LibvirtQemudSave"/"LibvirtQemudPart" a libvirt save file. Anything else is read as an image, whose
/// reader names what is wrong with it.
/// </summary>
public static class DeviceStateSources
{
    /// <summary>A verified source for one device; <paramref name="section"/> picks a QEMU stream's VFIO section (idstr or guest address).</summary>
    internal static IDeviceStateSource Open(string path, string? section, CancellationToken cancellationToken)
    {
        var (full, prefix, length) = Sniff(path);
        if (QemuStreamFile.Is(prefix) || LibvirtSaveHeader.Is(prefix)) return QemuSectionSource.Open(full, prefix, length, section, cancellationToken);
        if (section is not null)
            throw new VfioMigrationException($"{full} is a device state image, which holds one device: a section is named only for a QEMU stream or libvirt save file.", VfioErrors.QemuSectionNotFound);
        return ImageFileSource.Open(full, cancellationToken);
    }

    /// <summary>
    /// What a file holds: an image's one description (damaged: with the problem, and <paramref name="damage"/>
    /// set), or one description per VFIO section of a QEMU stream or libvirt save file. A QEMU stream that cannot
    /// be walked throws its error.
    /// </summary>
    public static IReadOnlyList<VfioStateImage> Inspect(string path, out VfioMigrationException? damage, CancellationToken cancellationToken = default)
    {
        damage = null;
        var (full, prefix, length) = Sniff(path);
        if (QemuStreamFile.Is(prefix) || LibvirtSaveHeader.Is(prefix)) return QemuSectionSource.Inspect(full, prefix, length, cancellationToken);
        var image = StateImageInspector.Inspect(full, out var imageDamage, cancellationToken);
        damage = imageDamage;
        return new[] { image };
    }

    private static (string Full, byte[] Prefix, long Length) Sniff(string path)
    {
        ChecksumWarmup.Start(); // every source is checksummed whole: get XXH128 optimized while the file is opened
        var full = ImageFile.FullPath(path);
        using var file = ImageFile.OpenRead(full, 4096);
        var prefix = new byte[16];
        int got = 0, n;
        while (got < prefix.Length && (n = file.Read(prefix, got, prefix.Length - got)) > 0) got += n;
        return (full, prefix[..got], file.Length);
    }
}
