using System.Management.Automation;
using VfioMigration.PowerShell.Errors;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// A refusal that ends the command. pwsh treats a cmdlet's ThrowTerminatingError as statement-terminating, which
/// <c>-ErrorAction Stop</c> does not escalate: the script's next line runs and it exits 0. Under
/// <c>-ErrorAction Stop</c> the record is therefore written as an error, which pwsh escalates to stop the script;
/// otherwise it ends the statement as before. Every refusal that ends a command goes through here (a source test
/// fails on any other ThrowTerminatingError call).
/// </summary>
internal static class Refusal
{
    /// <summary>Ends the command with <paramref name="record"/>; a cron job's <c>-ErrorAction Stop</c> stops the script.</summary>
    public static void Terminate(this PSCmdlet cmdlet, ErrorRecord record)
    {
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue("ErrorAction", out var action)
            && LanguagePrimitives.TryConvertTo<ActionPreference>(action, out var preference) && preference == ActionPreference.Stop)
            cmdlet.WriteError(record); // throws ActionPreferenceStopException, which stops the script
        cmdlet.ThrowTerminatingError(record);
    }

    /// <summary>Ends the command with the record for <paramref name="e"/> about <paramref name="target"/>.</summary>
    public static void Terminate(this PSCmdlet cmdlet, VfioMigrationException e, object? target) => cmdlet.Terminate(ErrorRecords.For(e, target));

    /// <summary>
    /// ShouldProcess, except that a host that cannot ask (pwsh -NonInteractive, a runspace without a UI) gets the
    /// module's <c>ConfirmationRequired</c> error for this target, saying how to go ahead, instead of the engine's
    /// prompt failure ending the whole command; returns false then.
    /// </summary>
    public static bool ShouldProcessOrRefuse(this VfioCmdlet cmdlet, string target, string action)
    {
        try
        {
            // The question shows file names and typed values: escaped, like every message (DisplayText).
            return cmdlet.ShouldProcess(DisplayText.Escape(target), DisplayText.Escape(action));
        }
        catch (Exception e) when (e is PSInvalidOperationException or System.Management.Automation.Host.HostException or NotImplementedException)
        {
            cmdlet.WriteVfioError(new VfioMigrationException(
                $"{target}: '{action}' needs confirmation, and this session cannot ask (it is non-interactive).",
                VfioErrors.ConfirmationRequired, target, e), target);
            return false;
        }
    }
}
