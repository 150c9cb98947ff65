using System.Management.Automation;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Moves devices to a migration state along the planned path. Each device is its own operation unless
/// -Together: then the devices are one set, and when the target stops them all are quiesced (RunningP2P, or NDMA
/// on v1) before any stops. A device that cannot take part gets its own error and never holds up the others.
/// </summary>
[Cmdlet(VerbsCommon.Set, "VfioDeviceState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioDevice))]
public sealed class SetVfioDeviceStateCommand : QuiescingSetCmdlet
{
    [Parameter(Mandatory = true, Position = 1)]
    [Binding.OneName(typeof(MigrationState), nameof(MigrationState.Running), nameof(MigrationState.Stop), nameof(MigrationState.StopCopy), nameof(MigrationState.Resuming),
        nameof(MigrationState.RunningP2P), nameof(MigrationState.PreCopy), nameof(MigrationState.PreCopyP2P))]
    public MigrationState State { get; set; }

    protected override void EndProcessing() => RunTerminable(EndProcessingCore);

    private void EndProcessingCore()
    {
        foreach (var (session, devices) in Targets())
        {
            var able = new List<string>();
            VfioMigrationException? firstUnable = null;
            foreach (var device in devices)
            {
                if (CannotTakePart(session, device.Address) is { } why) { WriteVfioError(why, device.Address); firstUnable ??= why; }
                else able.Add(device.Address);
            }
            this.DrainLog();
            if (Together)
            {
                // A set changes all of its devices or none: a member that cannot take part holds up the set.
                if (firstUnable is not null) RefuseSet(session, able, $"{firstUnable.Device} cannot take part ({firstUnable.ErrorId})", VfioErrors.SetRefused);
                else ChangeTogether(session, able, isSet: true);
            }
            else
            {
                WarnIfStoppedOneByOne(able.Count, State);
                foreach (var address in able)
                {
                    if (Cancellation.IsCancellationRequested) return;
                    ChangeTogether(session, new[] { address }, isSet: false);
                }
            }
        }
    }

    /// <summary>Why a device cannot be part of any state change: not migratable, not openable. Null when it can.</summary>
    private VfioMigrationException? CannotTakePart(VfioHostSession session, string address)
    {
        try
        {
            var m = session.Migration(address);
            if (m.Protocol == MigrationProtocol.None)
                return new VfioMigrationException($"{address}: cannot change state to {State}: {NoMigrationDriver.Explanation}.", VfioErrors.MigrationNotSupported, address);
            return null;
        }
        catch (VfioMigrationException e) { return e; }
    }

    private void WarnIfStoppedOneByOne(int count, MigrationState target)
    {
        if (count > 1 && QuiesceRules.StopsDevice(target))
            WriteWarning($"Stopping {count} devices one at a time. If they belong to one VM and can DMA into each other, use -Together, so that all quiesce before any stops.");
    }

    /// <summary>One operation over these devices: ShouldProcess per device, then the planned change.</summary>
    private void ChangeTogether(VfioHostSession session, IReadOnlyList<string> addresses, bool isSet)
    {
        if (addresses.Count == 0) return;
        DeviceSetTransition plan;
        try
        {
            plan = session.PlanStates(addresses, State, SkipQuiesceCheck);
        }
        catch (VfioMigrationException e)
        {
            this.DrainLog();
            // A set that cannot be planned is refused as a whole: every device of it learns why and stays as it is.
            foreach (var a in addresses)
                WriteVfioError(a.Equals(e.Device, StringComparison.OrdinalIgnoreCase) || addresses.Count == 1 ? e
                    : new VfioMigrationException($"{a}: not changed (still {StateText(session, a)}): {e.Message}", e.Error, a, e, e.Remedy), Target(session, a));
            return;
        }
        this.DrainLog();
        if (isSet && plan.Steps.FirstOrDefault(st => st.Device.Plan(st.From, st.Target).IsRefused) is { } refused)
        {
            // Checked before any device moves, so no member changes alone.
            var p = refused.Device.Plan(refused.From, refused.Target);
            var address = refused.Device.Address;
            WriteVfioError(new VfioMigrationException(
                $"{address}: cannot change state from {refused.From} to {refused.Target}: {p.RefusalReason} The device is still in {refused.From}.", VfioErrors.TransitionRefused, address), Target(session, address));
            RefuseSet(session, addresses.Where(a => a != address), $"{address} cannot go from {refused.From} to {refused.Target}", VfioErrors.SetRefused);
            return;
        }
        var accepted = addresses.Where(a => this.ShouldProcessOrRefuse(a, $"Set migration state {Describe(plan, a)}")).ToList();
        if (accepted.Count == 0) return;
        if (accepted.Count != addresses.Count)
        {
            if (isSet)
            {
                RefuseSet(session, accepted, $"{string.Join(", ", addresses.Except(accepted))} was declined", VfioErrors.SetDeclined);
                return;
            }
            try { plan = session.PlanStates(accepted, State, SkipQuiesceCheck); }
            catch (VfioMigrationException e) { WriteVfioError(e, e.Device); return; }
        }
        foreach (var w in plan.Warnings) WriteWarning(w);
        if (plan.Steps.Count > accepted.Count)
            WriteVerbose(QuiesceRules.StopsDevice(State)
                ? $"Quiescing {plan.Steps.Count(st => st.Phase == 1)} device(s) before any stops: {string.Join(", ", plan.Steps.Where(st => st.Phase == 1))}"
                : $"Waking {plan.Steps.Count(st => st.Phase == 1)} device(s) peer-quiesced before any runs: {string.Join(", ", plan.Steps.Where(st => st.Phase == 1))}");
        var outcomes = session.Execute(plan, Cancellation, step =>
        {
            this.DrainLog();
            Cancellation.ThrowIfCancellationRequested();
            WriteVerbose($"{step.Device.Address}: requesting {step.Target} (now {step.From})");
        });
        this.DrainLog();
        foreach (var o in outcomes)
        {
            if (o.Error is { } e) WriteVfioError(e, Target(session, o.Device.Address));
            else if (PassThru) WriteObject(session.Describe(o.Device.Address));
        }
        this.DrainLog();
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
