using System.Management.Automation;
using VfioMigration.PowerShell.Errors;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// The conformance suite as a Pester container file shipped in the module folder
/// (<c>VfioMigration.ConformanceSuite.ps1</c>), for
/// <c>Invoke-Pester -Container (New-PesterContainer -Path (Get-VfioConformanceSuite) -Data @{ Address = ... })</c>.
/// </summary>
[Cmdlet(VerbsCommon.Get, "VfioConformanceSuite")]
[OutputType(typeof(FileInfo))]
public sealed class GetVfioConformanceSuiteCommand : PSCmdlet
{
    public const string FileName = "VfioMigration.ConformanceSuite.ps1";

    protected override void EndProcessing()
    {
        string folder = Path.GetDirectoryName(typeof(GetVfioConformanceSuiteCommand).Assembly.Location) ?? "";
        var file = new FileInfo(Path.Combine(folder, FileName));
        if (!file.Exists)
            this.Terminate(ErrorRecords.For(new VfioMigrationException($"The conformance suite {file.FullName} is missing from the module folder; rebuild or reinstall the module.", VfioErrors.ConformanceSuiteMissing), file.FullName));
        // As the FileSystem provider gives it (Get-Item): with PSParentPath and the provider's members, the file
        // view shows its folder, mode and size; a bare FileInfo printed as a blank row.
        var items = InvokeProvider.Item.Get(new[] { file.FullName }, force: false, literalPath: true);
        WriteObject(items.Count == 1 ? items[0] : file);
    }
}
