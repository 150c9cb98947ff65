using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// NDMA's two readings (docs/protocol.md §2.3, checklist 84): a simulated v1 device with NDMA stops all DMA in
/// 0x9 (the RFC) or only peer-to-peer DMA (NOP2P); the conformance suite says which; a set's quiesce is consistent
/// under both (no peer write after the quiesce point), and only under NOP2P does guest-memory DMA go on.
/// </summary>
public sealed class NdmaReadingTests
{
    private static (SimulatedHost Host, SimulatedDevice A, SimulatedDevice B) Pair(NdmaReading reading)
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.V1(ndma: true, address: "0000:41:00.0", seed: 41) with { NdmaReading = reading });
        var b = host.Add(Sim.V1(ndma: true, address: "0000:41:00.1", seed: 42) with { NdmaReading = reading }, "0000:41:00.0");
        return (host, a, b);
    }

    [Theory]
    [InlineData(NdmaReading.Rfc, "RFC")]
    [InlineData(NdmaReading.NoPeerToPeer, "NOP2P")]
    public void C84_the_suite_reports_the_reading_and_62_holds_for_both(NdmaReading reading, string reported)
    {
        var (host, a, _) = Pair(reading);
        var (results, suite) = ConformanceSuiteTests.Run(host, a.Address);
        Assert.DoesNotContain(results, r => r.Outcome == ConformanceOutcome.Failed);
        Assert.Equal(reported, suite.NdmaReading);
        var r84 = results.Single(r => r.Check == "ndma.reading");
        Assert.Equal(ConformanceOutcome.Passed, r84.Outcome);
        Assert.Contains(reading == NdmaReading.Rfc ? "the RFC's reading" : "the NOP2P reading", r84.Observed);
        Assert.Equal(ConformanceOutcome.Passed, results.Single(r => r.Check == "ndma.p2p-quiesced").Outcome);
    }

    [Theory]
    [InlineData(NdmaReading.Rfc)]
    [InlineData(NdmaReading.NoPeerToPeer)]
    public void C40_a_sets_quiesce_stops_peer_writes_under_both_readings_and_guest_dma_only_under_the_rfc(NdmaReading reading)
    {
        var (host, a, b) = Pair(reading);
        using var s = new VfioHostSession(new SimulatedBackend(host));
        var plan = s.PlanStates(new[] { a.Address, b.Address }, MigrationState.RunningP2P, force: false);
        foreach (var d in new[] { a, b }) s.Migration(d.Address).RequestState(MigrationState.RunningP2P);
        ulong peer = a.Model.PeerWritesSent + b.Model.PeerWritesSent, guest = a.Model.GuestWritesSent + b.Model.GuestWritesSent;
        host.Advance(100);
        Assert.Equal(peer, a.Model.PeerWritesSent + b.Model.PeerWritesSent);
        ulong moreGuest = a.Model.GuestWritesSent + b.Model.GuestWritesSent - guest;
        if (reading == NdmaReading.Rfc) Assert.Equal(0ul, moreGuest);
        else Assert.True(moreGuest > 0, "under NOP2P, DMA into guest memory goes on in NDMA");
        Assert.NotNull(plan);
    }

    [Fact]
    public void A_reading_on_a_device_without_ndma_is_refused()
    {
        var e = Assert.Throws<VfioMigrationException>(() => new SimulatedHost().Add(Sim.V2() with { NdmaReading = NdmaReading.NoPeerToPeer }));
        Assert.Equal("InvalidSimulatedDevice", e.ErrorId);
        Assert.Contains("Ndma", e.Message);
    }
}
