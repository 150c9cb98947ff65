using System.Management.Automation;
using VfioMigration.Protocol;

#pragma warning disable CA1416 // the module and its tests run on Linux

namespace VfioMigration.PowerShell.Tests;

/// <summary>
/// Issue 17 item 11: the smaller things a new user tripped over, each as the user met it in the cmdlets.
/// </summary>
public sealed class NewcomerReportTests : IDisposable
{
    private readonly Engine _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("vfio-newcomer-").FullName;

    private string P(string name) => Path.Combine(_dir, name);
    private string StateOf(string address) => _ps.Ok($"(Get-VfioDevice -Simulated {address}).State").Single().ToString()!;

    public static TheoryData<string> Cmdlets => new(HelpAndCompletionTests.Cmdlets);

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void EveryCmdletsHelpHasRelatedLinksAndAnOnlineUri(string cmdlet)
    {
        string projectUri = _ps.Ok("(Get-Module VfioMigration).PrivateData.PSData.ProjectUri").Single().ToString()!;
        Assert.StartsWith("https://", projectUri);
        var links = _ps.Ok($"@((Get-Help {cmdlet}).relatedLinks.navigationLink)").Select(o => ((string)((dynamic)o).linkText, (string)((dynamic)o).uri)).ToArray();
        // The first link is the online version (Get-Help -Online opens it), then the cmdlets of the same task.
        Assert.StartsWith(projectUri, links[0].Item2);
        Assert.Contains(links, l => l.Item1 == "about_VfioMigration");
        Assert.Contains(links, l => l.Item1.Contains("-Vfio", StringComparison.Ordinal) && l.Item1 != cmdlet);
        string full = string.Join("\n", _ps.Ok($"Get-Help {cmdlet} -Full | Out-String -Width 200 -Stream"));
        string related = full[full.IndexOf("RELATED LINKS", StringComparison.Ordinal)..];
        Assert.Contains("Online Version: " + links[0].Item2, related);
        Assert.Contains("about_VfioMigration", related);
    }

    [Fact]
    public void GetVfioConformanceSuiteShowsTheFileAsGetItemDoes()
    {
        string path = _ps.Ok("(Get-VfioConformanceSuite).FullName").Single().ToString()!;
        string shown = string.Join("\n", _ps.Ok("Get-VfioConformanceSuite | Out-String -Width 150 -Stream"));
        Assert.Contains("Directory: " + Path.GetDirectoryName(path), shown);
        Assert.Contains(new FileInfo(path).Length.ToString(System.Globalization.CultureInfo.InvariantCulture), shown);
        Assert.Equal(string.Join("\n", _ps.Ok($"Get-Item -LiteralPath '{path}' | Out-String -Width 150 -Stream")), shown);
    }

    [Fact]
    public void AFailedSavesProgressEndsWithAFailureStatus()
    {
        var (_, ps) = _ps.Run($"Save-VfioDeviceState -Simulated 0000:d8:00.0 -Path '{P("plain.vfiostate")}' -Confirm:$false");
        Assert.Single(ps.Streams.Error);
        var last = ps.Streams.Progress.Last(p => p.Activity == "Saving 0000:d8:00.0");
        Assert.Equal(ProgressRecordType.Completed, last.RecordType);
        Assert.StartsWith("failed", last.StatusDescription, StringComparison.Ordinal);
        var (_, ok) = _ps.Run($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}' -Confirm:$false");
        Assert.Empty(ok.Streams.Error);
        Assert.Equal("done", ok.Streams.Progress.Last(p => p.Activity == "Saving 0000:5e:00.1").StatusDescription);
    }

    [Fact]
    public void ALiveSavesProgressHasATotalInEveryPhase()
    {
        var (_, ps) = _ps.Run($"Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path '{P("live.vfiostate")}' -Live -Confirm:$false");
        Assert.Empty(ps.Streams.Error);
        var updates = ps.Streams.Progress.Where(p => p.Activity == "Saving 0000:3b:00.2" && p.RecordType == ProgressRecordType.Processing).ToArray();
        Assert.Contains(updates, u => u.StatusDescription.StartsWith("pre-copy", StringComparison.Ordinal));
        Assert.All(updates, u => Assert.Contains(" of ", u.StatusDescription, StringComparison.Ordinal));
        Assert.All(updates, u => Assert.InRange(u.PercentComplete, 0, 100));
    }

