using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// Issue 17 item 13: a signal (Ctrl+C, SIGTERM, SIGHUP: all reach the save as its cancellation token) late in a
/// save either undoes it (no image, an existing one untouched, the device back) or, once the commit point is
/// passed (the first rename), is too late and the save is reported done. Never both.
/// </summary>
public class SaveCommitPointTests
{
    private static IReadOnlyList<DeviceOutcome> SaveCancelledAt(ImageFixture f, string address, string step, bool overwrite)
    {
        using var cts = new CancellationTokenSource();
        AtomicFile.FailForTests.Value = s =>
        {
            if (s == step) cts.Cancel();
            return 0;
        };
        try { return DeviceSetSaver.Save(new[] { f.Save(address, "a.vfiostate") }, new SaveOptions(), overwrite, false, null, cts.Token); }
        finally { AtomicFile.FailForTests.Value = null; }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASignalDuringTheFsyncUndoesTheSave(bool replacing)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        if (replacing) File.WriteAllText(f.PathFor("a.vfiostate"), "the earlier image");
        var o = Assert.Single(SaveCancelledAt(f, a.Address, "fsync", overwrite: replacing));
        Assert.False(o.Succeeded);
        Assert.Equal("SaveCancelled", o.Error!.ErrorId);
        Assert.Contains("No image was written", o.Error.Message);
        Assert.Equal(MigrationState.Running, o.StateNow);
        Assert.Equal(MigrationState.Running, a.MigrationState);
        if (replacing) Assert.Equal("the earlier image", File.ReadAllText(f.PathFor("a.vfiostate")));
        Assert.Equal(replacing ? new[] { "a.vfiostate" } : Array.Empty<string>(), f.Files);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASignalDuringTheRenameIsTooLateAndTheSaveIsReportedDone(bool replacing)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        if (replacing) File.WriteAllText(f.PathFor("a.vfiostate"), "the earlier image");
        var o = Assert.Single(SaveCancelledAt(f, a.Address, "rename", overwrite: replacing));
        Assert.True(o.Succeeded, o.Error?.Message);
        Assert.True(o.Image!.IsValid);
        Assert.True(StateImageInspector.Inspect(f.PathFor("a.vfiostate")).IsValid);
        Assert.Equal(MigrationState.Stop, o.StateNow);
        Assert.Equal(new[] { "a.vfiostate" }, f.Files);
    }

    [Fact]
    public void InASetASignalAfterEveryFsyncButBeforeTheFirstRenameUndoesEveryMember()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 64 * 1024));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 64 * 1024));
        using var cts = new CancellationTokenSource();
        int fsyncs = 0;
        AtomicFile.FailForTests.Value = s =>
        {
            if (s == "fsync" && ++fsyncs == 2) cts.Cancel();
            return 0;
        };
        IReadOnlyList<DeviceOutcome> outcomes;
        try { outcomes = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate") }, new SaveOptions(), false, false, null, cts.Token); }
        finally { AtomicFile.FailForTests.Value = null; }
        Assert.All(outcomes, o => Assert.False(o.Succeeded));
        Assert.All(outcomes, o => Assert.Equal(MigrationState.Running, o.StateNow));
        Assert.Empty(f.Files);
    }
}
