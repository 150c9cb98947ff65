using System.Management.Automation;

namespace VfioMigration.PowerShell.Errors;

/// <summary>
/// Every ErrorRecord the module writes is built here: the catalogue id as its id, the category of the error's
/// kind, and the remedy worded with the module's cmdlets and switches as <c>ErrorDetails.RecommendedAction</c>
/// (pwsh's default ConciseView shows it as a "Recommendation:" line under the message).
/// </summary>
public static class ErrorRecords
{
    /// <summary>The record for <paramref name="e"/> about <paramref name="target"/> (else its device); <paramref name="recommendedAction"/> replaces the advice of its remedy.</summary>
    public static ErrorRecord For(VfioMigrationException e, object? target, string? recommendedAction = null)
    {
        var record = new ErrorRecord(e, e.ErrorId, CategoryOf(e.Kind), target ?? e.Device);
        // What the host shows: a file name, a /proc name or a typed value inside the message may carry terminal
        // escapes or line breaks; the exception keeps the message as it was built.
        string shown = DisplayText.Escape(e.Message);
        var action = recommendedAction ?? RecommendedAction(e);
        if (action is not null || shown != e.Message)
            record.ErrorDetails = new ErrorDetails(shown) { RecommendedAction = action };
        return record;
    }

    /// <summary>The message with its recommended action, for the host's error line when no record can be written.</summary>
    public static string Text(VfioMigrationException e) => DisplayText.Escape(RecommendedAction(e) is { } action ? $"{e.Message} {action}" : e.Message);

    /// <summary>One category per kind; a kind added to the core without a category here fails the catalogue test.</summary>
    public static ErrorCategory CategoryOf(ErrorKind kind) => kind switch
    {
        ErrorKind.Refused => ErrorCategory.InvalidOperation,
        ErrorKind.DeviceFailure => ErrorCategory.DeviceError,
        ErrorKind.NotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.Busy => ErrorCategory.ResourceBusy,
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.Exists => ErrorCategory.ResourceExists,
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.NotInstalled => ErrorCategory.NotInstalled,
        ErrorKind.Unavailable => ErrorCategory.ResourceUnavailable,
        ErrorKind.Timeout => ErrorCategory.OperationTimeout,
        ErrorKind.Cancelled or ErrorKind.Declined or ErrorKind.Aborted => ErrorCategory.OperationStopped,
        ErrorKind.PartlyDone => ErrorCategory.InvalidResult,
        ErrorKind.WriteFailed => ErrorCategory.WriteError,
        ErrorKind.ReadFailed => ErrorCategory.ReadError,
        ErrorKind.Security => ErrorCategory.SecurityError,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>What the user can do, in the module's words; null when there is nothing to add to the message.</summary>
    public static string? RecommendedAction(VfioMigrationException e) =>
        Wording(e.Remedy) ?? (e.Error == VfioErrors.PermissionDenied && DeviceCaused(e) ? "Run as root, or give your user access to /dev/vfio/* (udev rule or group)." : null);

    /// <summary>A remedy in the module's words (the cmdlet or switch that applies it); null for <see cref="ErrorRemedy.None"/>.</summary>
    public static string? Wording(ErrorRemedy remedy) => remedy switch
    {
        ErrorRemedy.ResetDevice => "Reset-VfioDevice returns the device to Running.",
        ErrorRemedy.ReleaseDevice => "No VFIO reset can help this device: close it (Remove-Module VfioMigration, or end this PowerShell session) so its driver starts it afresh when it is opened again, or unbind and rebind its driver.",
        ErrorRemedy.ReplaceFile => "Use -Force to replace it.",
        ErrorRemedy.OverrideIdentityCheck => "-SkipIdentityCheck goes ahead anyway, unless the protocol differs.",
        ErrorRemedy.OverrideIdentityAndSetChecks => "-SkipIdentityCheck and -SkipSetCheck together restore the images as given (neither alone is enough), unless the protocol differs.",
        ErrorRemedy.OverrideSetCheck => "-SkipSetCheck restores the images as given, without the set check.",
        // Named with its cmdlets: Test-VfioMigration -Together gives this remedy too, and has no such switch.
        ErrorRemedy.OverrideQuiesceCheck => "-SkipQuiesceCheck (on Set-VfioDeviceState and Save-VfioDeviceState with -Together) goes ahead with the set and accepts the risk.",
        ErrorRemedy.SaveStopped => "Save without -Live.",
        ErrorRemedy.AnswerWithoutAsking => "Add -Confirm:$false to go ahead without asking: it answers every question of the command.",
        _ => null,
    };

    /// <summary>Whether an error started at a device (its first raiser named one) rather than at a file.</summary>
    private static bool DeviceCaused(VfioMigrationException e)
    {
        while (e.InnerException is VfioMigrationException inner && inner.Error == e.Error) e = inner;
        return e.Device is not null;
    }
}
