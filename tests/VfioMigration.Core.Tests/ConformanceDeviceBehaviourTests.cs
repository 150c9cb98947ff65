using System.Buffers.Binary;
using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using static VfioMigration.Protocol.MigrationState;

namespace VfioMigration.Tests;

/// <summary>Conformance checklist, docs/protocol.md §8.4 (device behaviour in states).</summary>
public class ConformanceDeviceBehaviourTests
{
    [Theory]
    [InlineData(Stop)]
    [InlineData(StopCopy)]
    [InlineData(Resuming)]
    public void C38_StoppedDevicesDoNothingButStillAnswerConfigSpace(MigrationState state)
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.V2());
        var peer = host.Add(Sim.V2(address: "0000:01:00.1"));
        SimulatedHost.Link(a, peer);
        using var t = a.Open();
        Assert.Equal(0, Sim.Set(t, state).Rc);
        var regs = a.Model.CaptureState();
        ulong peerReceived = peer.Model.PeerWritesReceived;
        host.Advance(200);
        Assert.Equal(regs, a.Model.CaptureState());
        var config = new byte[4];
        Assert.Equal(4, t.Read((long)VfioUapi.PciConfigRegionIndex << 40, config));
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16LittleEndian(config));
        Assert.Equal(peerReceived, peer.Model.PeerWritesReceived); // a stopped device writes nothing into its running peer
        Assert.True(a.Model.PeerWritesLost > 0, "the running peer's writes into the stopped device are counted as lost");
    }

    [Fact]
    public void C38_StoppedDeviceMakesNoDmaOfItsOwn()
    {
        var (host, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Sim.Set(t, Stop);
        long dma = host.Guest.DmaWrites;
        host.Advance(100);
        Assert.Equal(dma, host.Guest.DmaWrites);
    }

    [Theory]
    [InlineData(RunningP2P)]
    [InlineData(PreCopyP2P)]
    public void C39_P2PStatesStopPeerWritesDrainOutstandingOnesAndKeepOrdinaryDma(MigrationState state)
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.V2() with { StepsPerAccess = 0 });
        var peer = host.Add(Sim.V2(address: "0000:01:00.1") with { StepsPerAccess = 0 });
        SimulatedHost.Link(a, peer);
        a.Advance(10);
        Assert.True(a.Model.InFlightWrites > 0, "the device should have writes in flight before quiescing");
        using var t = a.Open();
        Assert.Equal(0, Sim.Set(t, state).Rc);
        Assert.Equal(0, a.Model.InFlightWrites);
        ulong sent = a.Model.PeerWritesSent, received = peer.Model.PeerWritesReceived;
        Assert.Equal(sent, received);
        long dma = host.Guest.DmaWrites;
        a.Advance(50);
        Assert.Equal(sent, a.Model.PeerWritesSent);
        Assert.Equal(received, peer.Model.PeerWritesReceived);
        Assert.True(host.Guest.DmaWrites > dma, "ordinary DMA continues in the P2P states");
        Assert.Equal(0, Sim.Set(t, Running).Rc);
        a.Advance(5);
        Assert.True(a.Model.PeerWritesSent > sent, "leaving the P2P state resumes peer writes");
    }

    [Fact]
    public void C40_SetOfDevicesQuiescesAllBeforeAnyStops()
    {
        var host = new SimulatedHost();
        var devices = new[] { host.Add(Sim.V2()), host.Add(Sim.V2(address: "0000:01:00.1")), host.Add(Sim.V1(ndma: true)) };
        SimulatedHost.Link(devices[0], devices[1]);
        var drivers = devices.Select(d => Sim.Driver(d.Open())).ToArray();
        var plan = DeviceSetTransition.Plan(drivers.Select(d => (d, d.GetState())).ToArray(), Stop, force: false);
        var order = new List<(string, MigrationState)>();
        plan.Execute(beforeStep: s =>
        {
            if (s.Target == Stop)
                Assert.All(devices, d => Assert.NotEqual(Running, d.MigrationState));
            order.Add((s.Device.Address, s.Target));
        });
        Assert.Equal(6, order.Count);
        Assert.All(order.Take(3), o => Assert.Equal(RunningP2P, o.Item2));
        Assert.All(devices, d => Assert.Equal(Stop, d.MigrationState));
        Assert.Equal(0UL, devices[0].Model.PeerWritesLost + devices[1].Model.PeerWritesLost);
    }

    [Fact]
    public void C40_ADeviceThatCannotQuiesceMakesTheSetRefuseUnlessForced()
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.V2());
        var b = host.Add(Sim.V2(MigrationCapabilities.StopCopy, address: "0000:01:00.1"));
        var drivers = new[] { Sim.Driver(a.Open()), Sim.Driver(b.Open()) };
        var set = drivers.Select(d => (d, d.GetState())).ToArray();
        var e = Assert.Throws<VfioMigrationException>(() => DeviceSetTransition.Plan(set, Stop, force: false));
        Assert.Equal("PeerQuiesceUnsupported", e.ErrorId);
        Assert.Contains("0000:01:00.1", e.Message);
        var forced = DeviceSetTransition.Plan(set, Stop, force: true);
        Assert.Single(forced.Warnings);
        Assert.All(forced.Execute(), o => Assert.True(o.Succeeded));
        Assert.Equal(Stop, a.MigrationState);
        Assert.Equal(Stop, b.MigrationState);
    }

    [Fact]
    public void C41_PreCopyDeviceKeepsRunningAndItsChangesShowAsDirtyBytesAndInTheStream()
    {
        var (_, d) = Sim.One(Sim.V2() with { StepsPerAccess = 0 });
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, PreCopy);
        using var ch = t.AdoptDataChannel(fd);
        var buf = new byte[1 << 20];
        long first = 0;
        int n;
        while ((n = ch.Read(buf)) > 0) first += n;
        var info = PrecopyInfo.CreateRequest();
        ch.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, info);
        Assert.Equal(0UL, PrecopyInfo.Parse(info).DirtyBytes);
        ulong steps = d.Model.Steps;
        d.Advance(20);
        Assert.Equal(steps + 20, d.Model.Steps);
        ch.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, info);
        ulong dirty = PrecopyInfo.Parse(info).DirtyBytes;
        Assert.True(dirty > 0);
        long second = 0;
        while ((n = ch.Read(buf)) > 0) second += n;
        Assert.Equal((long)dirty, second);
    }
}
