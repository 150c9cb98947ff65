using VfioMigration.Transport;
using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// What the conformance suite may see of a simulated device beyond its uAPI: the arcs it walked, its peer-to-peer
/// writes, and its internal state (registers, workload position, device memory) for the round trip.
/// </summary>
internal sealed class SimulatedConformanceObserver : IConformanceObserver
{
    private readonly SimulatedDevice _device;

    public SimulatedConformanceObserver(SimulatedDevice device) => _device = device;

    public IReadOnlyList<MigrationArc>? ArcHistory => _device.Options.Protocol == MigrationProtocol.V2 ? _device.ArcHistory.ToArray() : null;

    public ulong? PeerWritesSent
    {
        get { lock (_device.SyncRoot) return _device.Model.Peer is null ? null : _device.Model.PeerWritesSent; }
    }

    public ulong? GuestWritesSent
    {
        get { lock (_device.SyncRoot) return _device.Model.GuestWritesSent; }
    }

    public void Advance(int steps) => _device.Advance(steps);

    public byte[]? CaptureState()
    {
        lock (_device.SyncRoot)
        {
            var model = _device.Model;
            var state = model.CaptureState();
            var memory = new byte[model.Memory.Size];
            model.Memory.Read(0, memory);
            return state.Concat(memory).ToArray();
        }
    }
}
