using System.Management.Automation;

namespace VfioMigration.PowerShell.Tests;

/// <summary>
/// Every error id reaches PowerShell with the category it had when the ids were mapped one by one
/// (VfioCmdlet.CategoryOf before the catalogue), and none with NotSpecified.
/// </summary>
public sealed class ErrorCategoryTests : IDisposable
{
    private readonly Engine _ps = new();

    /// <summary>The table as it was, copied before the refactor; the ids it mapped to NotSpecified are marked.</summary>
    public static readonly IReadOnlyDictionary<string, ErrorCategory> Expected = new Dictionary<string, ErrorCategory>
    {
        ["TransitionRefused"] = ErrorCategory.InvalidOperation,
        ["MigrationNotSupported"] = ErrorCategory.InvalidOperation,
        ["PeerQuiesceUnsupported"] = ErrorCategory.InvalidOperation,
        ["PreCopyNotSupported"] = ErrorCategory.InvalidOperation,
        ["TransitionFailed"] = ErrorCategory.DeviceError,
        ["DeviceInErrorState"] = ErrorCategory.DeviceError,
        ["VfioCallFailed"] = ErrorCategory.DeviceError,
        ["DeviceGone"] = ErrorCategory.DeviceError,
        ["DeviceLeftInState"] = ErrorCategory.DeviceError,
        ["PeerQuiesceFailed"] = ErrorCategory.OperationStopped,
        ["DeviceNotFound"] = ErrorCategory.ObjectNotFound,
        ["PeerNotFound"] = ErrorCategory.ObjectNotFound,
        ["DeviceBusy"] = ErrorCategory.ResourceBusy,
        ["DeviceInUse"] = ErrorCategory.ResourceBusy,
        ["PermissionDenied"] = ErrorCategory.PermissionDenied,
        ["DeviceExists"] = ErrorCategory.ResourceExists,
        ["InvalidSimulatedDevice"] = ErrorCategory.InvalidArgument,
        ["PeerNotPci"] = ErrorCategory.InvalidArgument,
        ["InvalidFault"] = ErrorCategory.InvalidArgument,
        ["InvalidDeviceName"] = ErrorCategory.InvalidArgument,
        ["InvalidParameterCombination"] = ErrorCategory.InvalidArgument,
        ["PeerWithSeveralDevices"] = ErrorCategory.InvalidArgument,
        ["PeerIsDevice"] = ErrorCategory.InvalidArgument,
        ["SetDeclined"] = ErrorCategory.OperationStopped,
        ["SetRefused"] = ErrorCategory.OperationStopped,
        ["VfioNotAvailable"] = ErrorCategory.NotInstalled,
        ["VfioApiVersion"] = ErrorCategory.NotInstalled,
        ["DeviceNotBound"] = ErrorCategory.ResourceUnavailable,
        ["VfioGroupNotViable"] = ErrorCategory.ResourceUnavailable,
        ["SaveStreamStalled"] = ErrorCategory.OperationTimeout,
        ["SavedButNotMoved"] = ErrorCategory.InvalidResult,
        ["ConfirmationRequired"] = ErrorCategory.OperationStopped,
        ["ImageInvalid"] = ErrorCategory.InvalidData,
        ["ImageChecksumMismatch"] = ErrorCategory.InvalidData,
        ["ImageTruncated"] = ErrorCategory.InvalidData,
        ["ImageVersionUnsupported"] = ErrorCategory.InvalidData,
        ["ImageDeviceMismatch"] = ErrorCategory.InvalidArgument,
        ["ImageSetIncomplete"] = ErrorCategory.InvalidArgument,
        ["ImagePathConflict"] = ErrorCategory.InvalidArgument,
        ["RestoreTargetConflict"] = ErrorCategory.InvalidArgument,
        ["ImageCountMismatch"] = ErrorCategory.InvalidArgument,
        ["ImageExists"] = ErrorCategory.ResourceExists,
        ["ImageNotFound"] = ErrorCategory.ObjectNotFound,
        ["ImageDirectoryNotFound"] = ErrorCategory.ObjectNotFound,
        ["DiskFull"] = ErrorCategory.WriteError,
        ["ImageWriteFailed"] = ErrorCategory.WriteError,
        ["ImageReadFailed"] = ErrorCategory.ReadError,
        ["SaveCancelled"] = ErrorCategory.OperationStopped,
        ["RestoreCancelled"] = ErrorCategory.OperationStopped,
        ["SaveAborted"] = ErrorCategory.OperationStopped,
        ["RestoreAborted"] = ErrorCategory.OperationStopped,
        ["ImagePathIsDirectory"] = ErrorCategory.InvalidArgument,
        ["NotAFileSystemPath"] = ErrorCategory.InvalidArgument,
        ["ImageNotRegularFile"] = ErrorCategory.InvalidArgument,
        ["ImagePathInvalid"] = ErrorCategory.InvalidArgument,
        ["ImageSetOrder"] = ErrorCategory.InvalidArgument,
        ["ImageSetMismatch"] = ErrorCategory.InvalidData,
        ["ImageBusy"] = ErrorCategory.ResourceBusy,
        ["AuditLogUnavailable"] = ErrorCategory.WriteError,
        ["AuditLogUnsafe"] = ErrorCategory.SecurityError,
    };

    /// <summary>
    /// Ids raised before the catalogue that the one-by-one table did not name. ConformanceSuiteMissing and
    /// NotSimulated built their records by hand with these categories; AbandonedSession and NoDataSession fell
    /// through to NotSpecified and get the category of their kind.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, ErrorCategory> Unmapped = new Dictionary<string, ErrorCategory>
    {
        ["ConformanceSuiteMissing"] = ErrorCategory.ObjectNotFound,
        ["NotSimulated"] = ErrorCategory.InvalidOperation,
        ["AbandonedSession"] = ErrorCategory.DeviceError,
        ["NoDataSession"] = ErrorCategory.InvalidOperation,
    };

    private ErrorCategory CategoryOf(string id) =>
        (ErrorCategory)_ps.Ok($"[VfioMigration.PowerShell.Commands.VfioCmdlet]::CategoryOf('{id}')").Single().BaseObject;

    [Fact]
    public void EveryIdKeepsItsCategory()
    {
        foreach (var (id, category) in Expected)
            Assert.True(CategoryOf(id) == category, $"{id}: {CategoryOf(id)}, expected {category}");
    }

    public void Dispose() => _ps.Dispose();
}
