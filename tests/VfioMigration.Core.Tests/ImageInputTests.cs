using System.Text;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// Issue 17 item 14: inputs that gave raw exceptions. Each is a module error or works: a device named twice in one
/// set, a checksum-valid image whose summary holds a duration no TimeSpan can hold, and file names up to NAME_MAX
/// (255 bytes), whose temporary and lock names must fit the same limit.
/// </summary>
public class ImageInputTests
{
    [Fact]
    public void ADeviceNamedTwiceInASetSaveIsAModuleErrorBeforeAnyFileOrDeviceIsTouched()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var outcomes = DeviceSetSaver.Save(new[] { f.Save(a.Address, "x.vfiostate"), f.Save(a.Address, "y.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(outcomes, o => Assert.Equal("DeviceListedTwice", o.Error!.ErrorId));
        Assert.Contains(a.Address, outcomes[0].Error!.Message);
        Assert.Empty(f.Files);
        Assert.Empty(a.ArcHistory);
        // Nothing was left behind that blocks the next save.
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(a.Address, "x.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
    }

    [Fact]
    public void ASetStateChangeNamingADeviceTwiceIsAModuleError()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var d = f.Session.Migration(a.Address);
        var e = Assert.Throws<VfioMigrationException>(() => DeviceSetTransition.Plan(new[] { (d, MigrationState.Running), (d, MigrationState.Running) }, MigrationState.Stop, force: false));
        Assert.Equal("DeviceListedTwice", e.ErrorId);
    }

    /// <summary>Every save leaves its temporary files behind when something other than a module error escapes it: never.</summary>
    [Fact]
    public void ANonModuleFailureInsideASaveStillRemovesTheTemporaryAndLockFiles()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        var progress = new Progress(_ => throw new InvalidOperationException("a progress handler that fails"));
        Assert.Throws<InvalidOperationException>(() => DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions { ChunkSize = 16 * 1024 }, false, false, progress));
        Assert.Empty(f.Files);
    }

    private sealed class Progress(Action<SaveProgress> report) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => report(value);
    }

    private static byte[] ImageWithSummary(ImageFixture f, string address, StateImageSummary summary)
    {
        var ms = new MemoryStream();
        var w = new StateImageWriter(ms, new StateImageHeader { Created = DateTimeOffset.UtcNow, Host = "h", Tool = "t", Device = ImageDevice.From(f.Session.Describe(address)) });
        w.WriteChunk(new byte[] { 1, 2, 3 });
        w.Finish(summary);
        return ms.ToArray();
    }

    public static TheoryData<double, double> BadDurations() => new()
    {
        { 1e300, 0 },
        { 0, 1e300 },
        { -5, 0 },
        { 0, -1 },
        { TimeSpan.MaxValue.TotalMilliseconds * 2, 0 },
    };

    [Theory]
    [MemberData(nameof(BadDurations))]
    public void ADurationNoTimeSpanHoldsInAChecksumValidImageIsADamagedImageNotAnOverflow(double downtime, double duration)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        File.WriteAllBytes(f.PathFor("bad.vfiostate"), ImageWithSummary(f, a.Address, new StateImageSummary { DowntimeMilliseconds = downtime, DurationMilliseconds = duration }));
        var image = StateImageInspector.Inspect(f.PathFor("bad.vfiostate"), out var damage);
        Assert.False(image.IsValid);
        Assert.Equal("summary", damage!.Field);
        Assert.Equal("ImageInvalid", damage.ErrorId);
        Assert.Null(image.Duration); // not read: a damaged summary shows nothing (issue 17 item 11)
        Assert.Null(image.Downtime);
        Assert.Equal("ImageInvalid", Assert.Throws<StateImageException>(() => StateImageInspector.Verify(f.PathFor("bad.vfiostate"))).ErrorId);
    }

    [Fact]
    public void ASummaryWithNegativeCountsIsADamagedImage()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        File.WriteAllBytes(f.PathFor("bad.vfiostate"), ImageWithSummary(f, a.Address, new StateImageSummary { PreCopyRounds = -1, PreCopyBytes = -7 }));
        StateImageInspector.Inspect(f.PathFor("bad.vfiostate"), out var damage);
        Assert.Equal("summary", damage!.Field);
    }

    /// <summary>A name of <paramref name="bytes"/> UTF-8 bytes, of <paramref name="unit"/> repeated (with an ASCII tail to fit exactly).</summary>
    private static string NameOf(int bytes, string unit)
    {
        var sb = new StringBuilder();
        while (Encoding.UTF8.GetByteCount(sb.ToString()) + Encoding.UTF8.GetByteCount(unit) <= bytes - 10) sb.Append(unit);
        while (Encoding.UTF8.GetByteCount(sb.ToString()) < bytes - 10) sb.Append('n');
        sb.Append(".vfiostate");
        Assert.Equal(bytes, Encoding.UTF8.GetByteCount(sb.ToString()));
        return sb.ToString();
    }

    [Theory]
    [InlineData(213, "a")]
    [InlineData(214, "a")]
    [InlineData(249, "a")]
    [InlineData(250, "a")]
    [InlineData(255, "a")]
    [InlineData(255, "é")]
    [InlineData(255, "设")]
    public void ANameUpToNameMaxIsSavedAndNothingElseIsLeft(int bytes, string unit)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        string name = NameOf(bytes, unit);
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, name) }, new SaveOptions(), false, false));
        Assert.True(o.Succeeded, o.Error?.Message);
        Assert.Equal(new[] { name }, f.Files);
        Assert.True(StateImageInspector.Inspect(f.PathFor(name)).IsValid);
        // Replacing it takes the same (shortened) lock and temporary names, and leaves nothing either.
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(a.Address, name) }, new SaveOptions(), true, false)[0].Succeeded);
        Assert.Equal(new[] { name }, f.Files);
    }

    [Fact]
    public void ANameOverNameMaxIsAModuleErrorAndTheDeviceIsUntouched()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, NameOf(256, "a")) }, new SaveOptions(), false, false));
        Assert.False(o.Succeeded);
        Assert.Contains("ENAMETOOLONG", o.Error!.Message);
        Assert.Empty(a.ArcHistory);
        Assert.Empty(f.Files);
    }

    [Fact]
    public void TwoLongNamesThatShareTheirFirst200BytesGetTheirOwnLocks()
    {
        using var f = new ImageFixture();
        string one = NameOf(255, "a"), two = one[..200] + new string('b', 45) + ".vfiostate";
        Assert.NotEqual(ImageTargetLock.LockName(one), ImageTargetLock.LockName(two));
        Assert.NotEqual(AtomicFile.TempStem(one), AtomicFile.TempStem(two));
        Assert.True(Encoding.UTF8.GetByteCount(ImageTargetLock.LockName(one)) <= 255);
    }
}
