using System.Management.Automation;
using VfioMigration.Sources;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Writes saved device state into a QEMU migration stream for QEMU to load on an incoming migration. A stream is
/// not built from nothing: the template is a stream QEMU wrote for the same VM configuration, and only its VFIO
/// section's device data is replaced; everything else is copied byte for byte. Every path names one file: a
/// pattern that matches several is refused, never narrowed to one of them.
/// </summary>
[Cmdlet(VerbsData.Export, "VfioQemuStream", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = ByPath)]
[OutputType(typeof(VfioStateImage))]
public sealed class ExportVfioQemuStreamCommand : VfioCmdlet
{
    private const string ByPath = "Path";
    private const string ByLiteralPath = "LiteralPath";
    private bool _pathFromCommandLine;

    /// <summary>The saved device state: an image file, or a QEMU stream or libvirt save file (then -SourceSection picks its section). Wildcards are allowed if they match one file. Binds an image's Path from the pipeline (Get-VfioStateImage).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByPath, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [AllowNull, AllowEmptyString]
    [Binding.NotEmpty("the path of an image file, QEMU stream or libvirt save file")]
    public string Path { get; set; } = "";

    /// <summary>The saved state's file named exactly, without wildcards (for names with brackets). File objects bind here (PSPath).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByLiteralPath, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [AllowNull, AllowEmptyString]
    [Binding.NotEmpty("the path of an image file, QEMU stream or libvirt save file")]
    public string LiteralPath { get; set; } = "";

    /// <summary>A stream QEMU wrote for the same VM configuration (migrate to file:, or an uncompressed libvirt save file) whose VFIO section is of the same device (PCI vendor and device id). Taken as it is, without wildcards, like -Destination: a template names one VM's stream.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [Alias("LiteralTemplate")]
    [AllowNull, AllowEmptyString]
    [Binding.NotEmpty("the path of a QEMU stream")]
    public string Template { get; set; } = "";

    /// <summary>The file to write (mode 0600, written whole or not at all). An existing file is replaced only with -Force.</summary>
    [Parameter(Mandatory = true, Position = 2)]
    [AllowNull, AllowEmptyString]
    [Binding.NotEmpty("the path of the file to write")]
    public string Destination { get; set; } = "";

    /// <summary>The template's VFIO section to write into, by guest PCI address ("0000:00:04.0") or idstr; not needed when it has one.</summary>
    [Parameter]
    [Binding.NotEmpty("a guest PCI address or idstr of a VFIO section")]
    public string? Section { get; set; }

    /// <summary>When -Path is a QEMU stream or libvirt save file: the VFIO section to take the device data from.</summary>
    [Parameter]
    [Binding.NotEmpty("a guest PCI address or idstr of a VFIO section")]
    public string? SourceSection { get; set; }

    /// <summary>Replace an existing destination file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Writes the state even where its identity cannot be checked against the template's section (an mdev's image records its type, not the PCI vendor/device id the section carries) or differs from it. The protocol and a damaged source or template are never overridden.</summary>
    [Parameter]
    public SwitchParameter SkipIdentityCheck { get; set; }

    /// <summary>Write the stream's description (a VfioStateImage, as Get-VfioStateImage reads it back) to the pipeline; without it the cmdlet writes nothing.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Begin() => _pathFromCommandLine = MyInvocation.BoundParameters.ContainsKey(nameof(Path));

    // Writes a file of up to the device's whole state: SIGTERM and SIGHUP clean up as Ctrl+C does.
    protected override void Process() => RunTerminable(ProcessRecordCore);

    private void ProcessRecordCore()
    {
        var source = ParameterSetName == ByLiteralPath
            ? this.FileToRead(LiteralPath, literal: true, "-LiteralPath")
            : this.FileToRead(Path, literal: !_pathFromCommandLine && this.ExistsLiterally(Path), "-Path");
        var template = this.FileToRead(Template, literal: true, "-Template");
        var destination = this.FileToWrite(Destination);
        if (source is null || template is null || destination is null) return;
        if (!this.ShouldProcessOrRefuse(destination, $"Write the device data of {source} into a copy of the QEMU stream {template}")) return;
        try
        {
            var written = QemuStreamExport.Write(source, template, destination, Section, SourceSection, Force, Cancellation, SkipIdentityCheck);
            if (PassThru) WriteObject(written);
        }
        catch (VfioMigrationException e) { WriteVfioError(e, destination); }
        catch (IOException e) { WriteVfioError(new VfioMigrationException($"{destination}: {e.Message}", VfioErrors.ImageWriteFailed, null, e), destination); }
    }
}
