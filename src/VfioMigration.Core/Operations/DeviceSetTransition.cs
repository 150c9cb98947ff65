using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// Moves a set of devices that may DMA into each other in the order <see cref="QuiesceRules"/> gives (the NDMA RFC discussion's
/// rule, docs/protocol.md checklist 40): quiesce every member before any stops, wake through RunningP2P. This type runs that order
/// all or nothing; the rules themselves live in <see cref="QuiesceRules"/>.
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

    /// <summary>Plans the order; throws if a device cannot quiesce and <paramref name="force"/> is off.</summary>
    public static DeviceSetTransition Plan(IReadOnlyList<(IDeviceMigration Device, MigrationState Current)> devices, MigrationState target, bool force)
    {
        var warnings = new List<string>();
        var steps = QuiesceRules.Order(devices, target, force, warnings);
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
