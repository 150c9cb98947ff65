namespace VfioMigration.Images;

/// <summary>An image is damaged, foreign or of another version; <see cref="Field"/> names what is wrong.</summary>
public sealed class StateImageException : VfioMigrationException
{
    /// <summary>An image error of catalogue entry <paramref name="error"/>, <see cref="VfioErrors.ImageInvalid"/> when not given.</summary>
    public StateImageException(string path, string field, string message, VfioError? error = null, ErrorRemedy? remedy = null)
        : base($"{path}: {message}", error ?? VfioErrors.ImageInvalid, null, null, remedy)
    {
        Path = path;
        Field = field;
    }

    public string Path { get; }
    public string Field { get; }
}
