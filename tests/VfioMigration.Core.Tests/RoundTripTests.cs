using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>Save a running device and restore it into a fresh device of the same kind: byte for byte the same.</summary>
public class RoundTripTests
{
    public static TheoryData<string, bool> Cases => new()
    {
        { "v2-all", true }, { "v2-all", false }, { "v2-sc", false }, { "v2-sc-pre", true },
        { "v1", true }, { "v1-ndma", true }, { "v1-strict", true },
        { "ccw-v2-pre", true }, { "ccw-v2", false }, { "ccw-v1", true },
    };

    private static SimulatedDeviceOptions Options(string kind, string address, ulong seed)
    {
        bool ccw = kind.StartsWith("ccw", StringComparison.Ordinal);
        string addr = ccw ? (address.EndsWith('0') ? "0.0.0100" : "0.0.0101") : address;
        var o = kind switch
        {
            "v2-all" => Sim.V2(address: addr, seed: seed),
            "v2-sc" => Sim.V2(MigrationCapabilities.StopCopy, addr, seed: seed),
            "v2-sc-pre" => Sim.V2(MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy, addr, seed: seed),
            "v1" => Sim.V1(address: addr, seed: seed),
            "v1-ndma" => Sim.V1(ndma: true, address: addr, seed: seed),
            "v1-strict" => Sim.V1(address: addr, seed: seed, strict: true),
            "ccw-v2-pre" => Sim.Ccw(addr, seed) with { Capabilities = MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy },
            "ccw-v2" => Sim.Ccw(addr, seed),
            _ => Sim.Ccw(addr, seed, MigrationProtocol.V1),
        };
        return o with { MemorySize = 1 << 20 };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SavedRunningDeviceRestoresIdentically(string kind, bool live)
    {
        var host = new SimulatedHost();
        var source = host.Add(Options(kind, "0000:04:00.0", 1));
        var target = host.Add(Options(kind, "0000:04:00.1", 2));
        source.Advance(500);
        using var ts = source.Open();
        using var tt = target.Open();
        using var saver = Sim.Driver(ts);
        using var restorer = Sim.Driver(tt);
        ulong stepsBefore = source.Model.Steps;
        var image = new MemoryStream();
        var report = DeviceStateSaver.Save(saver, image, new SaveOptions { Live = live, MaxPreCopyRounds = 4, ChunkSize = 48 * 1024 + 5 });
        Assert.Equal(image.Length, report.Bytes);
        if (live)
        {
            Assert.True(report.PreCopyRounds > 0);
            Assert.True(report.PreCopyBytes >= 1 << 20, "pre-copy sends the whole memory once");
            Assert.True(source.Model.Steps > stepsBefore, "the device ran during pre-copy");
        }
        Assert.Equal(MigrationState.Stop, saver.GetState());

        image.Position = 0;
        // libvfio-user's strict v1 table only lets a device leave RESUMING for RUNNING.
        var final = kind == "v1-strict" ? MigrationState.Running : MigrationState.Stop;
        long restored = DeviceStateRestorer.Restore(restorer, image, final, chunkSize: 7777);
        Assert.Equal(report.Bytes, restored);
        Sim.AssertSameDeviceState(source, target);
        Assert.Equal(final, restorer.GetState());
        restorer.RequestState(MigrationState.Running);
        if (source.Model is SimulatedCcwModel sc)
        {
            var tc = (SimulatedCcwModel)target.Model;
            Assert.Equal(sc.StoreSubchannel().ToArray(), tc.StoreSubchannel().ToArray());
            Assert.Equal(sc.PendingCrws, tc.PendingCrws);
        }
    }

    [Fact]
    public void CheckpointLeavesTheSourceRunning()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        using var driver = Sim.Driver(t);
        DeviceStateSaver.Save(driver, new MemoryStream(), new SaveOptions { FinalState = MigrationState.Running });
        Assert.Equal(MigrationState.Running, driver.GetState());
    }

    [Fact]
    public void LiveSaveOfADeviceWithoutPreCopyIsAClearError()
    {
        var (_, d) = Sim.One(Sim.V2(MigrationCapabilities.StopCopy));
        using var t = d.Open();
        using var driver = Sim.Driver(t);
        var e = Assert.Throws<VfioMigrationException>(() => DeviceStateSaver.Save(driver, new MemoryStream(), new SaveOptions { Live = true }));
        Assert.Equal("PreCopyNotSupported", e.ErrorId);
        Assert.Equal(MigrationState.Running, driver.GetState());
    }
}
