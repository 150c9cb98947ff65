namespace VfioMigration.Images;

/// <summary>An image is damaged, foreign or of another version; <see cref="Field"/> names what is wrong.</summary>
public sealed class StateImageException : VfioMigrationException
{
    public StateImageException(string path, string field, string message, string errorId = "ImageInvalid")
        : base($"{path}: {message}", errorId, null)
    {
        Path = path;
        Field = field;
    }

    public string Path { get; }
    public string Field { get; }
}
