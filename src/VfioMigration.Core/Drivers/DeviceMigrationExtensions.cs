namespace VfioMigration.Drivers;

/// <summary>Reading a device's state where a failure to read it is itself the answer.</summary>
public static class DeviceMigrationExtensions
{
    /// <summary>The state the device reports, or null when it cannot be read (or the device has no migration).</summary>
    public static Protocol.MigrationState? TryGetState(this IDeviceMigration device)
    {
        try { return device.GetState(); }
        catch (VfioMigrationException) { return null; }
    }
}
