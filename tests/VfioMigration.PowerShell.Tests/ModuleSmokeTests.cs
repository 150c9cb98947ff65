namespace VfioMigration.PowerShell.Tests;

public sealed class ModuleSmokeTests : IDisposable
{
    private readonly Engine _ps = new();

    [Fact]
    public void TheManifestLoadsAndExportsExactlyTheCmdlets()
    {
        var names = _ps.Ok("(Get-Command -Module VfioMigration).Name").Select(o => o.ToString()).OrderBy(n => n).ToArray();
        Assert.Equal(new[] { "Add-VfioSimulatedFault", "Clear-VfioSimulatedFault", "Export-VfioQemuStream", "Get-VfioConformanceSuite", "Get-VfioDevice", "Get-VfioStateImage", "New-VfioSimulatedDevice", "Remove-VfioSimulatedDevice", "Reset-VfioDevice", "Restore-VfioDeviceState", "Save-VfioDeviceState", "Set-VfioDeviceState", "Test-VfioMigration", "Test-VfioMigrationConformance" }, names);
    }

    public void Dispose() => _ps.Dispose();
}
