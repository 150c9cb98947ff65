using System.Management.Automation;
using VfioMigration.Drivers;
using VfioMigration.Operations;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// A cmdlet that can act on its devices as one set (-Together): Set-, Save- and Restore-VfioDeviceState. It
/// declares the parameters they share and tells every member of a set that was not acted on why.
/// </summary>
/// <remarks>
/// What -Together and -PassThru mean differs per cmdlet (a state change, a save, a restore), so their help
/// descriptions live in each cmdlet's MAML help (en-US/VfioMigration.PowerShell.dll-Help.xml), which
/// tools/Update-ModuleHelp.ps1 keeps where a property has no summary.
/// </remarks>
public abstract class DeviceSetCmdlet : DeviceTargetCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Together { get; set; }

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
        try
        {
            var device = session.Migration(address);
            return device.TryGetState()?.ToString() ?? (device.Protocol == Protocol.MigrationProtocol.None ? "without migration state" : "in a state that cannot be read");
        }
        catch (VfioMigrationException) { return "in a state that cannot be read"; }
    }

    /// <summary>
    /// Runs a save or restore of <paramref name="addresses"/> with progress, then writes each device's outcome: its
    /// error, or with -PassThru what <paramref name="passThru"/> makes of it. A stopped pipeline downstream ends
    /// the command only after the core has left every device in a defined state.
    /// </summary>
    protected void Transfer(string verb, IReadOnlyList<string> addresses, Func<IProgress<SaveProgress>, IReadOnlyList<DeviceOutcome>> run,
        Func<DeviceOutcome, object?> passThru)
    {
        if (addresses.Count == 0) return;
        var progress = new TransferProgress(this, verb, addresses);
        IReadOnlyList<DeviceOutcome>? outcomes = null;
        try
        {
            outcomes = run(progress);
        }
        finally
        {
            progress.Complete(outcomes);
        }
        this.DrainLogQuietly();
        RethrowIfStoppedDownstream();
        foreach (var o in outcomes)
        {
            if (o.Error is { } e) WriteVfioError(e, o.Address);
            else
            {
                if (Cancellation.IsCancellationRequested)
                    ReportDone($"{o.Address} {(verb == "Saving" ? "saved to" : "restored from")} {o.Image?.Path}, the device is in {o.StateNow?.ToString() ?? "a state that could not be read"}");
                if (PassThru && passThru(o) is { } output) WriteObject(output);
            }
        }
    }
}
