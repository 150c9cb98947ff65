using System.Management.Automation;
using VfioMigration.Inventory;
using VfioMigration.Migration;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Moves devices to a migration state along the planned path. Several devices in one call are one operation:
/// when the target stops them, all are quiesced (RunningP2P, or NDMA on v1) before any stops.
/// </summary>
[Cmdlet(VerbsCommon.Set, "VfioDeviceState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioDevice))]
public sealed class SetVfioDeviceStateCommand : DeviceTargetCmdlet
{
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateSet(nameof(MigrationState.Running), nameof(MigrationState.Stop), nameof(MigrationState.StopCopy), nameof(MigrationState.Resuming),
        nameof(MigrationState.RunningP2P), nameof(MigrationState.PreCopy), nameof(MigrationState.PreCopyP2P))]
    public MigrationState State { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        foreach (var (session, devices) in Targets())
        {
            if (devices.Count == 0) continue;
            var accepted = new List<string>();
            DeviceSetTransition plan;
            try
            {
                plan = session.PlanStates(devices.Select(d => d.Address).ToArray(), State, Force);
            }
            catch (VfioMigrationException e)
            {
                WriteVfioError(e, e.Device);
                continue;
            }
            DrainLog();
            foreach (var w in plan.Warnings) WriteWarning(w);
            foreach (var device in devices)
            {
                string path = Describe(plan, device.Address);
                if (ShouldProcess(device.Address, $"Set migration state {path}")) accepted.Add(device.Address);
            }
            if (accepted.Count == 0) continue;
            if (accepted.Count != devices.Count)
            {
                try { plan = session.PlanStates(accepted, State, Force); }
                catch (VfioMigrationException e) { WriteVfioError(e, e.Device); continue; }
            }
            if (plan.Steps.Count > accepted.Count)
                WriteVerbose($"Quiescing {plan.Steps.Count(s => s.Phase == 1)} device(s) before any stops: {string.Join(", ", plan.Steps.Where(s => s.Phase == 1))}");
            var outcomes = session.Execute(plan, Cancellation, step =>
            {
                DrainLog();
                Cancellation.ThrowIfCancellationRequested();
                WriteVerbose($"{step.Device.Address}: requesting {step.Target} (now {step.From})");
            });
            DrainLog();
            foreach (var o in outcomes)
            {
                if (o.Error is { } e) WriteVfioError(e, Target(session, o.Device.Address));
                else if (PassThru) WriteObject(session.Describe(o.Device.Address));
            }
            DrainLog();
        }
    }

    private static object Target(VfioHostSession session, string address)
    {
        try { return session.Describe(address); } catch (VfioMigrationException) { return address; }
    }

    /// <summary>The whole path one device will take, phases included: "Running -> RunningP2P -> Stop".</summary>
    private static string Describe(DeviceSetTransition plan, string address)
    {
        var steps = plan.Steps.Where(s => s.Device.Address == address).ToArray();
        var states = new List<MigrationState> { steps[0].From };
        foreach (var step in steps)
        {
            var p = step.Device.Plan(step.From, step.Target);
            if (p.IsRefused) return $"{step.From} -> {step.Target} (refused: {p.RefusalReason})";
            states.AddRange(p.Arcs.Select(a => a.To));
        }
        return states.Count == 1 ? $"{states[0]} (no change)" : string.Join(" -> ", states);
    }
}
