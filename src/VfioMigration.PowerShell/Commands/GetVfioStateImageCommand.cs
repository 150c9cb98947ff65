using System.Management.Automation;
using VfioMigration.Images;

namespace VfioMigration.PowerShell.Commands;

/// <summary>Reads image files and verifies them whole, with no device involved.</summary>
[Cmdlet(VerbsCommon.Get, "VfioStateImage")]
[OutputType(typeof(VfioStateImage))]
public sealed class GetVfioStateImageCommand : VfioCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    protected override void ProcessRecord()
    {
        foreach (var file in Path.SelectMany(FilesToRead))
        {
            if (Cancellation.IsCancellationRequested) return;
            try
            {
                var image = StateImageInspector.Inspect(file, out var damage, Cancellation);
                WriteObject(image);
                if (damage is not null) WriteVfioError(damage, image);
            }
            catch (VfioMigrationException e) { WriteVfioError(e, file); }
            catch (IOException e) { WriteVfioError(new VfioMigrationException($"{file}: {e.Message}", "ImageReadFailed", null, e), file); }
        }
    }
}
