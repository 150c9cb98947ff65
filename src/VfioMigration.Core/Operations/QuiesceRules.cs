using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// The rules for devices that may DMA into each other (one VM's devices moved as a set), written once. When a
/// change stops them, every running member first enters its peer-to-peer quiesced form (Running → RunningP2P,
/// PreCopy → PreCopyP2P; the NDMA bit on v1), and only then does any member stop, so no device writes into a peer
/// that is already frozen (the NDMA RFC discussion, docs/protocol.md §2.2 and checklist 40; vfio.h, RUNNING_P2P: "the device must not ... initiate
/// ... DMA to another device"). Waking a set is the mirror image: stopped
/// members enter RunningP2P first, then all run. A member that cannot quiesce makes a stopping set refuse unless
/// forced. <see cref="DeviceSetTransition"/>, <see cref="DeviceSetSaver"/>, <see cref="DeviceSetRestorer"/>,
/// <see cref="DeviceStateSaver"/> and <see cref="MigrationReadinessCheck"/> all ask here.
/// </summary>
public static class QuiesceRules
{
    /// <summary>Whether entering <paramref name="target"/> stops a device (its DMA ends).</summary>
    public static bool StopsDevice(MigrationState target) =>
        target is MigrationState.Stop or MigrationState.StopCopy or MigrationState.Resuming;

    /// <summary>Whether a device with these capabilities can stop its peer-to-peer DMA while running (v2 P2P, v1 NDMA).</summary>
    public static bool CanQuiesce(MigrationCapabilities capabilities) =>
        (capabilities & (MigrationCapabilities.P2P | MigrationCapabilities.Ndma)) != 0;

    public static bool CanQuiesce(IDeviceMigration device) => CanQuiesce(device.Capabilities);

    /// <summary>Whether devices moved to <paramref name="target"/> together quiesce first: several of them, and the target stops them.</summary>
    public static bool QuiesceBefore(int members, MigrationState target) => members > 1 && StopsDevice(target);

    /// <summary>Whether stopped members of a set being woken to <paramref name="target"/> pass through RunningP2P first.</summary>
    public static bool WakeThroughP2P(int members, MigrationState target) => members > 1 && target == MigrationState.Running;

    /// <summary>The quiesced form of a running state (Running → RunningP2P, PreCopy → PreCopyP2P); null for any other state.</summary>
    public static MigrationState? QuiescedForm(MigrationState state) => state switch
    {
        MigrationState.Running => MigrationState.RunningP2P,
        MigrationState.PreCopy => MigrationState.PreCopyP2P,
        _ => null,
    };

    /// <summary>The pre-copy state to enter from <paramref name="current"/>: a device already quiesced stays quiesced (PreCopyP2P).</summary>
    public static MigrationState PreCopyFrom(MigrationState current) =>
        current is MigrationState.RunningP2P or MigrationState.PreCopyP2P ? MigrationState.PreCopyP2P : MigrationState.PreCopy;

    /// <summary>
    /// The state a device leaves Resuming for on its way to <paramref name="final"/>. A single device bound for
    /// Running goes there in one step (one v1 write 0x4 → 0x1, as QEMU did, and the only way out some v1 servers
    /// accept; v2 walks through Stop either way). Members of a set stop first and are then woken together.
    /// </summary>
    public static MigrationState LeaveResumingFor(int members, MigrationState final) =>
        members == 1 && final == MigrationState.Running ? MigrationState.Running : MigrationState.Stop;

    /// <summary>Why stopping a device that cannot quiesce together with its peers risks their writes (a phrase).</summary>
    /// <summary>A set names one device twice: one device has one state and one stream, so the set is refused (<c>DeviceListedTwice</c>).</summary>
    public static VfioMigrationException ListedTwice(string address) =>
        new($"{address} is named more than once in one set; a set names each device once.", VfioErrors.DeviceListedTwice, address);

    public static string CannotQuiesce(string address, MigrationState current, MigrationCapabilities capabilities) =>
        $"{address} (in {current}) cannot quiesce peer-to-peer DMA (no P2P or NDMA capability; it has {capabilities}), so stopping it together with its peers could lose their writes to it";

    /// <summary>
    /// The steps that move <paramref name="devices"/> to <paramref name="target"/> together, in order: phase 1
    /// quiesces (or, waking, passes through RunningP2P), phase 2 reaches the target. Throws
    /// <c>PeerQuiesceUnsupported</c> for a member that cannot quiesce unless <paramref name="force"/>; then
    /// <paramref name="warnings"/> says which members stop unquiesced.
    /// </summary>
    public static IReadOnlyList<DeviceSetStep> Order(IReadOnlyList<(IDeviceMigration Device, MigrationState Current)> devices, MigrationState target,
        bool force, List<string> warnings)
    {
        var steps = new List<DeviceSetStep>();
        if (devices.GroupBy(d => d.Device).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw ListedTwice(twice.Key.Address);
        var after = devices.ToDictionary(d => d.Device, d => d.Current);
        if (WakeThroughP2P(devices.Count, target))
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
        if (QuiesceBefore(devices.Count, target))
        {
            foreach (var (device, current) in devices)
            {
                if (QuiescedForm(current) is not { } q) continue;
                if (!CanQuiesce(device))
                {
                    string why = CannotQuiesce(device.Address, current, device.Capabilities);
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
        return steps;
    }
}
