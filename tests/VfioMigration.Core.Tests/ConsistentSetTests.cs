using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// A set is saved at one point in time: every device quiesced, then every device stopped, before any device's
/// stop-copy data is read (QEMU stops all devices before saving any).
/// </summary>
public sealed class ConsistentSetTests
{
    private sealed class Watch(Action<SaveProgress> report) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => report(value);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryDeviceIsStoppedBeforeAnyStopCopyDataIsRead(bool live)
    {
        using var f = new ImageFixture(SimulatedHost.CreateDefault());
        var a = f.Host["0000:3b:00.2"];
        var b = f.Host["0000:3b:00.3"];
        f.Host.Advance(50);
        var seen = new List<(string Device, MigrationState? A, MigrationState? B)>();
        var progress = new Watch(p => { if (p.Phase == "stop-copy") seen.Add((p.Device, a.MigrationState, b.MigrationState)); });
        var outcomes = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate") },
            new SaveOptions { Live = live }, false, false, progress);
        Assert.All(outcomes, o => Assert.True(o.Succeeded, o.Error?.Message));
        Assert.NotEmpty(seen);
        // From the first stop-copy byte of the first device on, both devices are stopped.
        Assert.All(seen, s => Assert.Equal((MigrationState.StopCopy, MigrationState.StopCopy), (s.A!.Value, s.B!.Value)));
        Assert.Equal(a.Address, seen[0].Device);
        Assert.Equal(0UL, a.Model.PeerWritesLost + b.Model.PeerWritesLost);
    }
}
