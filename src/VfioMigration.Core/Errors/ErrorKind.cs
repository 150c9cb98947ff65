namespace VfioMigration;

/// <summary>
/// What went wrong, in the core's terms. Every entry of <see cref="VfioErrors"/> has one; the module maps each kind
/// to one PowerShell <c>ErrorCategory</c>, so a new error id needs no mapping of its own.
/// </summary>
public enum ErrorKind
{
    /// <summary>The uAPI, the device's capabilities or the module's own rules do not allow the request; nothing was changed.</summary>
    Refused,
    /// <summary>A uAPI call or the device itself failed.</summary>
    DeviceFailure,
    /// <summary>A device, peer, file or directory that was named does not exist.</summary>
    NotFound,
    /// <summary>Something else holds the device or file now; trying again later can work.</summary>
    Busy,
    /// <summary>The kernel refused access (EACCES, EPERM).</summary>
    PermissionDenied,
    /// <summary>What would be created exists already.</summary>
    Exists,
    /// <summary>An argument, or a combination of them, cannot be used as given.</summary>
    InvalidArgument,
    /// <summary>An image or what a device reported is damaged, foreign or of another version.</summary>
    InvalidData,
    /// <summary>The host lacks what the module needs (vfio modules, iommufd, a uAPI version it speaks, a module file).</summary>
    NotInstalled,
    /// <summary>The host has the device, but not usable through VFIO as it is configured (driver binding, IOMMU group).</summary>
    Unavailable,
    /// <summary>The device did not finish in the time allowed.</summary>
    Timeout,
    /// <summary>Cancelled by the caller (Ctrl+C, SIGTERM, a cancellation token).</summary>
    Cancelled,
    /// <summary>Not done because the user declined, or could not be asked.</summary>
    Declined,
    /// <summary>Not done, or undone, because another part of the same operation failed.</summary>
    Aborted,
    /// <summary>Done in part: what was asked for happened, what was to follow did not.</summary>
    PartlyDone,
    /// <summary>Writing a file failed.</summary>
    WriteFailed,
    /// <summary>Reading a file failed.</summary>
    ReadFailed,
    /// <summary>A file refused because trusting it would be unsafe (a symbolic link, a foreign owner, open permissions).</summary>
    Security,
}
