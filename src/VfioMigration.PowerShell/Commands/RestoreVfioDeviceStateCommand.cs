using System.Management.Automation;
using VfioMigration.Migration;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Restores image files onto compatible devices: every image is verified whole before any device is touched;
/// the devices are left stopped unless -Start. Images of a set are restored together.
/// </summary>
[Cmdlet(VerbsData.Restore, "VfioDeviceState", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioDevice))]
public sealed class RestoreVfioDeviceStateCommand : DeviceTargetCmdlet
{
    /// <summary>Image files, one per target device and in the same order. Wildcards are allowed. Binds an image's Path from the pipeline (Get-VfioStateImage).</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Image files named exactly, without wildcards (for names with brackets). File objects bind here (PSPath).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    private readonly List<(string Path, bool Literal)> _paths = new();
    private bool _pathsFromCommandLine;

    /// <summary>Start the devices (Running) after the restore instead of leaving them stopped.</summary>
    [Parameter]
    public SwitchParameter Start { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Restore even when an image's identity (kind, ids, driver) differs or its set is incomplete; never skips the checksum.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void BeginProcessing()
    {
        _pathsFromCommandLine = MyInvocation.BoundParameters.ContainsKey(nameof(Path)) || MyInvocation.BoundParameters.ContainsKey(nameof(LiteralPath));
        if (_pathsFromCommandLine) Collect(fromPipeline: false);
    }

    protected override void ProcessRecord()
    {
        base.ProcessRecord();
        if (!_pathsFromCommandLine) Collect(fromPipeline: true);
    }

    private void Collect(bool fromPipeline)
    {
        foreach (var p in Path) _paths.Add((p, fromPipeline && ExistsLiterally(p)));
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
            WriteVfioError(new VfioMigrationException("No image given: name the images with -Path or -LiteralPath, or pipe them in from Get-VfioStateImage.", "ImagePathInvalid"), null);
            return;
        }
        // A path that names nothing is its own error; restoring the rest would split what belongs together.
        var resolved = _paths.Select(p => FilesToRead(p.Path, p.Literal)).ToArray();
        if (resolved.Any(r => r.Count == 0)) return;
        var images = resolved.SelectMany(r => r).ToArray();
        foreach (var (session, devices) in Targets())
        {
            if (devices.Count == 0) continue;
            if (images.Length != devices.Count)
            {
                WriteVfioError(new VfioMigrationException(
                    $"{images.Length} image(s) for {devices.Count} device(s): give one image per device, in the same order.", "ImageCountMismatch"), _paths.Select(p => p.Path).ToArray());
                continue;
            }
            var targets = new List<RestoreTarget>();
            for (int i = 0; i < devices.Count; i++)
            {
                var address = devices[i].Address;
                if (!ShouldProcess(address, $"Restore migration state from {images[i]}{(Start ? " and start the device" : " (device is left stopped)")}")) continue;
                try
                {
                    var migration = session.Migration(address);
                    var description = session.Describe(devices[i]);
                    if (description.State is { } s && TransitionPlanner.IsRunning(s) && !Force
                        && !ShouldContinue($"{address} is running ({s}); restoring replaces its current state. Continue?", "Restore over a running device"))
                        continue;
                    targets.Add(new RestoreTarget(migration, description, images[i]));
                }
                catch (VfioMigrationException e) { WriteVfioError(e, address); }
            }
            if (targets.Count == 0) continue;
            var progress = new TransferProgress(this, "Restoring", targets.Select(t => t.Device.Address).ToArray());
            IReadOnlyList<DeviceOutcome> outcomes;
            try
            {
                outcomes = session.Restore(targets, Start ? MigrationState.Running : MigrationState.Stop, Force, progress, Cancellation);
            }
            finally
            {
                progress.Complete();
            }
            DrainLogQuietly();
            foreach (var o in outcomes)
            {
                if (o.Error is { } e) WriteVfioError(e, o.Address);
                else if (PassThru) WriteObject(session.Describe(o.Address));
            }
        }
    }
}
