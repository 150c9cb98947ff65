using System.Management.Automation;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// The extra question (ShouldContinue) that Reset and Restore ask before state of value is lost.
/// </summary>
internal static class LossConfirmation
{
    /// <summary>
    /// The extra question before something of value is lost (ShouldContinue), asked only when it is needed:
    /// never with -Force, never a second time for a device the user just confirmed through -Confirm, with
    /// "Yes to All" over several devices. A host that cannot ask (pwsh -NonInteractive, a runspace without a UI)
    /// gets an error that says how to go ahead, instead of the engine's exception.
    /// </summary>
    public static bool ConfirmLoss(this VfioCmdlet cmdlet, bool force, string device, string query, string caption, ref bool yesToAll, ref bool noToAll)
    {
        if (force || yesToAll) return true;
        // An explicit -Confirm:$false is automation's answer to every question of the call (a cron job that
        // rolls a device back twice must not stop at the second time); without it, the question is asked.
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue("Confirm", out var c) && !LanguagePrimitives.IsTrue(c is SwitchParameter sw ? sw.IsPresent : c)) return true;
        if (noToAll) return false;
        if (ConfirmedThroughShouldProcess(cmdlet)) return true;
        try
        {
            // hasSecurityImpact: the default answer is No, since Yes loses state.
            return cmdlet.ShouldContinue(query, caption, true, ref yesToAll, ref noToAll);
        }
        catch (Exception e) when (e is PSInvalidOperationException or System.Management.Automation.Host.HostException or NotImplementedException)
        {
            cmdlet.WriteVfioError(new VfioMigrationException(
                $"{query} This session cannot ask (it is non-interactive); -Force skips this question too.",
                VfioErrors.ConfirmationRequired, device, e), device);
            return false;
        }
    }

    /// <summary>Whether ShouldProcess asked the user about each item already (-Confirm, or $ConfirmPreference).</summary>
    private static bool ConfirmedThroughShouldProcess(VfioCmdlet cmdlet)
    {
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue("Confirm", out var c))
            return c is SwitchParameter sw ? sw.IsPresent : LanguagePrimitives.IsTrue(c);
        var preference = cmdlet.SessionState.PSVariable.GetValue("ConfirmPreference");
        return preference is ConfirmImpact p && p != ConfirmImpact.None && p <= ConfirmImpact.Medium;
    }
}
