using System.Management.Automation;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using VfioMigration.Drivers;
using VfioMigration.Logging;
using VfioMigration.Operations;
using VfioMigration.PowerShell.Errors;
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

    private bool _interrupted;
    private PipelineStoppedException? _stoppedDuringOperation;

    protected override void StopProcessing()
    {
        _interrupted = true;
        _stop.Cancel();
    }

    /// <summary>
    /// A write while the core works (progress, log lines) found the pipeline stopped: Ctrl+C, or a command
    /// downstream that wants no more (Select-Object -First). The core is cancelled rather than torn through, so it
    /// leaves every device in a defined state; <see cref="RethrowIfStoppedDownstream"/> then ends the command.
    /// </summary>
    internal void OnPipelineStopped(PipelineStoppedException e)
    {
        _stoppedDuringOperation ??= e;
        _stop.Cancel();
    }

    /// <summary>
    /// After the core returned: when a command downstream stopped the pipeline, stop now, so the engine ends this
    /// pipeline and the script goes on (swallowing that stop ends the whole script silently). After Ctrl+C the
    /// outcomes are still reported to the host.
    /// </summary>
    protected void RethrowIfStoppedDownstream()
    {
        if (_stoppedDuringOperation is { } e && !_interrupted)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
    }

    private volatile bool _terminated;

    /// <summary>
    /// Treats SIGTERM (what timeout, systemd and cron send) like Ctrl+C while <paramref name="work"/> runs: the
    /// operation is cancelled and cleans up (temporary files deleted, devices returned), its errors are written,
    /// and then the process exits with 143 (128 + SIGTERM), as it would have without us.
    /// </summary>
    protected void RunTerminable(Action work)
    {
        using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            _terminated = true;
            _stop.Cancel();
        }))
        {
            work();
        }
        if (_terminated)
        {
            Host.UI.WriteErrorLine($"{MyInvocation.MyCommand.Name}: terminated by SIGTERM after cleaning up.");
            Environment.Exit(143);
        }
    }

    /// <summary>The session for the simulated host, or for the real one when this host offers VFIO.</summary>
    protected VfioHostSession SessionFor(bool simulated, bool evenWithoutVfio = false)
    {
        if (simulated) return Module.Simulated;
        var session = Module.Real;
        if (RealHost.Unavailable(Module.RealDiscovery) is { } why)
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
            if (entry.EventName is nameof(CoreLog.TransitionFailed) or nameof(CoreLog.TransitionRefused)) { WriteVerbose(entry.Message); continue; }
            switch (entry.Level)
            {
                case LogLevel.Information: WriteVerbose(entry.Message); break;
                case LogLevel.Warning or LogLevel.Error or LogLevel.Critical: WriteWarning(entry.Message); break;
                default: WriteDebug(entry.Message); break;
            }
        }
    }

    /// <summary>Drains the log, tolerating a stopped pipeline (remembered, see <see cref="OnPipelineStopped"/>).</summary>
    protected void DrainLogQuietly()
    {
        try { DrainLog(); }
        catch (PipelineStoppedException e) { OnPipelineStopped(e); }
    }

    protected void WriteVfioError(VfioMigrationException e, object? target)
    {
        // The process exits right after a SIGTERM'd operation, before error records are rendered: say it directly.
        if (_terminated) Host.UI.WriteErrorLine(ErrorRecords.Text(e));
        try
        {
            WriteError(ErrorRecords.For(e, target));
        }
        catch (PipelineStoppedException) when (_interrupted)
        {
            // Ctrl+C: the pipeline takes no more records, but the user must still learn where each device is.
            // (-ErrorAction Stop also ends WriteError with an exception; that error reaches the caller's catch,
            // so nothing may be written here for it.)
            Host.UI.WriteErrorLine(ErrorRecords.Text(e));
            throw;
        }
    }

    /// <summary>A switch that only means something with another one is an error without it, not silently ignored.</summary>
    protected void RequireWith(bool given, string parameter, bool other, string otherParameter)
    {
        if (given && !other)
            ThrowTerminatingError(ErrorRecords.For(new VfioMigrationException(
                $"-{parameter} applies only together with -{otherParameter}; add -{otherParameter} or leave -{parameter} out.", VfioErrors.InvalidParameterCombination), parameter));
    }

    /// <summary>Tells every device of a -Together set that was not acted on why, and the state it is still in.</summary>
    protected void RefuseSet(VfioHostSession session, IEnumerable<string> addresses, string why, VfioError error)
    {
        foreach (var a in addresses)
            WriteVfioError(new VfioMigrationException(
                $"{a}: not changed (still {StateText(session, a)}): {why}; a -Together set changes all of its devices or none.", error, a), a);
    }

    /// <summary>The state a device is in now, for messages; never throws.</summary>
    protected static string StateText(VfioHostSession session, string address)
    {
        try { return session.Migration(address).TryGetState()?.ToString() ?? "in a state that cannot be read"; }
        catch (VfioMigrationException) { return "in a state that cannot be read"; }
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
        // An explicit -Confirm:$false is automation's answer to every question of the call (a cron job that
        // rolls a device back twice must not stop at the second time); without it, the question is asked.
        if (MyInvocation.BoundParameters.TryGetValue("Confirm", out var c) && !LanguagePrimitives.IsTrue(c is SwitchParameter sw ? sw.IsPresent : c)) return true;
        if (noToAll) return false;
        if (ConfirmedThroughShouldProcess) return true;
        try
        {
            // hasSecurityImpact: the default answer is No, since Yes loses state.
            return ShouldContinue(query, caption, true, ref yesToAll, ref noToAll);
        }
        catch (Exception e) when (e is PSInvalidOperationException or System.Management.Automation.Host.HostException or NotImplementedException)
        {
            WriteVfioError(new VfioMigrationException(
                $"{query} This session cannot ask (it is non-interactive); add -Force to go ahead without asking.",
                VfioErrors.ConfirmationRequired, device, e), device);
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

    /// <summary>A file-system path for a file about to be written, or null after a (non-terminating) error; other providers are refused.</summary>
    protected string? FileToWrite(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            WriteVfioError(new VfioMigrationException($"'{path}' is not a file name: an image path must not be empty or blank.", VfioErrors.ImagePathInvalid), path);
            return null;
        }
        string resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
        if (provider.Name != "FileSystem")
            ThrowTerminatingError(ErrorRecords.For(new VfioMigrationException($"'{path}' is on the {provider.Name} provider; images are files, so use a file-system path.", VfioErrors.NotAFileSystemPath), path));
        return resolved;
    }

    /// <summary>
    /// The files a path names, through the PowerShell provider: with <paramref name="literal"/> the one file it
    /// names (whether it exists is the reader's to say), else the existing items its wildcards match. A pattern
    /// that matches nothing is <c>ImageNotFound</c>, a blank name <c>ImagePathInvalid</c> (both non-terminating).
    /// </summary>
    protected IReadOnlyList<string> FilesToRead(string path, bool literal = false)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            WriteVfioError(new VfioMigrationException($"'{path}' is not a file name: an image path must not be empty or blank.", VfioErrors.ImagePathInvalid), path);
            return Array.Empty<string>();
        }
        try
        {
            ProviderInfo provider;
            IReadOnlyList<string> resolved;
            if (literal || !WildcardPattern.ContainsWildcardCharacters(path))
            {
                var one = SessionState.Path.GetUnresolvedProviderPathFromPSPath(literal ? path : WildcardPattern.Unescape(path), out provider, out _);
                resolved = new[] { one };
            }
            else resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(path, out provider);
            if (provider.Name != "FileSystem")
                ThrowTerminatingError(ErrorRecords.For(new VfioMigrationException($"'{path}' is on the {provider.Name} provider; images are files.", VfioErrors.NotAFileSystemPath), path));
            if (resolved.Count == 0)
                WriteVfioError(new VfioMigrationException($"No image file matches '{path}'.", VfioErrors.ImageNotFound), path);
            return resolved;
        }
        catch (ItemNotFoundException)
        {
            WriteVfioError(new VfioMigrationException($"No image file matches '{path}'.", VfioErrors.ImageNotFound), path);
            return Array.Empty<string>();
        }
        catch (Exception e) when (e is SessionStateException or ArgumentException or NotSupportedException)
        {
            WriteVfioError(new VfioMigrationException($"'{path}' is not a usable path: {e.Message}", VfioErrors.ImagePathInvalid, null, e), path);
            return Array.Empty<string>();
        }
    }

    /// <summary>
    /// Whether a path names an existing file as it is. A path that came down the pipeline from an object (an image's
    /// Path) is meant literally when it does, even if it has wildcard characters such as brackets.
    /// </summary>
    protected bool ExistsLiterally(string path)
    {
        try
        {
            var full = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
            return provider.Name == "FileSystem" && (File.Exists(full) || Directory.Exists(full));
        }
        catch (Exception e) when (e is SessionStateException or ArgumentException or NotSupportedException) { return false; }
    }

    /// <summary>Resolves name patterns against a session's devices; a literal name that matches nothing is an error.</summary>
    protected IReadOnlyList<DeviceIdentity> Resolve(VfioHostSession session, IEnumerable<string> patterns, bool includeCandidates = false)
    {
        var all = session.Enumerate(includeCandidates);
        var found = new List<DeviceIdentity>();
        foreach (var pattern in patterns)
            found.AddRange(Resolve(session, all, pattern).Where(m => !found.Contains(m)));
        return found;
    }

    /// <summary>
    /// The devices one name or wildcard pattern matches. A literal name that matches nothing, and a pattern that is
    /// not a valid wildcard, are errors for that name only.
    /// </summary>
    protected IReadOnlyList<DeviceIdentity> Resolve(VfioHostSession session, IReadOnlyList<DeviceIdentity> all, string pattern)
    {
        string where = session.Backend.IsSimulated ? "simulated " : "";
        string list = $"Get-VfioDevice{(session.Backend.IsSimulated ? " -Simulated" : "")} lists the devices there are";
        DeviceIdentity[] matches;
        try
        {
            var wildcard = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase);
            matches = all.Where(d => wildcard.IsMatch(d.Address)).ToArray();
        }
        catch (WildcardPatternException e)
        {
            WriteVfioError(new VfioMigrationException(
                $"'{pattern}' is neither a device name nor a valid wildcard pattern ({e.Message.TrimEnd('.')}); {list}.", VfioErrors.InvalidDeviceName, pattern, e), pattern);
            return Array.Empty<DeviceIdentity>();
        }
        if (matches.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(pattern))
            WriteVfioError(new VfioMigrationException($"No {where}VFIO device at '{pattern}'. {list}.", VfioErrors.DeviceNotFound, pattern), pattern);
        return matches;
    }

    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
