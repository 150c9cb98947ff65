using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// Answers "why can't it migrate?" for a device or a set of devices meant to move together: every blocker with
/// its cause and fix, instead of a bare "VFIO device doesn't support migration". It only reads and probes; the
/// one device call beyond the protocol probe is a DMA-logging PROBE, which changes nothing.
/// </summary>
public static class MigrationReadinessCheck
{
    /// <summary>Checks each device alone, or with <paramref name="together"/> as one set that moves together.</summary>
    public static IReadOnlyList<VfioMigrationReadiness> Check(VfioHostSession session, IReadOnlyList<DeviceIdentity> devices, bool together = false)
    {
        var results = new List<VfioMigrationReadiness>();
        foreach (var id in devices)
            results.Add(session.Peek(id.Address, () => CheckOne(session, id)));
        if (together && devices.Count > 1)
        {
            // A set moves together: every member must quiesce peer-to-peer DMA before any stops (QuiesceRules).
            for (int i = 0; i < results.Count; i++)
            {
                var r = results[i];
                if (r.Protocol == MigrationProtocol.None || QuiesceRules.CanQuiesce(r.Capabilities)) continue;
                var extra = new MigrationBlocker("NoP2PQuiesce", BlockerSeverity.Blocker,
                    $"{r.Name} cannot quiesce peer-to-peer DMA (no P2P, no NDMA) while {results.Count - 1} other device(s) move with it: writes into an already stopped peer would be lost.",
                    "Give the VM no peer-to-peer mappings between these devices and accept the risk, or use a driver with P2P support (QEMU refuses such a set otherwise).",
                    ErrorRemedy.OverrideQuiesceCheck);
                results[i] = Summarize(devices[i], null, r.Blockers.Append(extra).ToList(), r);
            }
            // A set moves whole or not at all: a member that could move alone cannot while another cannot, and
            // the set moves live only if every member can.
            var blocked = results.Where(r => !r.CanMigrate).Select(r => r.Name).ToArray();
            var notLive = results.Where(r => r.CanMigrate && !r.CanMigrateLive).Select(r => r.Name).ToArray();
            for (int i = 0; i < results.Count; i++)
            {
                var r = results[i];
                var others = blocked.Where(n => n != r.Name).ToArray();
                var othersNotLive = notLive.Where(n => n != r.Name).ToArray();
                MigrationBlocker? extra =
                    others.Length > 0 ? new("SetMemberCannotMigrate", BlockerSeverity.Blocker,
                        $"{r.Name} moves as one set with {results.Count - 1} other device(s), and {string.Join(", ", others)} cannot migrate: the set cannot move.",
                        $"See the blockers of {string.Join(", ", others)}: their fixes make the whole set movable; or move {r.Name} without them.")
                    : othersNotLive.Length > 0 && r.CanMigrateLive ? new("SetMemberCannotMigrateLive", BlockerSeverity.LiveBlocker,
                        $"{r.Name} moves as one set with {results.Count - 1} other device(s), and {string.Join(", ", othersNotLive)} cannot migrate live: the set moves only stopped.",
                        $"Migrate the set stopped, or see the live blockers of {string.Join(", ", othersNotLive)}.")
                    : null;
                if (extra is not null) results[i] = Summarize(devices[i], null, r.Blockers.Append(extra).ToList(), r);
            }
        }
        return results;
    }

