using System.Management.Automation;
using VfioMigration.Images;
using VfioMigration.Sources;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Reads image files and verifies them whole, with no device involved; a QEMU migration stream or libvirt save
/// file yields one object per VFIO device section in it. Each file stands alone: a damaged or unreadable one is an
/// error for that file, and the others are still read.
/// </summary>
[Cmdlet(VerbsCommon.Get, "VfioStateImage", DefaultParameterSetName = ByPath)]
[OutputType(typeof(VfioStateImage))]
public sealed class GetVfioStateImageCommand : VfioCmdlet
{
    private const string ByPath = "Path";
    private const string ByLiteralPath = "LiteralPath";
    private bool _pathFromCommandLine;

    /// <summary>Image files, QEMU migration streams or libvirt save files. Wildcards are allowed; FileInfo objects from Get-ChildItem bind through FullName.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByPath, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [AllowNull, AllowEmptyString, AllowEmptyCollection]
    [Binding.NotEmpty("an image file path")]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Paths taken as they are: no wildcard characters. File objects bind here (PSPath).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByLiteralPath, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP", "FullName")]
    [AllowNull, AllowEmptyString, AllowEmptyCollection]
    [Binding.NotEmpty("an image file path")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    protected override void Begin() => _pathFromCommandLine = MyInvocation.BoundParameters.ContainsKey(nameof(Path));

    protected override void Process()
    {
        var files = ParameterSetName == ByLiteralPath
            ? LiteralPath.SelectMany(p => this.FilesToRead(p, literal: true))
            : Path.SelectMany(p => this.FilesToRead(p, literal: !_pathFromCommandLine && this.ExistsLiterally(p)));
        foreach (var file in files)
        {
            if (Cancellation.IsCancellationRequested) return;
            try
            {
                var images = DeviceStateSources.Inspect(file, out var damage, Cancellation);
                if (images.Count == 0) WriteVerbose($"{DisplayText.Escape(file)}: the QEMU stream holds no VFIO device section.");
                foreach (var image in images) WriteObject(image);
                if (damage is not null) WriteVfioError(damage, images[0]);
            }
            catch (VfioMigrationException e) { WriteVfioError(e, file); }
            catch (IOException e) { WriteVfioError(FileSystemError.From(e, file, "reading the image", writing: false), file); }
        }
    }
}
