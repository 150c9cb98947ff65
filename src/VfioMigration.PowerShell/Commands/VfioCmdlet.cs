using System.Management.Automation;
using System.Runtime.InteropServices;
using VfioMigration.Operations;
using VfioMigration.PowerShell.Errors;
using VfioMigration.PowerShell.Session;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// What every cmdlet of the module shares: Ctrl+C (and SIGTERM) as a cancellation token, the session for the real
/// or simulated host, and errors with stable ids and categories. What only some cmdlets need lives in types of its
/// own: <see cref="PipelineLogDrain"/>, <see cref="DeviceNames"/>, <see cref="ImagePaths"/>,
/// <see cref="LossConfirmation"/>, <see cref="ParameterCombination"/>, <see cref="DeviceSetCmdlet"/>.
/// </summary>
public abstract class VfioCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    protected CancellationToken Cancellation => _stop.Token;
    protected ModuleState Module => ModuleState.Current;

    private bool _interrupted;
    private PipelineStoppedException? _stoppedDuringOperation;

    private HashSet<string> _checkedAtBegin = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Checks the values bound from the command line (<see cref="ArgumentChecks"/>): a refused one ends the command,
    /// and under <c>-ErrorAction Stop</c> the script. Then <see cref="Begin"/>.
    /// </summary>
    protected sealed override void BeginProcessing()
    {
        _checkedAtBegin = new HashSet<string>(MyInvocation.BoundParameters.Keys, StringComparer.OrdinalIgnoreCase);
        if (ArgumentChecks.Refusal(this, _checkedAtBegin) is { } refused) this.Terminate(refused, null);
        Begin();
    }

    /// <summary>
    /// Checks the values bound from this pipeline object: a refused one is an error for this object alone, as pwsh's
    /// own pipeline binding errors are. Then <see cref="Process"/>.
    /// </summary>
    protected sealed override void ProcessRecord()
    {
        var fromPipeline = MyInvocation.BoundParameters.Keys.Where(k => !_checkedAtBegin.Contains(k));
        if (ArgumentChecks.Refusal(this, fromPipeline) is { } refused)
        {
            WriteVfioError(refused, null);
            return;
        }
        Process();
    }

    /// <summary>The cmdlet's BeginProcessing, after the command line's values were checked.</summary>
    protected virtual void Begin() { }

    /// <summary>The cmdlet's ProcessRecord, after this pipeline object's values were checked.</summary>
    protected virtual void Process() { }

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
    private string _signal = "";
    private int _exitCode;
    private readonly List<string> _completedAnyway = new();

    /// <summary>
    /// Treats SIGTERM (what timeout, systemd and cron send) and SIGHUP (a closed terminal or SSH session) like
    /// Ctrl+C while <paramref name="work"/> runs: the operation is cancelled and cleans up (temporary and lock
    /// files deleted, devices returned), its errors are written, and then the process exits with 128 + the
    /// signal (143, 129), as it would have without us. What had passed its commit point when the signal came
    /// (<see cref="ReportDone"/>) is complete and said to be, never said to be cleaned up.
    /// </summary>
    protected void RunTerminable(Action work)
    {
        using (Terminates(PosixSignal.SIGTERM, "SIGTERM", 143))
        using (Terminates(PosixSignal.SIGHUP, "SIGHUP", 129))
        {
            try
            {
                work();
            }
            catch (Exception e) when (_terminated)
            {
                // Whatever ends the work after the signal (a refusal under -ErrorAction Stop), the exit code is the
                // signal's; errors of the module were already said directly (WriteVfioError).
                if (e is VfioMigrationException v) Host.UI.WriteErrorLine(ErrorRecords.Text(v));
                else if (e is not (ActionPreferenceStopException or PipelineStoppedException))
                    Host.UI.WriteErrorLine($"{MyInvocation.MyCommand.Name}: {DisplayText.Escape(e.Message)}");
            }
        }
        if (_terminated)
        {
            string name = MyInvocation.MyCommand.Name;
            Host.UI.WriteErrorLine(_completedAnyway.Count == 0
                ? $"{name}: terminated by {_signal} after cleaning up."
                : $"{name}: terminated by {_signal}; what was already complete when it came stays done: {string.Join("; ", _completedAnyway)}. Anything else was cleaned up.");
            Environment.Exit(_exitCode);
        }
    }

    private PosixSignalRegistration Terminates(PosixSignal signal, string name, int exitCode) =>
        PosixSignalRegistration.Create(signal, ctx =>
        {
            ctx.Cancel = true;
            lock (_completedAnyway)
            {
                if (_terminated) return;
                _signal = name;
                _exitCode = exitCode;
                _terminated = true;
            }
            _stop.Cancel();
        });

    /// <summary>
    /// An operation that completed (it had passed its commit point) although Ctrl+C or a signal came while it
    /// ran: the user learns it is done, since no output object reaches them after that.
    /// </summary>
    protected internal void ReportDone(string what)
    {
        what = DisplayText.Escape(what);
        if (_terminated) { lock (_completedAnyway) _completedAnyway.Add(what); }
        else if (_interrupted) Host.UI.WriteErrorLine($"{MyInvocation.MyCommand.Name}: Ctrl+C came too late to undo this, so it is complete: {what}.");
    }

    /// <summary>The session for the simulated host, or for the real one when this host offers VFIO.</summary>
    protected VfioHostSession SessionFor(bool simulated, bool evenWithoutVfio = false)
    {
        if (simulated) return Module.Simulated;
        var session = Module.Real;
        if (RealHost.Unavailable(Module.RealDiscovery) is { } why)
        {
            if (!evenWithoutVfio || !OperatingSystem.IsLinux()) this.Terminate(RealHost.NotAvailableError(why));
            WriteWarning($"{why}; listing PCI devices as candidates only.");
        }
        return session;
    }

    protected internal void WriteVfioError(VfioMigrationException e, object? target)
    {
        // The process exits right after a SIGTERM'd operation: say it directly, once. A record as well would be
        // rendered too, or not, depending on the race with the exit; and under -ErrorAction Stop it would throw
        // out of the cleanup (newuser finding 1). Nobody can read $Error or -ErrorVariable after the exit anyway.
        if (_terminated)
        {
            Host.UI.WriteErrorLine(ErrorRecords.Text(e));
            return;
        }
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


    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
