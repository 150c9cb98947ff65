using VfioMigration.Drivers;
using VfioMigration.Images;
using VfioMigration.Protocol;
using VfioMigration.Sources;

namespace VfioMigration.Operations;

/// <summary>
/// Everything a restore can know before it touches a device (the pre-flight an admin runs with -WhatIf, as
/// Compare-VM is to Import-VM): each image read whole, its protocol and identity against its target, and a set's
/// images against each other and against the devices they go to. Every problem of every image is found, not the
/// first; a problem that an override would let through says so only when the overrides together would clear
/// every problem found (a protocol or a damaged image no override can bridge).
/// </summary>
public sealed class RestorePreflight
{
    private RestorePreflight(IDeviceStateSource?[] sources, VfioStateImage?[] images, IReadOnlyList<(int? Target, VfioMigrationException Error)> problems, IReadOnlyList<string> warnings)
    {
        Sources = sources;
        Images = images;
        Problems = problems;
        Warnings = warnings;
    }

    /// <summary>The verified source of each target (an image file or a QEMU section, through the one seam), by position; null where it could not be read.</summary>
    internal IReadOnlyList<IDeviceStateSource?> Sources { get; }

    /// <summary>The verified image of each target, by position; null where the image could not be read.</summary>
    public IReadOnlyList<VfioStateImage?> Images { get; }

    /// <summary>
    /// Every problem, each with the position of the target it concerns (null: the whole set). Empty when the
    /// restore may go ahead. A problem's remedy names overrides only when they would clear all problems.
    /// </summary>
    public IReadOnlyList<(int? Target, VfioMigrationException Error)> Problems { get; }

    /// <summary>What the restore cannot check and goes ahead with (a set's mapping the images cannot confirm).</summary>
    public IReadOnlyList<string> Warnings { get; }

    public bool Passed => Problems.Count == 0;

    private sealed record Problem(int? Target, RestoreOverrides ClearedBy, Func<ErrorRemedy?, VfioMigrationException> Make);

