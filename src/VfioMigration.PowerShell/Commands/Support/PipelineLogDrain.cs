using System.Management.Automation;
using VfioMigration.Logging;
using VfioMigration.PowerShell.Session;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// The core's log, written onto a cmdlet's pipeline streams (verbose, warning, debug) on the pipeline thread,
/// by the cmdlets that run core operations (the core logs from any thread into <see cref="ModuleState.Log"/>).
/// </summary>
internal static class PipelineLogDrain
{
    /// <summary>Writes what the core logged since the last call, on the pipeline thread.</summary>
    public static void DrainLog(this VfioCmdlet cmdlet)
    {
        while (ModuleState.Current.Log.TryDequeue(out var entry))
        {
            // A refused or failed transition reaches the user as an error record; its log line is detail.
            if (entry.EventName is nameof(CoreLog.TransitionFailed) or nameof(CoreLog.TransitionRefused)) { cmdlet.WriteVerbose(entry.Message); continue; }
            switch (entry.Severity)
            {
                case LogSeverity.Information: cmdlet.WriteVerbose(entry.Message); break;
                case LogSeverity.Warning or LogSeverity.Error or LogSeverity.Critical: cmdlet.WriteWarning(entry.Message); break;
                default: cmdlet.WriteDebug(entry.Message); break;
            }
        }
    }

    /// <summary>Drains the log, tolerating a stopped pipeline (remembered, see <see cref="VfioCmdlet.OnPipelineStopped"/>).</summary>
    public static void DrainLogQuietly(this VfioCmdlet cmdlet)
    {
        try { cmdlet.DrainLog(); }
        catch (PipelineStoppedException e) { cmdlet.OnPipelineStopped(e); }
    }
}
