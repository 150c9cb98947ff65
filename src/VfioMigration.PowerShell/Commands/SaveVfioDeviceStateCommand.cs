using System.Management.Automation;
using VfioMigration.Migration;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Saves devices' migration state to image files. Default stop-and-copy; -Live runs pre-copy rounds first.
/// Each device is saved on its own unless -Together: then the devices are one consistent set (all quiesced
/// before any stops, images linked by a set id). The device is left stopped unless -KeepRunning.
/// </summary>
[Cmdlet(VerbsData.Save, "VfioDeviceState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioStateImage))]
public sealed class SaveVfioDeviceStateCommand : DeviceTargetCmdlet
{
    /// <summary>One file per device, in order; or one directory, where each image is named after its device.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter]
    public SwitchParameter Live { get; set; }

    [Parameter]
    [ValidateRange(1, 1000)]
    public int MaxPreCopyRounds { get; set; } = 8;

    /// <summary>-Live: end pre-copy once the expected downtime is at most this many milliseconds.</summary>
    [Parameter]
    [ValidateRange(1, 3_600_000)]
    public int? MaxDowntimeMs { get; set; }

    /// <summary>Return the device to Running after the save: a checkpoint.</summary>
    [Parameter]
    public SwitchParameter KeepRunning { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Replace existing image files (it asks nothing either way).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>The devices are one set (one VM's devices): one consistent cut, images linked by a set id.</summary>
    [Parameter]
    public SwitchParameter Together { get; set; }

    /// <summary>With -Together: save the set although a device cannot quiesce peer-to-peer DMA (a warning says which).</summary>
    [Parameter]
    public SwitchParameter SkipQuiesceCheck { get; set; }

    protected override void EndProcessing()
    {
        foreach (var (session, devices) in Targets())
        {
            if (devices.Count == 0) continue;
            var paths = ImagePaths(devices.Select(d => d.Address).ToArray());
            if (paths is null) continue;
            var targets = new List<SaveTarget>();
            for (int i = 0; i < devices.Count; i++)
            {
                if (!ShouldProcess(devices[i].Address, $"Save migration state to {paths[i]}{(KeepRunning ? " (device returns to Running)" : " (device is left stopped)")}")) continue;
                try
                {
                    targets.Add(new SaveTarget(session.Migration(devices[i].Address), session.Describe(devices[i]), paths[i]));
                }
                catch (VfioMigrationException e) { WriteVfioError(e, devices[i].Address); }
            }
            if (Together) SaveSet(session, targets);
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

    private void SaveSet(Inventory.VfioHostSession session, IReadOnlyList<SaveTarget> targets)
    {
        if (targets.Count == 0) return;
        var progress = new TransferProgress(this, "Saving", targets.Select(t => t.Device.Address).ToArray());
        IReadOnlyList<DeviceOutcome> outcomes;
        try
        {
            var options = new SaveOptions
            {
                Live = Live, MaxPreCopyRounds = MaxPreCopyRounds, FinalState = KeepRunning ? MigrationState.Running : MigrationState.Stop,
                MaxDowntime = MaxDowntimeMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
            };
            outcomes = session.Save(targets, options, overwrite: Force, forceQuiesce: SkipQuiesceCheck, progress, Cancellation);
        }
        finally
        {
            progress.Complete();
        }
        DrainLogQuietly();
        foreach (var o in outcomes)
        {
            if (o.Error is { } e) WriteVfioError(e, o.Address);
            else if (PassThru) WriteObject(o.Image);
        }
    }

    /// <summary>The image file for each device, or null after an error.</summary>
    private string[]? ImagePaths(string[] addresses)
    {
        var resolved = Path.Select(FileToWrite).ToArray();
        if (resolved.Length == 1 && Directory.Exists(resolved[0]))
            return addresses.Select(a => System.IO.Path.Combine(resolved[0], FileName(a))).ToArray();
        if (resolved.Length == addresses.Length) return resolved;
        WriteVfioError(new VfioMigrationException(
            $"{addresses.Length} device(s) but {resolved.Length} path(s): give one file per device, in the same order, or one existing directory.", "ImageCountMismatch"), Path);
        return null;
    }

    /// <summary>0000:3b:00.2 → 0000-3b-00.2.vfiostate (no colons, which some tools mishandle).</summary>
    public static string FileName(string address) => address.Replace(':', '-') + Images.StateImageFormat.FileExtension;
}
