using System.Management.Automation;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Saves devices' migration state to image files. Default stop-and-copy; -Live runs pre-copy rounds first.
/// Each device is saved on its own unless -Together: then the devices are one consistent set (all quiesced
/// before any stops, images linked by a set id). The device is left stopped unless -KeepRunning.
/// </summary>
[Cmdlet(VerbsData.Save, "VfioDeviceState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioStateImage))]
public sealed class SaveVfioDeviceStateCommand : QuiescingSetCmdlet
{
    /// <summary>
    /// One file per device, in order; or one directory, where each image is named after its device. A file about to
    /// be created has no wildcards: the name is taken as it is, so this is also -LiteralPath.
    /// </summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("LiteralPath", "LP")]
    [AllowNull, AllowEmptyString, AllowEmptyCollection]
    [Binding.NotEmpty("an image file path or a directory")]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter]
    public SwitchParameter Live { get; set; }

    [Parameter]
    [Binding.InRange(1, 1000)]
    public int MaxPreCopyRounds { get; set; } = 8;

    /// <summary>-Live: end pre-copy once the expected downtime is at most this many milliseconds.</summary>
    [Parameter]
    [Binding.InRange(1, 3_600_000)]
    public int? MaxDowntimeMs { get; set; }

    /// <summary>Return the device to Running after the save: a checkpoint.</summary>
    [Parameter]
    public SwitchParameter KeepRunning { get; set; }

    /// <summary>Replace existing image files (it asks nothing either way).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void Begin()
    {
        base.Begin();
        this.RequireWith(MyInvocation.BoundParameters.ContainsKey(nameof(MaxDowntimeMs)), "MaxDowntimeMs", Live, "Live");
        this.RequireWith(MyInvocation.BoundParameters.ContainsKey(nameof(MaxPreCopyRounds)), "MaxPreCopyRounds", Live, "Live");
    }

    protected override void EndProcessing() => RunTerminable(EndProcessingCore);

    private void EndProcessingCore()
    {
        foreach (var (session, names) in TargetsByName())
        {
            var pairs = ImagePaths(names);
            if (pairs is null || pairs.Count == 0) continue;
            // Two devices of one call never share a file: checked for the whole call before any device is touched.
            var shared = pairs.GroupBy(p => p.Path, StringComparer.Ordinal).Where(g => g.Count() > 1).SelectMany(g => g).ToArray();
            foreach (var (device, path) in shared)
                WriteVfioError(new VfioMigrationException(
                    $"{device.Address}: not saved (still {StateText(session, device.Address)}): {path} is the image file of {string.Join(" and ", pairs.Where(p => p.Path == path).Select(p => p.Device.Address))}; give each device its own file.",
                    VfioErrors.ImagePathConflict, device.Address), device.Address);
            if (shared.Length > 0) continue;
            var targets = new List<SaveTarget>();
            foreach (var (device, path) in pairs)
            {
                if (!this.ShouldProcessOrRefuse(device.Address, $"Save migration state to {path}{(KeepRunning ? " (device returns to Running)" : " (device is left stopped)")}")) continue;
                try
                {
                    targets.Add(new SaveTarget(session.Migration(device.Address), session.Describe(device), path));
                }
                catch (VfioMigrationException e) { WriteVfioError(e, device.Address); }
            }
            if (Together)
            {
                // A declined member or one that cannot be opened makes the set incomplete: save none of it.
                if (targets.Count != pairs.Count)
                {
                    var missing = pairs.Select(p => p.Device.Address).Except(targets.Select(t => t.Device.Address)).ToArray();
                    RefuseSet(session, targets.Select(t => t.Device.Address),
                        $"{string.Join(", ", missing)} {(missing.Length == 1 ? "is" : "are")} not part of the save", VfioErrors.SetDeclined);
                    continue;
                }
                SaveSet(session, targets);
            }
            else
            {
                if (targets.Count > 1)
                    WriteWarning($"Saving {targets.Count} devices one at a time. If they belong to one VM and can DMA into each other, use -Together for one consistent set.");
                foreach (var t in targets)
                {
                    if (Cancellation.IsCancellationRequested) return;
                    SaveSet(session, new[] { t });
                }
            }
        }
    }

    private void SaveSet(VfioHostSession session, IReadOnlyList<SaveTarget> targets)
    {
        var options = new SaveOptions
        {
            Live = Live,
            MaxPreCopyRounds = MaxPreCopyRounds,
            FinalState = KeepRunning ? MigrationState.Running : MigrationState.Stop,
            MaxDowntime = MaxDowntimeMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
        };
        Transfer("Saving", targets.Select(t => t.Device.Address).ToArray(),
            progress => session.Save(targets, options, overwrite: Force, forceQuiesce: SkipQuiesceCheck, progress, Cancellation),
            o => o.Image);
    }

    /// <summary>
    /// The image file of each device, or null after an error. One existing directory: each device's file in it.
    /// Otherwise one file per name as given, in order: a name that matched nothing drops its file (its error is
    /// already written) so the others still pair up; names with wildcards pair by the devices they matched.
    /// </summary>
    private IReadOnlyList<(DeviceIdentity Device, string Path)>? ImagePaths(IReadOnlyList<(string Name, IReadOnlyList<DeviceIdentity> Devices)> names)
    {
        var files = Path.Select(p => this.FileToWrite(p)).ToArray();
        if (files.Any(f => f is null)) return null;
        var resolved = files.Select(f => f!).ToArray();
        var devices = names.SelectMany(n => n.Devices).DistinctBy(d => d.Address).ToArray();
        if (resolved.Length == 1 && Directory.Exists(resolved[0]))
            return devices.Select(d => (d, System.IO.Path.Combine(resolved[0], FileName(d.Address)))).ToArray();
        if (resolved.Length == names.Count && names.All(n => !WildcardPattern.ContainsWildcardCharacters(n.Name)))
            return names.Select((n, i) => (n.Devices, Path: resolved[i])).Where(x => x.Devices.Count == 1).Select(x => (x.Devices[0], x.Path)).ToArray();
        if (resolved.Length == devices.Length) return devices.Zip(resolved).ToArray();
        foreach (var d in devices)
            WriteVfioError(new VfioMigrationException(
                $"{d.Address}: not saved: {devices.Length} device(s) but {resolved.Length} path(s); give one file per device, in the same order, or one existing directory.", VfioErrors.ImageCountMismatch, d.Address), d.Address);
        return null;
    }

    /// <summary>0000:3b:00.2 → 0000-3b-00.2.vfiostate (no colons, which some tools mishandle).</summary>
    public static string FileName(string address) => address.Replace(':', '-') + Images.StateImageFormat.FileExtension;
}
