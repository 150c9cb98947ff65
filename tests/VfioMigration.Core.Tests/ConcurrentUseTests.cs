using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>One operation per device at a time, and one save per image path.</summary>
public class ConcurrentUseTests
{
    /// <summary>Starts a save on another thread and returns once it is streaming, held there until <c>release</c> is set.</summary>
    private static Task<IReadOnlyList<DeviceOutcome>> HeldSave(SaveTarget target, bool overwrite, ManualResetEventSlim release, Action? whileHeld = null)
    {
        var streaming = new ManualResetEventSlim();
        var task = Task.Run(() => DeviceSetSaver.Save(new[] { target }, new SaveOptions { ChunkSize = 16 * 1024 }, overwrite, false, new Progress(_ =>
        {
            if (streaming.IsSet) return;
            streaming.Set();
            whileHeld?.Invoke();
            release.Wait(TimeSpan.FromSeconds(30));
        })));
        Assert.True(streaming.Wait(TimeSpan.FromSeconds(30)), "the first save never started streaming");
        return task;
    }

    [Fact]
    public async Task ASecondCallerOnTheSameDeviceGetsDeviceBusyAndTheFirstSaveStaysWhole()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 512 * 1024, seed: 21));
        var twin = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 512 * 1024, seed: 22));
        using var release = new ManualResetEventSlim();
        var first = HeldSave(f.Save(a.Address, "first.vfiostate"), false, release);
        try
        {
            var second = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "second.vfiostate") }, new SaveOptions(), false, false));
            Assert.Equal("DeviceBusy", second.Error!.ErrorId);
            Assert.Contains("save", second.Error.Message);
            Assert.Equal(MigrationState.StopCopy, second.StateNow); // where the first save has it, read, not changed

            var change = f.Session.Execute(f.Session.PlanStates(new[] { a.Address }, MigrationState.Running, false));
            Assert.Equal("DeviceBusy", Assert.Single(change).Error!.ErrorId);

            using var direct = new MemoryStream();
            Assert.Equal("DeviceBusy", Assert.Throws<VfioMigrationException>(() => DeviceStateSaver.Save(f.Session.Migration(a.Address), direct, new SaveOptions())).ErrorId);
            Assert.Equal(0, direct.Length);
        }
        finally
        {
            release.Set();
        }
        var done = Assert.Single(await first);
        Assert.True(done.Succeeded, done.Error?.Message);
        Assert.DoesNotContain("second.vfiostate", f.Files);
        var restored = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(twin.Address, "first.vfiostate") }, MigrationState.Stop, RestoreOverrides.None));
        Assert.True(restored.Succeeded, restored.Error?.Message);
        Sim.AssertSameDeviceState(a, twin);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TwoSavesToOnePathOneWinsTheOtherSaysSoAndReturnsItsDevice(bool overwrite)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 512 * 1024, seed: 31));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 64 * 1024, seed: 32));
        using var release = new ManualResetEventSlim();
        var first = HeldSave(f.Save(a.Address, "one.vfiostate"), overwrite, release);
        DeviceOutcome loser;
        try
        {
            loser = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(b.Address, "one.vfiostate") }, new SaveOptions(), overwrite, false));
        }
        finally
        {
            release.Set();
        }
        Assert.Equal("ImageBusy", loser.Error!.ErrorId);
        Assert.Contains("another save to this file is in progress", loser.Error.Message);
        Assert.Equal(MigrationState.Running, loser.StateNow);
        Assert.Empty(b.ArcHistory);
        var winner = Assert.Single(await first);
        Assert.True(winner.Succeeded, winner.Error?.Message);
        Assert.Equal(a.Address, StateImageInspector.Inspect(f.PathFor("one.vfiostate")).DeviceName);
        Assert.Equal(new[] { "one.vfiostate" }, f.Files);
    }

    [Fact]
    public async Task AFileThatAppearsWhileASaveRunsIsNeverReplacedWithoutOverwrite()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        using var release = new ManualResetEventSlim(initialState: true);
        var save = HeldSave(f.Save(a.Address, "a.vfiostate"), false, release, () => File.WriteAllText(f.PathFor("a.vfiostate"), "someone else's"));
        var o = Assert.Single(await save);
        Assert.Equal("ImageExists", o.Error!.ErrorId);
        Assert.Equal("someone else's", File.ReadAllText(f.PathFor("a.vfiostate")));
        Assert.Equal(MigrationState.Running, o.StateNow);
        Assert.Equal(new[] { "a.vfiostate" }, f.Files);
    }

    private sealed class Progress(Action<SaveProgress> report) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => report(value);
    }
}
