namespace VfioMigration.Images;

/// <summary>Reads and fully verifies an image with no device involved.</summary>
public static class StateImageInspector
{
    /// <summary>Verifies the whole image; a damaged one still yields what could be read, with the problem.</summary>
    public static VfioStateImage Inspect(string path, CancellationToken cancellationToken = default) => Inspect(path, out _, cancellationToken);

    /// <summary>As <see cref="Inspect(string, CancellationToken)"/>, also handing back the damage as the reader reported it.</summary>
    public static VfioStateImage Inspect(string path, out StateImageException? damage, CancellationToken cancellationToken = default)
    {
        damage = null;
        var full = ImageFile.FullPath(path);
        using var file = ImageFile.OpenRead(full);
        StateImageReader reader;
        try
        {
            reader = StateImageReader.Open(file, full);
        }
        catch (StateImageException e)
        {
            damage = e;
            return Describe(full, file.Length, null, 0, null, null, e.Message);
        }
        catch (IOException e) { throw FileSystemError.From(e, full, "reading the image", writing: false); }
        try { reader.ReadData(null, cancellationToken); }
        catch (StateImageException e) { damage = e; }
        catch (IOException e) { throw FileSystemError.From(e, full, "reading the image", writing: false); }
        return Describe(reader, full, file.Length, damage?.Message);
    }

    /// <summary>
    /// The set id in an image's header, or null for an image saved alone; reads only the header, through the one
    /// checked open (<see cref="ImageFile.OpenRead"/>), so a FIFO, socket or device node is refused at once, never
    /// waited on. Every failure is a module error: <c>ImageNotFound</c>, <c>ImageNotRegularFile</c>,
    /// <c>PermissionDenied</c>, <c>ImageReadFailed</c>, or the header's damage.
    /// </summary>
    public static Guid? ReadSetId(string path)
    {
        var full = ImageFile.FullPath(path);
        using var file = ImageFile.OpenRead(full, bufferSize: 4096);
        try { return StateImageReader.Open(file, full).Header.Set?.Id; }
        catch (IOException e) { throw FileSystemError.From(e, full, "reading the image", writing: false); }
    }

    /// <summary>Verifies the whole image and returns its reader state; throws on any damage.</summary>
    public static StateImageReader Verify(string path, CancellationToken cancellationToken = default)
    {
        return Verify(path, out _, cancellationToken);
    }

    /// <summary>As <see cref="Verify(string, CancellationToken)"/>, also giving the file's size as read.</summary>
    public static StateImageReader Verify(string path, out long fileBytes, CancellationToken cancellationToken = default)
    {
        var full = ImageFile.FullPath(path);
        using var file = ImageFile.OpenRead(full);
        fileBytes = file.Length;
        try
        {
            var reader = StateImageReader.Open(file, full);
            reader.ReadData(null, cancellationToken);
            return reader;
        }
        catch (IOException e) { throw FileSystemError.From(e, full, "reading the image", writing: false); }
    }

    /// <summary>The image a reader has read, described; <paramref name="problem"/> is why it does not verify, if it does not.</summary>
    public static VfioStateImage Describe(StateImageReader reader, string path, long fileBytes, string? problem) =>
        Describe(path, fileBytes, reader.Header, reader.DataBytes, reader.Checksum, reader.Summary, problem);

    /// <summary>
    /// The one place an image becomes the output object, from its header and summary (null where they could not be
    /// read) and what is known of the file, whether it was just read or just written.
    /// </summary>
    internal static VfioStateImage Describe(string path, long fileBytes, StateImageHeader? header, long dataBytes, string? checksum, StateImageSummary? summary, string? problem) =>
        new()
        {
            Path = path,
            DeviceName = header?.Device.Identity.Address ?? "",
            Kind = header?.Device.Identity.Kind,
            VendorId = header?.Device.Identity.VendorId,
            DeviceId = header?.Device.Identity.DeviceId,
            Driver = header?.Device.Identity.Driver,
            Protocol = header?.Device.Protocol,
            Capabilities = header?.Device.Capabilities,
            Created = header?.Created,
            Host = header?.Host,
            SaveMode = header?.SaveMode,
            FormatVersion = header?.FormatVersion,
            // Counted only by a read that reached the verified summary: a damaged image shows no size, not 0.
            DataBytes = summary is null ? null : dataBytes,
            FileBytes = fileBytes,
            Checksum = checksum,
            PreCopyRounds = summary?.PreCopyRounds,
            PreCopyBytes = summary?.PreCopyBytes,
            PreCopyReinits = summary?.PreCopyReinits,
            PreCopyFlagsReported = summary?.PreCopyFlagsReported,
            Downtime = summary is null ? null : TimeSpan.FromMilliseconds(summary.DowntimeMilliseconds),
            Duration = summary is null ? null : TimeSpan.FromMilliseconds(summary.DurationMilliseconds),
            SetId = header?.Set?.Id,
            SetIndex = header?.Set?.Index,
            SetMembers = header?.Set?.Members.ToArray(),
            Links = header?.Set?.Links,
            IsValid = problem is null,
            Problem = problem,
        };
}
