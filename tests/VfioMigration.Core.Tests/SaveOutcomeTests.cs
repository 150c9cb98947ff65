using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>Every outcome says what happened to the file and the one state the device is in now.</summary>
public class SaveOutcomeTests
{
    [Fact]
    public void ASaveWhoseLastGetFailsIsASavedImageWithAWarningNotAFailedSave()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        // Re-armed on every chunk, so the fault is the first VFIO_DEVICE_FEATURE call after the last chunk: the GET
        // that moves the device to its final state.
        var progress = new Progress(_ => { a.Faults.Clear(); a.Faults.Arm(new FaultRule(FaultPoint.FeatureCall, 1, Errno.EIO)); });
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions { ChunkSize = 16 * 1024 }, false, false, progress));
        Assert.True(o.Succeeded, o.Error?.Message);
        Assert.True(o.Image!.IsValid);
        Assert.True(Images.StateImageInspector.Inspect(f.PathFor("a.vfiostate")).IsValid);
        var warning = Assert.Single(o.Warnings!);
        Assert.Contains("the image was saved to", warning);
        Assert.Contains($"{a.Address} is in {o.StateNow}", warning);
    }

    [Fact]
    public void AFailedTransitionDuringASaveNamesOneStateTheOneReadAfterRecovery()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 64 * 1024));
        a.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = MigrationState.Stop, ArcTo = MigrationState.StopCopy });
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false));
        Assert.False(o.Succeeded);
        Assert.Equal(MigrationState.Running, o.StateNow);
        Assert.Contains("No image was written", o.Error!.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(o.Error.Message, @"\bis (now )?in [A-Z]"));
        Assert.Contains("is in Running", o.Error.Message);
    }

    [Fact]
    public void AFailedRestoreNamesOneStateTheOneReadAfterTheReset()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 64 * 1024, seed: 3));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 64 * 1024, seed: 4));
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
        b.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = MigrationState.Resuming, EnterError = true });
        var o = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(b.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.None));
        Assert.False(o.Succeeded);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(o.Error!.Message, @"\bis (now )?in [A-Z]"));
        Assert.Contains($"is in {o.StateNow}", o.Error.Message);
    }

    [Fact]
    public void AStreamFarShorterThanTheDevicesOwnEstimateIsSaidInAWarning()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        a.Faults.TruncateSaveStreamAt = 4096;
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false));
        var warning = Assert.Single(o.Warnings!);
        Assert.Contains("4096 bytes", warning);
        Assert.Contains("MIG_DATA_SIZE", warning);

        var whole = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 256 * 1024));
        var fine = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(whole.Address, "b.vfiostate") }, new SaveOptions(), false, false));
        Assert.Empty(fine.Warnings!);
    }

    [Fact]
    public void AStreamErrorTheDeviceReportsIsAFailedSave()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 256 * 1024));
        a.Faults.Arm(new FaultRule(FaultPoint.StreamRead, 3, Errno.EIO));
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions { ChunkSize = 16 * 1024 }, false, false));
        Assert.False(o.Succeeded);
        Assert.Contains("EIO", o.Error!.Message);
        Assert.Empty(f.Files);
    }

    private sealed class Progress(Action<SaveProgress> report) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => report(value);
    }
}

/// <summary>A restore refused before any device is touched says so, with the state of each device.</summary>
public class RestoreRefusalTests
{
    [Fact]
    public void EveryRefusalBeforeTheDeviceIsTouchedNamesItsState()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 64 * 1024, seed: 3));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 64 * 1024, seed: 4));
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
        var bytes = File.ReadAllBytes(f.PathFor("a.vfiostate"));
        bytes[^1] ^= 1;
        File.WriteAllBytes(f.PathFor("damaged.vfiostate"), bytes);
        foreach (var (file, id) in new[] { ("damaged.vfiostate", "ImageChecksumMismatch"), ("missing.vfiostate", "ImageNotFound") })
        {
            var o = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(b.Address, file) }, MigrationState.Stop, RestoreOverrides.None));
            Assert.Equal(id, o.Error!.ErrorId);
            Assert.Contains($"{b.Address} was not touched and is in Running", o.Error.Message);
        }
    }
}
