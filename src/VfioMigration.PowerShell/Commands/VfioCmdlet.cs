using System.Management.Automation;
using Microsoft.Extensions.Logging;
using VfioMigration.Inventory;
using VfioMigration.PowerShell.Session;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// What every cmdlet of the module shares: Ctrl+C as a cancellation token, the core's log drained onto the
/// pipeline streams, the session for the real or simulated host, and errors with stable ids and categories.
/// </summary>
public abstract class VfioCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    protected CancellationToken Cancellation => _stop.Token;
    protected ModuleState Module => ModuleState.Current;

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>The session for the simulated host, or for the real one when this host offers VFIO.</summary>
    protected VfioHostSession SessionFor(bool simulated, bool evenWithoutVfio = false)
    {
        if (simulated) return Module.Simulated;
        var session = Module.Real;
        if (RealHost.Unavailable(((Linux.LinuxBackend)session.Backend).Discovery) is { } why)
        {
            if (!evenWithoutVfio || !OperatingSystem.IsLinux()) ThrowTerminatingError(RealHost.NotAvailableError(why));
            WriteWarning($"{why}; listing PCI devices as candidates only.");
        }
        return session;
    }

    /// <summary>Writes what the core logged since the last call, on the pipeline thread.</summary>
    protected void DrainLog()
    {
        while (Module.Log.TryDequeue(out var entry))
        {
            // A refused or failed transition reaches the user as an error record; its log line is detail.
            if (entry.EventId is 1003 or 1004) { WriteVerbose(entry.Message); continue; }
            switch (entry.Level)
            {
                case LogLevel.Information: WriteVerbose(entry.Message); break;
                case LogLevel.Warning or LogLevel.Error or LogLevel.Critical: WriteWarning(entry.Message); break;
                default: WriteDebug(entry.Message); break;
            }
        }
    }

    /// <summary>Drains the log, tolerating a pipeline that Ctrl+C has stopped.</summary>
    protected void DrainLogQuietly()
    {
        try { DrainLog(); }
        catch (PipelineStoppedException) { }
    }

    protected void WriteVfioError(VfioMigrationException e, object? target)
    {
        try
        {
            WriteError(ErrorFor(e, target));
        }
        catch (PipelineStoppedException) when (Cancellation.IsCancellationRequested)
        {
            // Ctrl+C: the pipeline takes no more records, but the user must still learn where each device is.
            // (-ErrorAction Stop also ends WriteError with an exception; that error reaches the caller's catch,
            // so nothing may be written here for it.)
            Host.UI.WriteErrorLine(e.Message);
            throw;
        }
    }

    /// <summary>
    /// The extra question before something of value is lost (ShouldContinue), asked only when it is needed:
    /// never with -Force, never a second time for a device the user just confirmed through -Confirm, with
    /// "Yes to All" over several devices. A host that cannot ask (pwsh -NonInteractive, a runspace without a UI)
    /// gets an error that says how to go ahead, instead of the engine's exception.
    /// </summary>
    protected bool ConfirmLoss(bool force, string device, string query, string caption, ref bool yesToAll, ref bool noToAll)
    {
        if (force || yesToAll) return true;
        if (noToAll) return false;
        if (ConfirmedThroughShouldProcess) return true;
        try
        {
            return ShouldContinue(query, caption, false, ref yesToAll, ref noToAll);
        }
        catch (Exception e) when (e is PSInvalidOperationException or System.Management.Automation.Host.HostException or NotImplementedException)
        {
            WriteVfioError(new VfioMigrationException(
                $"{query} This session cannot ask (it is non-interactive); add -Force to go ahead without asking.",
                "ConfirmationRequired", device, e), device);
            return false;
        }
    }

    /// <summary>Whether ShouldProcess asked the user about each item already (-Confirm, or $ConfirmPreference).</summary>
    private bool ConfirmedThroughShouldProcess
    {
        get
        {
            if (MyInvocation.BoundParameters.TryGetValue("Confirm", out var c))
                return c is SwitchParameter sw ? sw.IsPresent : LanguagePrimitives.IsTrue(c);
            var preference = SessionState.PSVariable.GetValue("ConfirmPreference");
            return preference is ConfirmImpact p && p != ConfirmImpact.None && p <= ConfirmImpact.Medium;
        }
    }

    /// <summary>A file-system path for a file about to be written; other providers are refused.</summary>
    protected string FileToWrite(string path)
    {
        string resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
        if (provider.Name != "FileSystem")
            ThrowTerminatingError(new ErrorRecord(new VfioMigrationException($"'{path}' is on the {provider.Name} provider; images are files, so use a file-system path.", "NotAFileSystemPath"),
                "NotAFileSystemPath", ErrorCategory.InvalidArgument, path));
        return resolved;
    }

    /// <summary>Existing files matching a path (wildcards allowed); a path that matches nothing is an error.</summary>
    protected IReadOnlyList<string> FilesToRead(string path)
    {
        try
        {
            var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(path, out var provider);
            if (provider.Name != "FileSystem")
                ThrowTerminatingError(new ErrorRecord(new VfioMigrationException($"'{path}' is on the {provider.Name} provider; images are files.", "NotAFileSystemPath"),
                    "NotAFileSystemPath", ErrorCategory.InvalidArgument, path));
            return resolved;
        }
        catch (ItemNotFoundException)
        {
            WriteVfioError(new VfioMigrationException($"No image file matches '{path}'.", "ImageNotFound"), path);
            return Array.Empty<string>();
        }
    }

    public static ErrorRecord ErrorFor(VfioMigrationException e, object? target)
    {
        var record = new ErrorRecord(e, e.ErrorId, CategoryOf(e.ErrorId), target ?? e.Device);
        if (e.ErrorId == "PermissionDenied")
            record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = "Run as root, or give your user access to /dev/vfio/* (udev rule or group)." };
        else if (e.ErrorId == "DeviceInErrorState")
            record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = "Reset-VfioDevice returns the device to Running." };
        return record;
    }

    public static ErrorCategory CategoryOf(string errorId) => errorId switch
    {
        "TransitionRefused" or "MigrationNotSupported" or "PeerQuiesceUnsupported" or "PreCopyNotSupported" => ErrorCategory.InvalidOperation,
        "TransitionFailed" or "DeviceInErrorState" or "VfioCallFailed" or "DeviceGone" or "DeviceLeftInState" => ErrorCategory.DeviceError,
        "PeerQuiesceFailed" => ErrorCategory.OperationStopped,
        "DeviceNotFound" or "PeerNotFound" => ErrorCategory.ObjectNotFound,
        "DeviceBusy" or "DeviceInUse" => ErrorCategory.ResourceBusy,
        "PermissionDenied" => ErrorCategory.PermissionDenied,
        "DeviceExists" => ErrorCategory.ResourceExists,
        "InvalidSimulatedDevice" or "PeerNotPci" or "InvalidFault" or "PeerWithSeveralDevices" or "PeerIsDevice" => ErrorCategory.InvalidArgument,
        "VfioNotAvailable" or "VfioApiVersion" => ErrorCategory.NotInstalled,
        "DeviceNotBound" or "VfioGroupNotViable" => ErrorCategory.ResourceUnavailable,
        "SaveStreamStalled" => ErrorCategory.OperationTimeout,
        "SavedButNotMoved" => ErrorCategory.InvalidResult,
        "ConfirmationRequired" => ErrorCategory.OperationStopped,
        "ImageInvalid" or "ImageChecksumMismatch" or "ImageTruncated" or "ImageVersionUnsupported" => ErrorCategory.InvalidData,
        "ImageDeviceMismatch" or "ImageSetIncomplete" or "ImagePathConflict" or "RestoreTargetConflict" or "ImageCountMismatch" => ErrorCategory.InvalidArgument,
        "ImageExists" => ErrorCategory.ResourceExists,
        "ImageNotFound" or "ImageDirectoryNotFound" => ErrorCategory.ObjectNotFound,
        "DiskFull" or "ImageWriteFailed" => ErrorCategory.WriteError,
        "ImageReadFailed" => ErrorCategory.ReadError,
        "SaveCancelled" or "RestoreCancelled" or "SaveAborted" or "RestoreAborted" => ErrorCategory.OperationStopped,
        "ImagePathIsDirectory" or "NotAFileSystemPath" => ErrorCategory.InvalidArgument,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>Resolves address patterns against a session's devices; a literal address that matches nothing is an error.</summary>
    protected IReadOnlyList<DeviceIdentity> Resolve(VfioHostSession session, IEnumerable<string> patterns, bool includeCandidates = false)
    {
        var all = session.Enumerate(includeCandidates);
        var found = new List<DeviceIdentity>();
        foreach (var pattern in patterns)
        {
            var wildcard = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase);
            var matches = all.Where(d => wildcard.IsMatch(d.Address)).ToArray();
            if (matches.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
                WriteVfioError(new VfioMigrationException(
                    $"No {(session.Backend.IsSimulated ? "simulated " : "")}VFIO device at '{pattern}'. Get-VfioDevice{(session.Backend.IsSimulated ? " -Simulated" : "")} lists the devices there are.",
                    "DeviceNotFound", pattern), pattern);
            found.AddRange(matches.Where(m => !found.Contains(m)));
        }
        return found;
    }

    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
