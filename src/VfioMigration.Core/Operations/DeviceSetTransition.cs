using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// Moves a set of devices that may DMA into each other (the seed's rule, checklist 40): when the target stops
/// them, every running device first enters its peer-to-peer quiesced state (RunningP2P / PreCopyP2P, NDMA on v1),
/// and only then does any device stop, so no device writes into a peer that is already frozen. A device that
/// cannot quiesce makes the whole set refuse, naming it, unless forced. Waking a set to Running is the mirror
/// image: stopped devices enter RunningP2P first, then all run.
/// </summary>
public sealed class DeviceSetTransition
{
    private DeviceSetTransition(IReadOnlyList<DeviceSetStep> steps, IReadOnlyList<string> warnings)
    {
        Steps = steps;
        Warnings = warnings;
    }

    public IReadOnlyList<DeviceSetStep> Steps { get; }
    /// <summary>What <c>force</c> let through: devices that will stop without quiescing first.</summary>
    public IReadOnlyList<string> Warnings { get; }

    public static bool StopsDevice(MigrationState target) =>
        target is MigrationState.Stop or MigrationState.StopCopy or MigrationState.Resuming;

    public static bool CanQuiesce(IDeviceMigration d) =>
        (d.Capabilities & (MigrationCapabilities.P2P | MigrationCapabilities.Ndma)) != 0;

    private static MigrationState? QuiescedForm(MigrationState s) => s switch
    {
        MigrationState.Running => MigrationState.RunningP2P,
        MigrationState.PreCopy => MigrationState.PreCopyP2P,
        _ => null,
    };

    /// <summary>Plans the order; throws if a device cannot quiesce and <paramref name="force"/> is off.</summary>
    public static DeviceSetTransition Plan(IReadOnlyList<(IDeviceMigration Device, MigrationState Current)> devices, MigrationState target, bool force)
    {
        var steps = new List<DeviceSetStep>();
        var warnings = new List<string>();
        bool quiesce = devices.Count > 1 && StopsDevice(target);
        var after = devices.ToDictionary(d => d.Device, d => d.Current);
        if (devices.Count > 1 && target == MigrationState.Running)
        {
            // Waking a set: every stopped device that can runs peer-quiesced first, so no device starts writing
            // peer-to-peer into one that is still stopped.
            foreach (var (device, current) in devices)
            {
                if (!StopsDevice(current) || !CanQuiesce(device)) continue;
                steps.Add(new DeviceSetStep(device, current, MigrationState.RunningP2P, 1));
                after[device] = MigrationState.RunningP2P;
            }
        }
        if (quiesce)
        {
            foreach (var (device, current) in devices)
            {
                if (QuiescedForm(current) is not { } q) continue;
                if (!CanQuiesce(device))
                {
                    string why = $"{device.Address} (in {current}) cannot quiesce peer-to-peer DMA (no P2P or NDMA capability; it has {device.Capabilities}), so stopping it together with its peers could lose their writes to it";
                    if (!force)
                        throw new VfioMigrationException($"Refusing to move {devices.Count} devices together to {target}: {why}. Stop it on its own.", VfioErrors.PeerQuiesceUnsupported, device.Address);
                    warnings.Add(why + "; going ahead because the quiesce check is skipped.");
                    continue;
                }
                steps.Add(new DeviceSetStep(device, current, q, 1));
                after[device] = q;
            }
        }
        foreach (var (device, _) in devices)
            steps.Add(new DeviceSetStep(device, after[device], target, 2));
        return new DeviceSetTransition(steps, warnings);
    }

    /// <summary>
    /// Runs the plan. If any device fails to quiesce, nothing is stopped: the devices already quiesced go back to
    /// where they were, and every device's outcome says what happened to it.
    /// </summary>
    public IReadOnlyList<DeviceSetOutcome> Execute(CancellationToken cancellationToken = default, Action<DeviceSetStep>? beforeStep = null)
    {
        IDisposable held;
        try { held = DeviceLock.Acquire(Steps.Select(s => s.Device), "state change"); }
        catch (VfioMigrationException busy)
        {
            return Steps.Select(s => s.Device).Distinct().Select(d => new DeviceSetOutcome(d, null, busy)).ToArray();
        }
        using (held) return ExecuteHeld(cancellationToken, beforeStep);
    }

    private IReadOnlyList<DeviceSetOutcome> ExecuteHeld(CancellationToken cancellationToken, Action<DeviceSetStep>? beforeStep)
    {
        var outcomes = new Dictionary<IDeviceMigration, DeviceSetOutcome>();
        var quiesced = new List<DeviceSetStep>();
        foreach (var step in Steps.Where(s => s.Phase == 1))
        {
            try
            {
                beforeStep?.Invoke(step);
                outcomes[step.Device] = new DeviceSetOutcome(step.Device, step.Device.RequestState(step.Target, cancellationToken), null);
                quiesced.Add(step);
            }
            catch (VfioMigrationException e)
            {
                outcomes[step.Device] = new DeviceSetOutcome(step.Device, null, e);
                foreach (var back in quiesced)
                {
                    try { back.Device.RequestState(back.From, cancellationToken); }
                    catch (VfioMigrationException undo) { outcomes[back.Device] = new DeviceSetOutcome(back.Device, null, undo); continue; }
                    outcomes[back.Device] = new DeviceSetOutcome(back.Device, null, new VfioMigrationException(
                        $"{back.Device.Address}: not changed: {step.Device.Address} failed to quiesce, so the set was returned to {back.From}.", VfioErrors.PeerQuiesceFailed, back.Device.Address));
                }
                foreach (var other in Steps.Where(s => s.Phase == 2 && !outcomes.ContainsKey(s.Device)))
                    outcomes[other.Device] = new DeviceSetOutcome(other.Device, null, new VfioMigrationException(
                        $"{other.Device.Address}: not changed: {step.Device.Address} failed to quiesce.", VfioErrors.PeerQuiesceFailed, other.Device.Address));
                return outcomes.Values.ToArray();
            }
        }
        foreach (var step in Steps.Where(s => s.Phase == 2))
        {
            try
            {
                beforeStep?.Invoke(step);
                outcomes[step.Device] = new DeviceSetOutcome(step.Device, step.Device.RequestState(step.Target, cancellationToken), null);
            }
            catch (VfioMigrationException e)
            {
                outcomes[step.Device] = new DeviceSetOutcome(step.Device, null, e);
            }
        }
        return Steps.Where(s => s.Phase == 2).Select(s => outcomes[s.Device]).ToArray();
    }
}
