namespace VfioMigration;

/// <summary>
/// Base of every error the core reports on purpose. <see cref="ErrorId"/> is stable, so scripts can catch by it
/// and the module turns it into an ErrorRecord id.
/// </summary>
public class VfioMigrationException : Exception
{
    public VfioMigrationException(string message, string errorId, string? device = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Device = device;
    }

    public string ErrorId { get; }
    public string? Device { get; }
}
