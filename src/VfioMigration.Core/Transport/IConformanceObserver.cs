using VfioMigration.Protocol;

namespace VfioMigration.Transport;

/// <summary>
/// What the suite can see of a device beyond its uAPI, where something can see it: the simulator knows the arcs a
/// device walked, its peer-to-peer writes and its internal state. A real device has no observer, and the checks
/// that need one are NotApplicable there (or, for paths, judged by their end state only).
/// </summary>
public interface IConformanceObserver
{
    /// <summary>v2: the arcs the device has executed, in order, since it was created; null if not observable.</summary>
    IReadOnlyList<MigrationArc>? ArcHistory { get; }

    /// <summary>Peer-to-peer writes the device has started; null if it has no peer or they cannot be counted.</summary>
    ulong? PeerWritesSent { get; }

    /// <summary>DMA writes into guest memory the device has started; null if they cannot be counted.</summary>
    ulong? GuestWritesSent { get; }

    /// <summary>Lets the device work for <paramref name="steps"/> units, as time passing would.</summary>
    void Advance(int steps);

    /// <summary>The device's internal state (registers, memory, workload) for a byte-for-byte comparison; null if unknown.</summary>
    byte[]? CaptureState();
}
