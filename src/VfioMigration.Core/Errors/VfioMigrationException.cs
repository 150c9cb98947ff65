namespace VfioMigration;

/// <summary>
/// Base of every error the core reports on purpose. <see cref="Error"/> is its catalogue entry
/// (<see cref="VfioErrors"/>): a stable <see cref="ErrorId"/> scripts can catch by, which the module turns into an
/// ErrorRecord id, and a <see cref="Kind"/> the module turns into a category. The message names no cmdlet or
/// switch; <see cref="Remedy"/> says what the user can do, and the module words it.
/// </summary>
public class VfioMigrationException : Exception
{
    /// <summary>An error of catalogue entry <paramref name="error"/>; <paramref name="remedy"/> when the entry's own does not fit.</summary>
    public VfioMigrationException(string message, VfioError error, string? device = null, Exception? inner = null, ErrorRemedy? remedy = null)
        : base(message, inner)
    {
        Error = error;
        Device = device;
        Remedy = remedy ?? error.Remedy;
    }

    public VfioError Error { get; }
    public string ErrorId => Error.Id;
    public ErrorKind Kind => Error.Kind;
    public ErrorRemedy Remedy { get; }
    public string? Device { get; }
}
