using System.IO.Hashing;
using VfioMigration.Images;
using VfioMigration.Libvirt;
using VfioMigration.Protocol;
using VfioMigration.Qemu;

namespace VfioMigration.Sources;

/// <summary>
/// Puts saved device state into a QEMU stream that QEMU loads on an incoming migration. A stream is never built
/// from nothing: the template is a stream QEMU wrote for the same VM configuration (a raw stream, or an
/// uncompressed libvirt save file), and only its VFIO section's device data is replaced
/// (<see cref="QemuStreamSplicer"/>). A template whose section does not fit the saved state is refused.
/// </summary>
public static class QemuStreamExport
{
    /// <summary>
    /// Writes <paramref name="destination"/> (0600, atomically; an existing file only with
    /// <paramref name="overwrite"/>): <paramref name="template"/> with the device data of its VFIO section
    /// <paramref name="section"/> (or its only one) replaced by the data of <paramref name="source"/> (an image,
    /// or a section of another QEMU stream, with <paramref name="sourceSection"/>). Returns the written section,
    /// as read back from the destination. Errors: <c>QemuTemplateMismatch</c> (the template's section is of
    /// another device: PCI vendor/device id), <c>QemuSectionNotFound</c>, <c>QemuStreamUnsupported</c> (a
    /// compressed template), the readers' errors for a damaged source or template.
    /// </summary>
    public static VfioStateImage Write(string source, string template, string destination, string? section = null, string? sourceSection = null,
        bool overwrite = false, CancellationToken cancellationToken = default, bool skipIdentityCheck = false)
    {
        var state = DeviceStateSources.Open(source, sourceSection, cancellationToken);
        var full = ImageFile.FullPath(template);
        long fileBytes;
        byte[] prefix = new byte[16];
        using (var f = ImageFile.OpenRead(full, 4096))
        {
            fileBytes = f.Length;
            prefix = prefix[..f.Read(prefix, 0, prefix.Length)];
        }
        if (!QemuStreamFile.Is(prefix) && !LibvirtSaveHeader.Is(prefix))
            throw new QemuStreamException(full, "the template is neither a QEMU migration stream (QEVM) nor a libvirt save file: write into a stream QEMU wrote for the same VM.", VfioErrors.QemuTemplateMismatch);
        var (input, save, _) = QemuSectionSource.Input(full, prefix, fileBytes);
        if (save is not null && save.Header.Format != LibvirtSaveFormat.Raw)
            throw new QemuStreamException(full, $"the template's QEMU stream is compressed ({save.Header.Format.ToString().ToLowerInvariant()}); this module writes only into an uncompressed template (save the VM with the raw format).", VfioErrors.QemuStreamUnsupported);
        // One walk both checks the template and finds where its chunks are; the splice copies around them.
        var target = QemuSectionSource.Open(full, prefix, fileBytes, section, cancellationToken, recordFrames: true);
        var theirs = target.Description;
        var ours = state.Description;
        // A vfio-pci mdev is a PCI device to QEMU (its config space is the vendor driver's), so its state goes into a
        // PCI device's section too; ccw and v1 state does not.
        if (ours.Protocol != MigrationProtocol.V2 || ours.Kind is not (VfioDeviceKind.Pci or VfioDeviceKind.Mdev))
            throw new QemuStreamException(full, $"the saved state is of a {ours.Protocol} {ours.Kind} device; QEMU streams carry v2 PCI (and vfio-pci mdev) device state only.", VfioErrors.QemuTemplateMismatch);
        // An mdev's image records its type, not PCI ids: there is nothing to compare with the section's.
        bool mdevImage = ours.Kind == VfioDeviceKind.Mdev && ours.Section is null;
        if (!skipIdentityCheck && mdevImage)
            throw new VfioMigrationException($"{full}: {state.Path} is the image of an mdev, whose identity is its type ('{ours.DeviceId}'), not the PCI vendor/device id that the template's section '{theirs.Section}' carries ({theirs.VendorId}:{theirs.DeviceId}), so they cannot be compared; once you know that section is that device, override the identity check.", VfioErrors.QemuTemplateMismatch, null, null, ErrorRemedy.OverrideIdentityCheck);
        if (!skipIdentityCheck)
            foreach (var (field, saved, there) in new[] { ("vendorId", ours.VendorId, theirs.VendorId), ("deviceId", ours.DeviceId, theirs.DeviceId) })
            {
                if (!string.Equals(saved, there, StringComparison.OrdinalIgnoreCase))
                    throw new VfioMigrationException($"{full}: the template's section '{theirs.Section}' is of another device: {field} is '{there}' in its config space and '{saved}' in {state.Path}.", VfioErrors.QemuTemplateMismatch, null, null, ErrorRemedy.OverrideIdentityCheck);
            }
        var walked = target.Section;
        var hash = new XxHash128();
        using (var file = AtomicFile.Create(destination, overwrite))
        {
            QemuStreamSplicer.Splice(full, input.ReportBase, walked, (sink, ct) => state.Feed(chunk => { hash.Append(chunk); sink(chunk); }, ct), file.Stream, cancellationToken);
            file.Prepare();
            file.Commit();
        }
        // Read back: the written stream walks whole and its section carries exactly the bytes fed.
        // The file may have been replaced since the commit released it: anything but our section is the module's error, never a raw exception.
        var destinationPath = ImageFile.FullPath(destination);
        var written = DeviceStateSources.Inspect(destination, out _, cancellationToken).FirstOrDefault(d => d.Section == theirs.Section)
            ?? throw new QemuStreamException(destinationPath, $"the written stream does not read back with section '{theirs.Section}': the file was changed or replaced while it was written.", VfioErrors.ImageWriteFailed);
        if (written.Checksum != Convert.ToHexString(hash.GetCurrentHash()).ToLowerInvariant() || written.DataBytes != ours.DataBytes)
            throw new QemuStreamException(destinationPath, "the written stream does not read back with the data written into it.", VfioErrors.ImageWriteFailed);
        return written;
    }
}