    /// <summary>Runs every check that needs no device call; never throws for what it finds (cancellation aside).</summary>
    public static RestorePreflight Run(IReadOnlyList<RestoreTarget> targets, RestoreOverrides overrides, CancellationToken cancellationToken = default)
    {
        var problems = new List<Problem>();
        var warnings = new List<string>();
        var images = new VfioStateImage?[targets.Count];
        var sources = new IDeviceStateSource?[targets.Count];
        const RestoreOverrides never = RestoreOverrides.None;

        foreach (var twice in targets.Select((t, i) => (t, i)).GroupBy(x => x.t.Device.Address, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
            problems.Add(new(null, never, _ => new VfioMigrationException($"{twice.Key} is the target of more than one image ({string.Join(", ", twice.Select(x => x.t.Path))}).", VfioErrors.RestoreTargetConflict, twice.Key)));

        for (int i = 0; i < targets.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var t = targets[i];
            int at = i;
            IDeviceStateSource source;
            try
            {
                // The one seam: an image file or a QEMU stream's (or libvirt save's) VFIO section, verified whole.
                source = DeviceStateSources.Open(t.Path, t.Section, cancellationToken);
                sources[i] = source;
                images[i] = source.Description;
            }
            catch (VfioMigrationException e)
            {
                problems.Add(new(at, never, _ => e));
                continue;
            }
            string path = images[i]!.Path;
            if (t.Device.Protocol == MigrationProtocol.None)
            {
                problems.Add(new(at, never, _ => new VfioMigrationException($"{t.Device.Address}: cannot restore: {NoMigrationDriver.Explanation}.", VfioErrors.MigrationNotSupported, t.Device.Address)));
                continue;
            }
            // Every field that differs, in one error per image. Even an override cannot bridge protocols: a v1
            // stream means nothing to a v2 device.
            var all = source.Mismatches(t.Description).ToList();
            if (source.Protocol != t.Description.Protocol && !all.Any(m => m.Field == "protocol"))
                all.Add(("protocol", source.Protocol.ToString(), t.Description.Protocol.ToString()));
            bool protocol = all.Any(m => m.Field == "protocol");
            var shown = overrides.HasFlag(RestoreOverrides.Identity) ? all.Where(m => m.Field == "protocol").ToArray() : all.ToArray();
            if (shown.Length == 0) continue;
            string? section = source.Description.Section;
            string what = section is null ? "the image" : $"the VFIO section '{section}'";
            string text = $"{what} does not fit {t.Device.Address}: {string.Join("; ", shown.Select(m => $"{m.Field} is '{m.Saved}' in {(section is null ? "the image" : m.Field == "protocol" ? "the stream" : "its config space")} and '{m.Device}' on the device"))}{(protocol ? "; no override restores across protocols" : "")}.";
            problems.Add(protocol
                ? new(at, never, _ => new StateImageException(path, "protocol", text, VfioErrors.ImageDeviceMismatch, ErrorRemedy.None))
                : new(at, RestoreOverrides.Identity, remedy => new StateImageException(path, shown[0].Field, text, VfioErrors.ImageDeviceMismatch, remedy)));
        }

        var given = images.Select((im, i) => (Image: im, Target: targets[i], Place: i)).Where(x => x.Image?.SetId is not null).ToArray();
        foreach (var set in given.GroupBy(x => x.Image!.SetId!.Value))
            CheckSet(set.Key, set.ToArray(), overrides, problems, warnings);

        // An override is recommended only when the overrides together clear every problem found.
        var needed = problems.Aggregate(RestoreOverrides.None, (a, p) => a | p.ClearedBy);
        bool clearable = problems.All(p => p.ClearedBy != never);
        ErrorRemedy? remedy = !clearable ? ErrorRemedy.None : needed switch
        {
            RestoreOverrides.Identity => ErrorRemedy.OverrideIdentityCheck,
            RestoreOverrides.SetMembership => ErrorRemedy.OverrideSetCheck,
            RestoreOverrides.Identity | RestoreOverrides.SetMembership => ErrorRemedy.OverrideIdentityAndSetChecks,
            _ => null,
        };
        return new RestorePreflight(sources, images, problems.Select(p => (p.Target, p.Make(p.ClearedBy == never ? null : remedy))).ToArray(), warnings);
    }

    /// <summary>
    /// The images of one set: they must tell one story (member lists, one image per member), be given whole, and
    /// go to the devices their place says: onto the saved devices, member by address; onto other devices, by PCI
    /// function number where the functions decide it, else in set order (with a warning that the images cannot
    /// confirm the mapping).
    /// </summary>
    private static void CheckSet(Guid id, (VfioStateImage? Image, RestoreTarget Target, int Place)[] set, RestoreOverrides overrides, List<Problem> problems, List<string> warnings)
    {
        const RestoreOverrides never = RestoreOverrides.None;
        var first = set[0].Image!;
        var members = first.SetMembers ?? Array.Empty<string>();
        bool consistent = true;
        foreach (var (im, _, place) in set)
        {
            if (!(im!.SetMembers ?? Array.Empty<string>()).SequenceEqual(members, StringComparer.OrdinalIgnoreCase))
            {
                consistent = false;
                problems.Add(new(place, never, _ => new StateImageException(im.Path, "set.members", $"the image is in set {id} with {first.Path}, but their member lists differ ({string.Join(", ", im.SetMembers ?? Array.Empty<string>())} / {string.Join(", ", members)}).", VfioErrors.ImageSetMismatch)));
            }
            if (im.SetIndex is not { } k || k < 0 || k >= members.Length)
            {
                consistent = false;
                problems.Add(new(place, never, _ => new StateImageException(im.Path, "set.index", $"the image is member {(im.SetIndex is { } n ? VfioStateImage.Position(n, members.Length) : "(none)")} of set {id}, which has {members.Length} member(s).", VfioErrors.ImageSetMismatch)));
            }
        }
        foreach (var twice in set.Where(x => x.Image!.SetIndex is not null).GroupBy(x => x.Image!.SetIndex).Where(g => g.Count() > 1))
        {
            consistent = false;
            var last = twice.Last();
            problems.Add(new(last.Place, never, _ => new StateImageException(last.Image!.Path, "set.index", $"the images {string.Join(", ", twice.Select(x => x.Image!.Path))} are all member {VfioStateImage.Position(twice.Key!.Value, members.Length)} of set {id}.", VfioErrors.ImageSetMismatch)));
        }
        if (!consistent || overrides.HasFlag(RestoreOverrides.SetMembership)) return;

        var present = set.Select(x => x.Image!.SetIndex!.Value).ToHashSet();
        var missing = members.Where((_, index) => !present.Contains(index)).ToArray();
        if (missing.Length > 0)
            problems.Add(new(null, RestoreOverrides.SetMembership, remedy => new VfioMigrationException(
                $"The images of set {id} belong together, but the image(s) of {string.Join(", ", missing)} are missing; restore the whole set.", VfioErrors.ImageSetIncomplete, null, null, remedy)));

        CheckLinks(id, members, set, problems, warnings);

        // Where each image goes: onto a saved member, that member's image; onto another device, see below.
        var onOthers = new List<(VfioStateImage Image, RestoreTarget Target, int Place, int Rank)>();
        for (int rank = 0; rank < set.Length; rank++)
        {
            var (im, target, place) = set[rank];
            int index = im!.SetIndex!.Value;
            int own = Array.FindIndex(members, m => string.Equals(m, target.Device.Address, StringComparison.OrdinalIgnoreCase));
            if (own >= 0 && own != index)
                problems.Add(new(place, RestoreOverrides.SetMembership, remedy => new StateImageException(im.Path, "set.index",
                    $"the image is member {VfioStateImage.Position(index, members.Length)} of set {id} (saved from {members[index]}), but it was given for {target.Device.Address}, which is member {VfioStateImage.Position(own, members.Length)}; give the images in the order of the devices.", VfioErrors.ImageSetOrder, remedy)));
            else if (own < 0) onOthers.Add((im, target, place, rank));
        }
        if (onOthers.Count == 0) return;

        // Onto other devices: the PCI function number is what a like-for-like slot keeps (a multi-function
        // device's functions are not interchangeable); when the functions decide the mapping, it must hold.
        var savedFn = onOthers.Select(x => PciAddress.Function(members[x.Image.SetIndex!.Value])).ToArray();
        var targetFn = onOthers.Select(x => PciAddress.Function(x.Target.Device.Address)).ToArray();
        bool decides = savedFn.All(f => f is not null) && targetFn.All(f => f is not null)
            && savedFn.Distinct().Count() == savedFn.Length
            && savedFn.OrderBy(f => f).SequenceEqual(targetFn.OrderBy(f => f));
        if (decides)
        {
            for (int k = 0; k < onOthers.Count; k++)
            {
                int? saved = savedFn[k], now = targetFn[k];
                if (saved == now) continue;
                var (im, target, place, _) = onOthers[k];
                int index = im.SetIndex!.Value;
                var owner = onOthers[Array.IndexOf(targetFn, saved)].Target.Device.Address;
                problems.Add(new(place, RestoreOverrides.SetMembership, remedy => new StateImageException(im.Path, "set.index",
                    $"the image is member {VfioStateImage.Position(index, members.Length)} of set {id}, saved from {members[index]} (function {saved}), but it was given for {target.Device.Address} (function {now}); by function number its state belongs on {owner}. Give the images in set order, {string.Join(", ", members)}, and the devices in the same order, function for function.", VfioErrors.ImageSetOrder, remedy)));
            }
            return;
        }
        // The images cannot tell which device is which: the set order (the order the devices were saved in) decides.
        for (int k = 0; k < onOthers.Count; k++)
        {
            var (im, target, place, rank) = onOthers[k];
            int index = im.SetIndex!.Value;
            if (index != rank)
                problems.Add(new(place, RestoreOverrides.SetMembership, remedy => new StateImageException(im.Path, "set.index",
                    $"the image is member {VfioStateImage.Position(index, members.Length)} of set {id} (saved from {members[index]}), but it was given in place {rank + 1} for {target.Device.Address}; give the images in set order, {string.Join(", ", members)}, one per device in that order.", VfioErrors.ImageSetOrder, remedy)));
        }
        if (onOthers.Count > 1)
            warnings.Add($"Set {id} is restored onto other devices than it was saved from, and the images cannot confirm which device is which (the function numbers do not match those saved): "
                + string.Join("; ", onOthers.Select(x => $"{x.Target.Device.Address} gets the state of {members[x.Image.SetIndex!.Value]}"))
                + ". Check that this is the mapping you mean.");
    }

    /// <summary>
    /// The links each image recorded to the other members (<see cref="SetLinks"/>: peer, IOMMU group, slot, parent
    /// bridge) against the targets' own, under the mapping given (each image onto the device given for it); a kind
    /// a target cannot know (peers on a real host) is not compared. A link that does not hold is refused when
    /// another order of the same devices would make the links of its kind hold (the devices were given swapped;
    /// together with the other kinds some order satisfies), and so is a
    /// peer link that no order makes hold (the device would DMA into another device than the state it restores
    /// expects); a topology link that no order makes hold only says the hosts differ, so it is a warning.
    /// </summary>
    private static void CheckLinks(Guid id, string[] members, (VfioStateImage? Image, RestoreTarget Target, int Place)[] set, List<Problem> problems, List<string> warnings)
    {
        if (set.All(x => x.Image!.Links is null)) return;
        var rankOf = new Dictionary<int, int>();
        for (int r = 0; r < set.Length; r++) rankOf[set[r].Image!.SetIndex!.Value] = r;
        var identities = set.Select(x => x.Target.Description.Identity).ToArray();
        var onTargets = SetLinks.Of(identities);
        // Every recorded link between two given images, by rank in the set as given.
        var wanted = new List<(int From, string Kind, int To)>();
        for (int r = 0; r < set.Length; r++)
            foreach (var (kind, to) in set[r].Image!.Links ?? new Dictionary<string, int[]>())
                if (SetLinks.Kinds.Contains(kind))
                    foreach (int m in to)
                        if (rankOf.TryGetValue(m, out int q)) wanted.Add((r, kind, q));
        bool Holds((int From, string Kind, int To) w, int[] onto) => !onTargets[onto[w.From]].TryGetValue(w.Kind, out var has) || has.Contains(onto[w.To]);

        var given = Enumerable.Range(0, set.Length).ToArray();
        var broken = wanted.Where(w => !Holds(w, given)).ToArray();
        if (broken.Length == 0) return;
        // Which kinds some order of the devices satisfies, and one order that satisfies all of those at once: a
        // kind no order satisfies (the host lays devices out otherwise) must not hide a swap another kind shows.
        var fixable = wanted.Select(w => w.Kind).Distinct().Where(k => MatchingOrder(set.Length, wanted.Where(w => w.Kind == k).ToList(), Holds) is not null).ToHashSet();
        var order = fixable.Count == 0 ? null : MatchingOrder(set.Length, wanted.Where(w => fixable.Contains(w.Kind)).ToList(), Holds);
        if (order is null) fixable.Clear();

        string Member(int rank) => $"member {VfioStateImage.Position(set[rank].Image!.SetIndex!.Value, members.Length)} ({members[set[rank].Image!.SetIndex!.Value]})";
        string Address(int rank) => set[rank].Target.Device.Address;
        string Now(string kind, int from, int to) => kind switch
        {
            SetLinks.Peer => $" (it writes into {identities[from].PeerAddress ?? "no device"})",
            SetLinks.IommuGroup => $" (it is in IOMMU group {identities[from].IommuGroup}, {Address(to)} in {identities[to].IommuGroup?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"})",
            SetLinks.Parent => $" (it sits under {identities[from].PciParent}, {Address(to)} under {identities[to].PciParent ?? "an unknown parent"})",
            _ => "",
        };
        string InOrder() => string.Join(", ", given.OrderBy(r => set[r].Image!.SetIndex).Select(r => $"member {VfioStateImage.Position(set[r].Image!.SetIndex!.Value, members.Length)} on {Address(order![r])}"));
        string Broken(int r, IEnumerable<(int From, string Kind, int To)> links) => string.Join("; ", links.Select(w =>
            $"{Member(r)} {SetLinks.Describe(w.Kind, Member(w.To))}, but {Address(r)} gets its state and {Address(w.To)} that of {Member(w.To)}, and {Address(r)} {SetLinks.Describe(w.Kind, Address(w.To), not: true)}{Now(w.Kind, r, w.To)}"));
        foreach (var byImage in broken.GroupBy(w => w.From))
        {
            int r = byImage.Key;
            var (im, _, place) = set[r];
            // A swap (an order fits) is refused, and so is a peer link: the device would DMA elsewhere than its state expects.
            var refused = byImage.Where(w => fixable.Contains(w.Kind) || w.Kind == SetLinks.Peer).ToArray();
            var noted = byImage.Except(refused).ToArray();
            if (refused.Length > 0)
            {
                string remedy = refused.All(w => fixable.Contains(w.Kind))
                    ? $" The saved links hold with {InOrder()}: give the devices in that order."
                    : " No order of these devices links them as the saved members were.";
                problems.Add(new(place, RestoreOverrides.SetMembership, rem => new StateImageException(im!.Path, "set.links",
                    $"the devices are not linked as the members of set {id} were: {Broken(r, refused)}.{remedy}", VfioErrors.ImageSetOrder, rem)));
            }
            if (noted.Length > 0)
                warnings.Add($"Set {id} is restored onto devices laid out otherwise than the saved members: {Broken(r, noted)}. No order of these devices has those links; check that this is the mapping you mean.");
        }
    }

    /// <summary>An assignment of the given images to the given devices (by rank) under which every link holds, searched in rank order; null when none does or the set is too large to search.</summary>
    private static int[]? MatchingOrder(int n, List<(int From, string Kind, int To)> wanted, Func<(int From, string Kind, int To), int[], bool> holds)
    {
        if (n > 8) return null;
        var onto = new int[n];
        var used = new bool[n];
        bool Place(int r)
        {
            if (r == n) return true;
            for (int t = 0; t < n; t++)
            {
                if (used[t]) continue;
                onto[r] = t;
                used[t] = true;
                if (wanted.All(w => w.From > r || w.To > r || holds(w, onto)) && Place(r + 1)) return true;
                used[t] = false;
            }
            return false;
        }
        return Place(0) ? onto : null;
    }
}