    [Fact]
    public void SetMembersAreNumberedFromOneInErrorsAsInSetPosition()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path '{_dir}' -Together -Confirm:$false");
        Assert.Equal(new[] { "1/2", "2/2" }, _ps.Ok($"(Get-VfioStateImage '{P("*.vfiostate")}').SetPosition").Select(o => o.ToString()));
        // The images swapped: the first device is given member 2's image.
        var e = _ps.OneError($"Restore-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path '{P("0000-3b-00.3.vfiostate")}', '{P("0000-3b-00.2.vfiostate")}' -Together -Confirm:$false");
        Assert.Contains("member 2/2", e.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("which is member 1/2", e.Exception.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("member 0", e.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADamagedImageShowsNothingThatWasNotRead()
    {
        File.WriteAllBytes(P("damaged.vfiostate"), new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 });
        var image = _ps.Value<VfioStateImage>($"Get-VfioStateImage '{P("damaged.vfiostate")}'");
        Assert.False(image.IsValid);
        Assert.NotNull(image.Problem);
        Assert.Equal(8, image.FileBytes);
        Assert.Null(image.Kind);
        Assert.Null(image.Protocol);
        Assert.Null(image.Created);
        Assert.Null(image.DataBytes);
        Assert.Null(image.FormatVersion);
        Assert.Null(image.Downtime);
        string row = _ps.Ok($"Get-VfioStateImage '{P("damaged.vfiostate")}' | Out-String -Width 150 -Stream").Select(o => o.ToString()!).Single(l => l.StartsWith("damaged.vfiostate", StringComparison.Ordinal));
        Assert.DoesNotContain("0 B", row, StringComparison.Ordinal);
        Assert.DoesNotContain("0.0 ms", row, StringComparison.Ordinal);
        string list = string.Join("\n", _ps.Ok($"Get-VfioStateImage '{P("damaged.vfiostate")}' | Format-List * | Out-String -Width 150 -Stream"));
        Assert.DoesNotContain("0001", list, StringComparison.Ordinal);
        Assert.DoesNotContain(": Pci", list, StringComparison.Ordinal);
    }

    [Fact]
    public void RestoreTakesADirectoryAsSaveDoes()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{_dir}' -Confirm:$false");
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Running -Confirm:$false");
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{_dir}' -Start -Confirm:$false");
        Assert.Equal("Running", StateOf("0000:5e:00.1"));
        // A set, saved into the directory and restored from it.
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path '{_dir}' -Together -Confirm:$false");
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path '{_dir}' -Together -Start -Confirm:$false");
        Assert.Equal("Running", StateOf("0000:3b:00.3"));
        // A device whose file the directory does not hold: said so, by name.
        var e = _ps.OneError($"Restore-VfioDeviceState -Simulated 0000:af:00.1 -Path '{_dir}' -Confirm:$false");
        Assert.Contains("0000-af-00.1.vfiostate", e.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TestVfioMigrationTogetherShowsEveryMemberOfARefusedSetAsNotMigratable()
    {
        var results = _ps.Ok("Test-VfioMigration -Simulated 0000:3b:00.2, 0000:d8:00.0 -Together").Select(o => (VfioMigrationReadiness)o.BaseObject).ToArray();
        Assert.All(results, r => Assert.False(r.CanMigrate, r.Name));
        var member = results.Single(r => r.Name == "0000:3b:00.2");
        Assert.Contains(member.Blockers, b => b.Severity == BlockerSeverity.Blocker && b.Cause.Contains("0000:d8:00.0", StringComparison.Ordinal));
        Assert.False(member.CanMigrateLive);
        // Alone, the same device can migrate: the set is what is refused.
        Assert.True(_ps.Value<VfioMigrationReadiness>("Test-VfioMigration -Simulated 0000:3b:00.2").CanMigrate);
    }

    [Fact]
    public void RemoveModuleHonoursWarningAction()
    {
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop -Confirm:$false");
        var (_, ps) = _ps.Run("Remove-Module VfioMigration -WarningAction SilentlyContinue");
        Assert.Empty(ps.Streams.Warning);
        Assert.DoesNotContain("Closing simulated device", _ps.Host.Written, StringComparison.Ordinal);
        // Without it the warning is there, on Remove-Module's own warning stream (so -WarningVariable has it).
        _ps.Ok($"Import-Module '{Engine.Manifest}'; Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop -Confirm:$false");
        var (captured, again) = _ps.Run("Remove-Module VfioMigration -WarningVariable w -WarningAction SilentlyContinue; $w");
        Assert.Empty(again.Streams.Warning);
        Assert.Contains("Closing simulated device 0000:5e:00.1", string.Join("\n", captured.Select(o => o.ToString())), StringComparison.Ordinal);
    }

    [Fact]
    public void APlainVfioPciSaveSaysTheDeviceHasNoMigration()
    {
        var e = _ps.OneError($"Save-VfioDeviceState -Simulated 0000:d8:00.0 -Path '{P("plain.vfiostate")}' -Confirm:$false");
        Assert.DoesNotContain("could not be read", e.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("0000:d8:00.0 has no migration state", e.Exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SimulatedDevicesDefaultToADriverThatCanMigrateUnlessMadePlainVfioPci()
    {
        var d = _ps.Value<VfioDevice>("New-VfioSimulatedDevice -Address 0000:01:00.0 -Confirm:$false");
        Assert.NotEqual("vfio-pci", d.Driver);
        Assert.Equal(MigrationProtocol.V2, d.Protocol);
        var plain = _ps.Value<VfioDevice>("New-VfioSimulatedDevice -Address 0000:01:00.1 -Driver vfio-pci -Confirm:$false");
        Assert.Equal(MigrationProtocol.None, plain.Protocol);
        Assert.Contains(_ps.Value<VfioMigrationReadiness>("Test-VfioMigration -Simulated 0000:01:00.1").Blockers, b => b.Code == "PlainVfioPci");
        var e = _ps.OneError("New-VfioSimulatedDevice -Address 0000:01:00.2 -Driver vfio-pci -Protocol V2 -Confirm:$false");
        Assert.Contains("InvalidSimulatedDevice", e.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Contains("vfio-pci", e.Exception.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
