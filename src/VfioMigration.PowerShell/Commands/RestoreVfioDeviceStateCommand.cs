using System.Management.Automation;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Restores image files onto compatible devices: every image is verified whole, and every identity and set check
/// run, before anything is asked or any device is touched (-WhatIf runs those checks: the pre-flight); the devices
/// are left stopped unless -Start. Images of a saved set, or all with -Together, are restored as one set. Asks
/// (beyond ShouldProcess) only before replacing state this session restored earlier.
/// </summary>
[Cmdlet(VerbsData.Restore, "VfioDeviceState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioDevice))]
public sealed class RestoreVfioDeviceStateCommand : DeviceSetCmdlet
{
    /// <summary>Image files, one per target device and in the same order, or one directory holding each device's image under the name Save gives it (0000-3b-00.2.vfiostate). Wildcards are allowed. Binds an image's Path from the pipeline (Get-VfioStateImage).</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [Binding.NotEmpty("an image file path or a directory")]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Image files named exactly, without wildcards (for names with brackets); instead of -Path, not with it. File objects bind here (PSPath).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [Binding.NotEmpty("an image file path")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    private readonly List<(string Path, bool Literal)> _paths = new();
    private bool _pathsFromCommandLine;

    /// <summary>
    /// For a QEMU migration stream or libvirt save file: the VFIO section to restore, by its guest PCI address
    /// ("0000:00:04.0") or idstr ("0000:00:04.0/vfio"). Not needed when the file has one VFIO section.
    /// </summary>
    [Parameter]
    [Binding.NotEmpty("a guest PCI address or idstr of a VFIO section")]
    public string? Section { get; set; }

    /// <summary>Start the devices (Running) after the restore instead of leaving them stopped.</summary>
    [Parameter]
    public SwitchParameter Start { get; set; }

    /// <summary>Restore over a device that holds state restored earlier in this session without asking.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Restore although an image's identity (kind, vendor/device id, driver) differs from its device's. Never skips the checksum or the protocol.</summary>
    [Parameter]
    public SwitchParameter SkipIdentityCheck { get; set; }

    /// <summary>Restore part of a saved set, or a set's images onto its devices in another order than saved.</summary>
    [Parameter]
    public SwitchParameter SkipSetCheck { get; set; }

    protected override void Begin()
    {
        // As on Get-VfioStateImage, where they are two parameter sets: both at once were added up into one list.
        this.RefuseBoth(MyInvocation.BoundParameters.ContainsKey(nameof(Path)), nameof(Path), MyInvocation.BoundParameters.ContainsKey(nameof(LiteralPath)), nameof(LiteralPath));
        _pathsFromCommandLine = MyInvocation.BoundParameters.ContainsKey(nameof(Path)) || MyInvocation.BoundParameters.ContainsKey(nameof(LiteralPath));
        if (_pathsFromCommandLine) Collect(fromPipeline: false);
    }

    protected override void Process()
    {
        base.Process();
        if (!_pathsFromCommandLine) Collect(fromPipeline: true);
    }

    private void Collect(bool fromPipeline)
    {
        foreach (var p in Path) _paths.Add((p, fromPipeline && this.ExistsLiterally(p)));
        foreach (var p in LiteralPath) _paths.Add((p, true));
        if (fromPipeline)
        {
            Path = Array.Empty<string>();
            LiteralPath = Array.Empty<string>();
        }
    }

    protected override void EndProcessing() => RunTerminable(EndProcessingCore);

    private void EndProcessingCore()
    {
        if (_paths.Count == 0)
        {
            WriteVfioError(new VfioMigrationException("No image given: name the images with -Path or -LiteralPath, or pipe them in from Get-VfioStateImage.", VfioErrors.ImagePathInvalid), null);
            return;
        }
        // A path that names nothing is its own error; restoring the rest would split what belongs together.
        var resolved = _paths.Select(p => this.FilesToRead(p.Path, p.Literal)).ToArray();
        if (resolved.Any(r => r.Count == 0)) return;
        var given = resolved.SelectMany(r => r).ToArray();
        // One existing directory, as Save takes: each device's image is the file Save names for it there.
        string? folder = given.Length == 1 && Directory.Exists(given[0]) ? given[0] : null;
        var overrides = (SkipIdentityCheck ? RestoreOverrides.Identity : 0) | (SkipSetCheck ? RestoreOverrides.SetMembership : 0);
        foreach (var (session, devices) in Targets())
        {
            if (devices.Count == 0) continue;
            var images = folder is null ? given : devices.Select(d => System.IO.Path.Combine(folder, SaveVfioDeviceStateCommand.FileName(d.Address))).ToArray();
            if (folder is not null && images.Where(i => !File.Exists(i)).ToArray() is { Length: > 0 } absent)
            {
                // All or nothing, as for a set: name every device whose image the directory lacks, restore none.
                foreach (var (d, image) in devices.Zip(images).Where(x => !File.Exists(x.Second)))
                    WriteVfioError(new VfioMigrationException(
                        $"{d.Address}: no image in {folder}: {System.IO.Path.GetFileName(image)} (the name Save gives its image) does not exist. No device was touched.", VfioErrors.ImageNotFound, d.Address), image);
                continue;
            }
            if (images.Length != devices.Count)
            {
                WriteVfioError(new VfioMigrationException(
                    $"{images.Length} image(s) for {devices.Count} device(s): give one image per device, in the same order.", VfioErrors.ImageCountMismatch), _paths.Select(p => p.Path).ToArray());
                continue;
            }
            // Every target first, then the pre-flight of each restore, and only then a question: nobody is asked
            // about a restore that would be refused.
            var targets = new List<RestoreTarget>();
            var openedToCheck = new List<string>();
            try
            {
                for (int i = 0; i < devices.Count; i++)
                {
                    try
                    {
                        if (!session.IsOpen(devices[i].Address)) openedToCheck.Add(devices[i].Address);
                        targets.Add(new RestoreTarget(session.Migration(devices[i].Address), session.Describe(devices[i]), images[i], Section));
                    }
                    catch (VfioMigrationException e) { WriteVfioError(e, devices[i].Address); }
                }
                bool yesToAll = false, noToAll = false;
                foreach (var group in Groups(targets))
                {
                    if (Cancellation.IsCancellationRequested) return;
                    if (!Preflight(session, group, overrides)) continue;
                    var confirmed = Confirm(session, group, ref yesToAll, ref noToAll);
                    if (confirmed.Count == 0) continue;
                    if (confirmed.Count < group.Count)
                    {
                        // A set restores whole or not at all: a member declined keeps the others as they are.
                        RefuseSet(session, confirmed.Select(t => t.Device.Address), "another device of the set was declined", VfioErrors.SetDeclined);
                        continue;
                    }
                    RestoreSet(session, group, overrides);
                }
            }
            finally
            {
                // A device opened only to be checked (refused, declined, -WhatIf) is closed again, as a look would be.
                foreach (var a in openedToCheck) if (!session.IsHeld(a)) session.Close(a);
            }
        }
    }

    /// <summary>
    /// The pre-flight (-WhatIf runs it too, as Compare-VM does for Import-VM): every problem of every image of the
    /// restore is written, each with the state its device is still in; true when the restore may go ahead.
    /// </summary>
    private bool Preflight(VfioHostSession session, IReadOnlyList<RestoreTarget> group, RestoreOverrides overrides)
    {
        var check = session.CheckRestore(group, overrides, Cancellation);
        foreach (var w in check.Warnings) WriteWarning(w);
        if (check.Passed)
        {
            WriteVerbose($"Pre-flight passed for {string.Join(", ", group.Select(t => t.Device.Address))}: every image verified, identities and set checked.");
            return true;
        }
        foreach (var (target, error) in check.Problems)
        {
            string? address = target is { } i ? group[i].Device.Address : null;
            WriteVfioError(address is null ? error : Untouched(session, error, address), (object?)address ?? group.Select(t => t.Path).ToArray());
        }
        var blamed = check.Problems.Where(p => p.Target is not null).Select(p => p.Target!.Value).ToHashSet();
        if (check.Problems.Any(p => p.Target is null)) return false;
        foreach (var (t, i) in group.Select((t, i) => (t, i)).Where(x => !blamed.Contains(x.i)))
            WriteVfioError(new VfioMigrationException($"{t.Device.Address}: not restored (still {StateText(session, t.Device.Address)}): the images restored with it were refused; they are restored together or not at all.", VfioErrors.RestoreAborted, t.Device.Address), t.Device.Address);
        return false;
    }

    /// <summary>The error with the state its device is still in, said once.</summary>
    private static VfioMigrationException Untouched(VfioHostSession session, VfioMigrationException e, string address)
    {
        string where = $" {address} was not touched and is {StateWords(session, address)}.";
        return e is Images.StateImageException si
            ? new Images.StateImageException(si.Path, si.Field, si.Message[(si.Message.StartsWith(si.Path + ": ", StringComparison.Ordinal) ? si.Path.Length + 2 : 0)..] + where, si.Error, si.Remedy)
            : new VfioMigrationException(e.Message + where, e.Error, e.Device ?? address, e, e.Remedy);
    }

    private static string StateWords(VfioHostSession session, string address)
    {
        string s = StateText(session, address);
        return s.StartsWith("in ", StringComparison.Ordinal) ? s : $"in {s}";
    }

    /// <summary>ShouldProcess for each device of a restore that passed its pre-flight, and the loss question where it replaces restored state.</summary>
    private List<RestoreTarget> Confirm(VfioHostSession session, IReadOnlyList<RestoreTarget> group, ref bool yesToAll, ref bool noToAll)
    {
        var confirmed = new List<RestoreTarget>();
        foreach (var t in group)
        {
            var address = t.Device.Address;
            bool holds = session.HoldsRestoredState(address);
            string replaces = holds ? "; this replaces the state restored into it earlier, which no save has captured" : "";
            if (!this.ShouldProcessOrRefuse(address, $"Restore migration state from {t.Path}{(t.Section is { } section ? $" (VFIO section {section})" : "")}{(Start ? " and start the device" : " (device is left stopped)")}{replaces}")) continue;
            if (holds && !this.ConfirmLoss(Force, address, $"{address} holds state restored earlier that no save has captured; restoring {t.Path} replaces it.",
                    "Replace restored device state", ref yesToAll, ref noToAll))
                continue;
            confirmed.Add(t);
        }
        return confirmed;
    }

    /// <summary>
    /// The restores to run: everything as one with -Together; otherwise each image on its own, except that the
    /// images of one saved set are always restored (and woken) together, as they were saved.
    /// </summary>
    private IEnumerable<IReadOnlyList<RestoreTarget>> Groups(IReadOnlyList<RestoreTarget> targets)
    {
        if (Together) { yield return targets; yield break; }
        var bySet = new Dictionary<Guid, List<RestoreTarget>>();
        var order = new List<object>();
        foreach (var t in targets)
        {
            Guid? set = null;
            try { set = Images.StateImageInspector.ReadSetId(t.Path); } catch (VfioMigrationException) { /* the restore reports the damage */ }
            if (set is { } id)
            {
                if (!bySet.TryGetValue(id, out var members)) { bySet[id] = members = new List<RestoreTarget>(); order.Add(members); }
                members.Add(t);
            }
            else order.Add(t);
        }
        foreach (var o in order)
        {
            if (o is List<RestoreTarget> set)
            {
                if (set.Count > 1) WriteVerbose($"Restoring {string.Join(", ", set.Select(t => t.Device.Address))} as one set: their images were saved as one.");
                yield return set;
            }
            else yield return new[] { (RestoreTarget)o };
        }
    }

    private void RestoreSet(VfioHostSession session, IReadOnlyList<RestoreTarget> targets, RestoreOverrides overrides)
    {
        Transfer("Restoring", targets.Select(t => t.Device.Address).ToArray(),
            progress => session.Restore(targets, Start ? MigrationState.Running : MigrationState.Stop, overrides, progress, Cancellation),
            o => session.Describe(o.Address));
    }
}
