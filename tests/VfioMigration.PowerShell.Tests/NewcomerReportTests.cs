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
        var links = _ps.Ok($"(Get-Help {cmdlet}).relatedLinks.navigationLink | ForEach-Object {{ \"$($_.linkText)|$($_.uri)\" }}")
            .Select(o => o.ToString().Split('|')).Select(p => (p[0].Trim(), p[1].Trim())).ToArray();
        // The first link is the online version (Get-Help -Online opens it), then the cmdlets of the same task.
        Assert.StartsWith(projectUri, links[0].Item2);
        Assert.Contains(links, l => l.Item1 == "about_VfioMigration");
        Assert.Contains(links, l => l.Item1.Contains("-Vfio", StringComparison.Ordinal) && l.Item1 != cmdlet);
        Assert.Equal("Online Version:", links[0].Item1);
        // How Get-Help -Full shows them is checked in real pwsh (tests/Newcomer.Tests.ps1).
    }

    [Fact]
    public void TheModuleFolderCarriesTheDocsTheAboutTopicRefersTo()
    {
        string about = File.ReadAllText(Path.Combine(Engine.ModuleDirectory, "en-US", "about_VfioMigration.help.txt"));
        var named = System.Text.RegularExpressions.Regex.Matches(about, @"docs/[\w-]+\.md").Select(m => m.Value).Distinct().ToArray();
        Assert.NotEmpty(named);
        Assert.All(named, d => Assert.True(File.Exists(Path.Combine(Engine.ModuleDirectory, d)), $"{d} is named by about_VfioMigration but not in the module folder"));
        Assert.All(Directory.GetFiles(Path.Combine(Engine.RepositoryRoot, "docs"), "*.md"),
            d => Assert.True(File.Exists(Path.Combine(Engine.ModuleDirectory, "docs", Path.GetFileName(d))), d));
    }

    [Fact]
    public void GetVfioConformanceSuiteShowsTheFileAsGetItemDoes()
    {
        // The provider's item, as Get-Item gives it (its view is checked in real pwsh, tests/Newcomer.Tests.ps1).
        var suite = _ps.Ok("Get-VfioConformanceSuite").Single();
        Assert.IsType<FileInfo>(suite.BaseObject);
        Assert.Equal("FileSystem", ((ProviderInfo)suite.Properties["PSProvider"].Value).Name);
        Assert.Equal(Path.GetDirectoryName(((FileInfo)suite.BaseObject).FullName), suite.Properties["PSParentPath"].Value.ToString()!.Split("::")[^1]);
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
        var (_, ps) = _ps.Run($"Restore-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path '{P("0000-3b-00.3.vfiostate")}', '{P("0000-3b-00.2.vfiostate")}' -Together -Confirm:$false");
        string messages = string.Join("\n", ps.Streams.Error.Select(e => e.Exception.Message));
        Assert.Contains("the image is member 2/2 of set", messages, StringComparison.Ordinal);
        Assert.Contains("which is member 1/2", messages, StringComparison.Ordinal);
        Assert.DoesNotContain("member 0", messages, StringComparison.Ordinal);
    }

    [Fact]
    public void ADamagedImageShowsNothingThatWasNotRead()
    {
        File.WriteAllBytes(P("damaged.vfiostate"), new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 });
        // Listed with its error (ImageInvalid), as Get-VfioStateImage lists every image it was given.
        var image = _ps.Value<VfioStateImage>($"Get-VfioStateImage '{P("damaged.vfiostate")}' -ErrorAction SilentlyContinue");
        Assert.False(image.IsValid);
        Assert.NotNull(image.Problem);
        Assert.Equal(8, image.FileBytes);
        // What the header or summary would have said is absent, not a zero, a 0001-01-01 date or the first enum value.
        var unread = _ps.Ok($"$i = Get-VfioStateImage '{P("damaged.vfiostate")}' -ErrorAction SilentlyContinue; foreach ($p in 'Kind', 'Protocol', 'Created', 'DataBytes', 'FormatVersion', 'Downtime', 'Duration', 'PreCopyRounds', 'PreCopyBytes') {{ \"$p=$($null -eq $i.$p)\" }}")
            .Select(o => o.ToString()).ToArray();
        Assert.All(unread, u => Assert.EndsWith("=True", u, StringComparison.Ordinal));
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
