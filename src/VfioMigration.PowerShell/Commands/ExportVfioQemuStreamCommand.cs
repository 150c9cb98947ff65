using System.Management.Automation;
using VfioMigration.Sources;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Writes saved device state into a QEMU migration stream for QEMU to load on an incoming migration. A stream is
/// not built from nothing: the template is a stream QEMU wrote for the same VM configuration, and only its VFIO
/// section's device data is replaced; everything else is copied byte for byte.
/// </summary>
[Cmdlet(VerbsData.Export, "VfioQemuStream", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(VfioStateImage))]
public sealed class ExportVfioQemuStreamCommand : VfioCmdlet
{
    /// <summary>The saved device state: an image file, or a QEMU stream or libvirt save file (then -SourceSection picks its section).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [AllowNull, AllowEmptyString]
    [Binding.NotEmpty("the path of an image file, QEMU stream or libvirt save file")]
    public string Path { get; set; } = "";

    /// <summary>A stream QEMU wrote for the same VM configuration (migrate to file:, or an uncompressed libvirt save file) whose VFIO section is of the same device (PCI vendor and device id).</summary>
    [Parameter(Mandatory = true, Position = 1)]
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

    protected override void Process()
    {
        var source = this.FilesToRead(Path).FirstOrDefault();
        var template = this.FilesToRead(Template).FirstOrDefault();
        var destination = this.FileToWrite(Destination);
        if (source is null || template is null || destination is null) return;
        if (!this.ShouldProcessOrRefuse(destination, $"Write the device data of {source} into a copy of the QEMU stream {template}")) return;
        try
        {
            WriteObject(QemuStreamExport.Write(source, template, destination, Section, SourceSection, Force, Cancellation, SkipIdentityCheck));
        }
        catch (VfioMigrationException e) { WriteVfioError(e, destination); }
        catch (IOException e) { WriteVfioError(new VfioMigrationException($"{destination}: {e.Message}", VfioErrors.ImageWriteFailed, null, e), destination); }
    }
}
