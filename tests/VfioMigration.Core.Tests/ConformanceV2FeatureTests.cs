using System.Buffers.Binary;
using VfioMigration.Backends.Simulated;
using VfioMigration.Protocol;
using static VfioMigration.Protocol.VfioUapi;

namespace VfioMigration.Tests;

/// <summary>Conformance checklist, docs/protocol.md §8.1 (v2 feature plumbing) against the simulated devices.</summary>
public class ConformanceV2FeatureTests
{
    [Fact]
    public void C01_ArgszBelowEightIsEinval()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureGet | FeatureMigration, 8, argsz: 7).Rc);
    }

    [Fact]
    public void C02_UnknownFlagBitIsEinval()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, (1u << 19) | FeatureGet | FeatureMigration, 8).Rc);
    }

    [Fact]
    public void C03_GetAndSetWithoutProbeAndProbeOfAnUnsupportedDirectionAreEinval()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureGet | FeatureSet | FeatureMigDeviceState, 8).Rc);
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureProbe | FeatureGet | FeatureSet | FeatureMigration, 8).Rc);
        Assert.Equal(0, Sim.Feature(t, FeatureProbe | FeatureGet | FeatureSet | FeatureMigDeviceState, 8).Rc);
    }

    [Fact]
    public void C04_ProbeOfMigrationSucceedsOnMigratableDevicesAndWritesNothing()
    {
        var (host, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (rc, b) = Sim.Feature(t, FeatureProbe | FeatureMigration, 8, argsz: 8, fill: x => x.AsSpan(8).Fill(0xAA));
        Assert.Equal(0, rc);
        Assert.All(b.AsSpan(8).ToArray(), x => Assert.Equal(0xAA, x));
        var plain = host.Add(new SimulatedDeviceOptions { Address = "0000:09:00.0", Protocol = MigrationProtocol.None, Capabilities = MigrationCapabilities.None });
        using var tp = plain.Open();
        Assert.Equal(-Errno.ENOTTY, Sim.Feature(tp, FeatureProbe | FeatureMigration, 8, argsz: 8).Rc);
    }

    [Theory]
    [MemberData(nameof(FlagSets))]
    public void C05_GetMigrationNeedsPayloadRoomAndReportsTheFlags(MigrationCapabilities flags)
    {
        var (_, d) = Sim.One(Sim.V2(flags));
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureGet | FeatureMigration, 0).Rc);
        var (rc, b) = Sim.Feature(t, FeatureGet | FeatureMigration, 8);
        Assert.Equal(0, rc);
        ulong reported = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8));
        Assert.True((reported & 1) != 0, "STOP_COPY must always be set");
        Assert.Equal((ulong)flags, reported);
    }

    public static TheoryData<MigrationCapabilities> FlagSets => new(Sim.V2FlagSets);

    [Fact]
    public void C06_SetMigrationIsEinval()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureSet | FeatureMigration, 8).Rc);
    }

    [Fact]
    public void C07_MigDeviceStateWithShortPayloadIsEinval()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureGet | FeatureMigDeviceState, 8, argsz: 12).Rc);
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureSet | FeatureMigDeviceState, 8, argsz: 15).Rc);
        Assert.Equal(MigrationState.Running, Sim.Get(t));
    }

    [Fact]
    public void C08_UnknownFeatureIsEnottyOnPciAndEinvalOnCcw()
    {
        var host = new SimulatedHost();
        using var pci = host.Add(Sim.V2()).Open();
        using var ccw = host.Add(Sim.Ccw()).Open();
        Assert.Equal(-Errno.ENOTTY, Sim.Feature(pci, FeatureGet | 42, 8).Rc);
        Assert.Equal(-Errno.EINVAL, Sim.Feature(ccw, FeatureGet | 42, 8).Rc);
        Assert.Equal(0, Sim.Feature(ccw, FeatureGet | FeatureMigration, 8).Rc);
    }

    [Fact]
    public void C09_MigDataSizeGetWorksInEveryStateAndSetIsEinval()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        foreach (var s in new[] { MigrationState.Running, MigrationState.PreCopy, MigrationState.PreCopyP2P, MigrationState.StopCopy, MigrationState.Stop, MigrationState.Resuming, MigrationState.RunningP2P })
        {
            Assert.Equal(0, Sim.Set(t, s).Rc);
            var (rc, b) = Sim.Feature(t, FeatureGet | FeatureMigDataSize, 8);
            Assert.Equal(0, rc);
            Assert.True(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)) > 0, $"no size in {s}");
            if (s == MigrationState.Resuming) t.Reset();
        }
        Assert.Equal(-Errno.EINVAL, Sim.Feature(t, FeatureSet | FeatureMigDataSize, 8).Rc);
    }
}
