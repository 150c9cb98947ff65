using VfioMigration.Protocol;

namespace VfioMigration.Images;

/// <summary>
/// What ties the members of a set to each other, as far as a backend can know it, by member position (a restore may
/// go to other addresses, so a link names a place in the set, never an address). A save records each member's links
/// in its header (<see cref="ImageSet.Links"/>); a restore computes the same for its targets and compares
/// (docs/image-format.md, Set links). A kind is listed for a device only where it is known: peer links only on the
/// simulator (the uAPI does not expose them), the PCI parent only from sysfs.
/// </summary>
internal static class SetLinks
{
    /// <summary>The member this one DMA-writes into peer-to-peer: the link whose swap would misdirect device state.</summary>
    public const string Peer = "peer";
    /// <summary>Members in the same IOMMU group.</summary>
    public const string IommuGroup = "iommuGroup";
    /// <summary>Members on the same PCI slot (domain:bus:device): functions of one physical device.</summary>
    public const string Slot = "slot";
    /// <summary>Members under the same PCI bridge or root bus (sysfs).</summary>
    public const string Parent = "parent";

    /// <summary>The kinds in the order messages list them.</summary>
    public static readonly string[] Kinds = { Peer, IommuGroup, Slot, Parent };

    /// <summary>Each device's links to the others of <paramref name="devices"/>, by position.</summary>
    public static IReadOnlyDictionary<string, int[]>[] Of(IReadOnlyList<DeviceIdentity> devices)
    {
        var result = new IReadOnlyDictionary<string, int[]>[devices.Count];
        for (int i = 0; i < devices.Count; i++)
        {
            var me = devices[i];
            int[] Others(Func<DeviceIdentity, bool> linked) => Enumerable.Range(0, devices.Count).Where(j => j != i && linked(devices[j])).ToArray();
            var links = new Dictionary<string, int[]>();
            if (me.IsSimulated && me.Kind == VfioDeviceKind.Pci)
                links[Peer] = Others(d => string.Equals(d.Address, me.PeerAddress, StringComparison.OrdinalIgnoreCase));
            if (me.IommuGroup is { } group)
                links[IommuGroup] = Others(d => d.IommuGroup == group);
            if (PciAddress.Slot(me.Address) is { } slot)
                links[Slot] = Others(d => string.Equals(PciAddress.Slot(d.Address), slot, StringComparison.OrdinalIgnoreCase));
            if (me.PciParent is { } parent)
                links[Parent] = Others(d => string.Equals(d.PciParent, parent, StringComparison.OrdinalIgnoreCase));
            result[i] = links;
        }
        return result;
    }

    /// <summary>"writes into X peer-to-peer", "shares an IOMMU group with X", ...; with <paramref name="not"/>, the denial.</summary>
    public static string Describe(string kind, string other, bool not = false) => (kind, not) switch
    {
        (Peer, false) => $"writes into {other} peer-to-peer",
        (Peer, true) => $"does not write into {other} peer-to-peer",
        (IommuGroup, false) => $"shares an IOMMU group with {other}",
        (IommuGroup, true) => $"does not share an IOMMU group with {other}",
        (Slot, false) => $"is a function of one device with {other}",
        (Slot, true) => $"is not a function of one device with {other}",
        (Parent, false) => $"sits under one PCI bridge with {other}",
        (Parent, true) => $"does not sit under one PCI bridge with {other}",
        (_, false) => $"is linked ({kind}) to {other}",
        (_, true) => $"is not linked ({kind}) to {other}",
    };
}