    private static VfioMigrationReadiness CheckOne(VfioHostSession session, DeviceIdentity id)
    {
        var blockers = new List<MigrationBlocker>();
        IDeviceMigration? driver = null;
        if (!id.IsVfioBound)
            blockers.Add(new("NotVfioBound", BlockerSeverity.Blocker, $"{id.Address} is bound to {id.Driver ?? "no driver"}, not to a VFIO driver.",
                "Bind it to its vendor's vfio variant driver (or vfio-pci), e.g. with driverctl set-override; this module never rebinds drivers."));
        else
        {
            try { driver = session.Migration(id.Address); }
            catch (VfioMigrationException e) when (e.Error == VfioErrors.DeviceBusy)
            {
                var holding = session.Backend.Holding(id);
                string who = holding.Holders.Count > 0
                    ? $"by {string.Join("; ", holding.Holders)}{(holding.State is { } held ? $"; its migration state is {held} (VFIO debugfs)" : "")}"
                    : $"by another process (a VM, or another VFIO user such as a second PowerShell session){(holding.HoldersProblem is { } why ? $"; {why}" : "")}";
                blockers.Add(new("GroupInUse", BlockerSeverity.Blocker, $"IOMMU group {id.IommuGroup} is held {who}.",
                    "Check from the process that holds the device (the VMM), or stop that VM first; the module never takes a group by force."));
            }
            catch (VfioMigrationException e)
            {
                blockers.Add(new(e.ErrorId, BlockerSeverity.Blocker, e.Message, e.Error == VfioErrors.PermissionDenied ? "Run as root, or give your user access to /dev/vfio/*." : "See the cause."));
            }
        }
        if (id.Kind == VfioDeviceKind.Ccw)
            blockers.Add(id.IsSimulated
                ? new("CcwNotMigratableUpstream", BlockerSeverity.Warning, "Upstream vfio-ccw implements no migration; this simulated subchannel migrates as a protocol exercise only.", "Nothing to do on the simulator; on a real host, ccw devices cannot migrate.")
                : new("CcwNotMigratable", BlockerSeverity.Blocker, "vfio-ccw has no migration support upstream (no v2 feature, no v1 region; QEMU marks vfio-ccw devices unmigratable).", "Detach the device before migrating the guest, and attach an equivalent one on the destination."));
        if (driver is not null && driver.Protocol == MigrationProtocol.None && id.Kind != VfioDeviceKind.Ccw)
            blockers.Add(id.Driver == "vfio-pci"
                ? new("PlainVfioPci", BlockerSeverity.Blocker, $"{id.Address} is bound to plain vfio-pci, which has no migration support.",
                    "Bind the vendor's vfio variant driver if one exists for this device (mlx5_vfio_pci, hisi_acc_vfio_pci, pds_vfio_pci, qat_vfio_pci, virtio_vfio_pci, ...).")
                : new("NoMigrationSupport", BlockerSeverity.Blocker, $"{id.Driver ?? "The driver"} offers neither the v2 MIGRATION feature (ENOTTY) nor a v1 migration region.",
                    "Use a kernel and driver version with VFIO migration support for this device, or ask its vendor."));
        if (driver is { Protocol: not MigrationProtocol.None } d)
        {
            try
            {
                // A look changes nothing: a session another process left is reported, not ended (VfioHostSession.Describe).
                var state = d.ObserveState(out bool leftByOther);
                if (leftByOther)
                    blockers.Add(new("SessionLeftByAnotherProcess", BlockerSeverity.Warning,
                        $"{id.Address} is in {state}, a migration session another process started and left (its data fd went with it); this check left it so.",
                        state == MigrationState.Resuming
                            ? "The next state change, save or restore ends it first, with a reset (VFIO_DEVICE_RESET): a resume is only left by a reset."
                            : $"The next state change, save or restore ends it first ({state} -> {V2MigrationDriver.FoundSessionEnd(state)})."));
                if (state == MigrationState.Error)
                    blockers.Add(d.ResetUnavailable is { } none
                        ? new("DeviceInError", BlockerSeverity.Blocker, "The device is in the Error migration state.",
                            $"Only a reset (VFIO_DEVICE_RESET) leaves Error, and none is possible: {none}; {DeviceReset.WhatIsLeft}.", ErrorRemedy.ReleaseDevice)
                        : new("DeviceInError", BlockerSeverity.Blocker, "The device is in the Error migration state.",
                            "Only a reset (VFIO_DEVICE_RESET) leaves Error.", ErrorRemedy.ResetDevice));
            }
            catch (VfioMigrationException e) { blockers.Add(new("StateUnreadable", BlockerSeverity.Blocker, e.Message, "See the cause.")); }
            // A migration that fails can leave a device in Error, and QEMU's recovery ends in a reset; without one the
            // device stays there (vfio.h: only VFIO_DEVICE_RESET leaves ERROR).
            if (d.ResetUnavailable is { } noReset && !blockers.Any(b => b.Code == "DeviceInError"))
                blockers.Add(new("NoDeviceReset", BlockerSeverity.Warning,
                    $"No VFIO reset is possible: {noReset}. A migration that fails and leaves the device in Error, or in an unfinished resume, cannot be undone by a reset.",
                    $"Know the way back before migrating: {DeviceReset.WhatIsLeft}; or use a device or slot with a reset (FLR, PM or bus reset)."));
            if (d.Protocol == MigrationProtocol.V1)
                blockers.Add(new("V1Protocol", BlockerSeverity.Warning, "The device speaks the v1 migration protocol, which kernels since 5.18 and QEMU since 8.0 no longer support.",
                    "Only tools that speak v1 (this module, vfio-user servers, old QEMU with x-enable-migration) can migrate it; prefer a driver with v2."));
            if (!d.Capabilities.HasFlag(MigrationCapabilities.PreCopy))
                blockers.Add(new("NoPreCopy", BlockerSeverity.LiveBlocker, "The device has no PRE_COPY: its whole state moves while it is stopped.",
                    "Migrate with the device stopped (longer downtime), or use a driver version with PRE_COPY."));
            if (d.Protocol == MigrationProtocol.V2 && !d.ProbeDmaLogging())
                blockers.Add(new("NoDirtyTracking", BlockerSeverity.Warning, "The device has no DMA logging (features 6-8), so it cannot report which guest pages it dirtied.",
                    "A live migration then needs IOMMU dirty tracking (iommufd with hardware support), or the VMM treats all guest memory as dirty and the downtime grows."));
        }
        return Summarize(id, driver, blockers);
    }

    private static VfioMigrationReadiness Summarize(DeviceIdentity id, IDeviceMigration? driver, List<MigrationBlocker> blockers, VfioMigrationReadiness? previous = null) => new()
    {
        Name = id.Address,
        Kind = id.Kind,
        Driver = id.Driver,
        IsSimulated = id.IsSimulated,
        Protocol = driver?.Protocol ?? previous?.Protocol ?? MigrationProtocol.None,
        Capabilities = driver?.Capabilities ?? previous?.Capabilities ?? MigrationCapabilities.None,
        CanMigrate = blockers.All(b => b.Severity != BlockerSeverity.Blocker),
        CanMigrateLive = blockers.All(b => b.Severity == BlockerSeverity.Warning),
        Blockers = blockers.ToArray(),
    };
}
