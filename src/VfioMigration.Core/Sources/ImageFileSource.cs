using VfioMigration.Images;
using VfioMigration.Protocol;

namespace VfioMigration.Sources;

/// <summary>A state image file (Images/) as a restore source: verified with its checksum, identity from its device record.</summary>
internal sealed class ImageFileSource : IDeviceStateSource
{
    private readonly ImageDevice _device;

    private ImageFileSource(string path, VfioStateImage description, ImageDevice device)
    {
        Path = path;
        Description = description;
        _device = device;
    }

    public string Path { get; }
    public VfioStateImage Description { get; }
    public MigrationProtocol Protocol => _device.Protocol;

    public static ImageFileSource Open(string path, CancellationToken cancellationToken)
    {
        var reader = StateImageInspector.Verify(path, out long fileBytes, cancellationToken);
        var full = ImageFile.FullPath(path);
        return new ImageFileSource(full, StateImageInspector.Describe(reader, full, fileBytes, null), reader.Header.Device);
    }

    public IReadOnlyList<(string Field, string? Saved, string? Device)> Mismatches(VfioDevice target) =>
        ImageIdentityCheck.Mismatches(_device, ImageDevice.From(target)).Select(m => (m.Field, m.Image, m.Device)).ToArray();

    /// <summary>The image's data, with the checksum computed again on the way.</summary>
    public void Feed(ChunkHandler sink, CancellationToken cancellationToken)
    {
        using var file = ImageFile.OpenRead(Path);
        var reader = StateImageReader.Open(file, Path);
        reader.ReadData(sink, cancellationToken);
        if (reader.Checksum != Description.Checksum)
            throw new StateImageException(Path, "checksum", "the image changed while it was being restored.", VfioErrors.ImageChecksumMismatch);
    }
}
