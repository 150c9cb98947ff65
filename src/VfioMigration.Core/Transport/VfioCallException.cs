namespace VfioMigration.Transport;

/// <summary>A uAPI call failed with an errno the caller did not expect.</summary>
public sealed class VfioCallException : VfioMigrationException
{
    public VfioCallException(string device, string operation, int errno)
        : base($"{device}: {operation} failed: {Protocol.Errno.Name(errno)}.", ErrorOf(errno), device)
    {
        Operation = operation;
        Errno = errno;
    }

    public string Operation { get; }
    public int Errno { get; }

    private static VfioError ErrorOf(int errno) => errno switch
    {
        Protocol.Errno.EBUSY => VfioErrors.DeviceBusy,
        Protocol.Errno.EACCES or Protocol.Errno.EPERM => VfioErrors.PermissionDenied,
        Protocol.Errno.ENODEV => VfioErrors.DeviceGone,
        _ => VfioErrors.VfioCallFailed,
    };
}
