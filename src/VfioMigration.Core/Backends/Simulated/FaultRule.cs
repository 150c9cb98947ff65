using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// One armed fault: the <see cref="Nth"/> matching event from now fails with <see cref="Errno"/>. A transition
/// fault can be limited to one arc and can drop the device into the Error state, as a driver that cannot undo a
/// half-done arc would.
/// </summary>
public sealed record FaultRule(FaultPoint Point, int Nth = 1, int Errno = Protocol.Errno.EIO)
{
    /// <summary>For <see cref="FaultPoint.Transition"/>: only arcs leaving this state count (null: any).</summary>
    public MigrationState? ArcFrom { get; init; }
    /// <summary>For <see cref="FaultPoint.Transition"/>: only arcs entering this state count (null: any).</summary>
    public MigrationState? ArcTo { get; init; }
    /// <summary>For <see cref="FaultPoint.Transition"/>: the failure leaves the device in Error.</summary>
    public bool EnterError { get; init; }

    public override string ToString()
    {
        string arc = ArcFrom is null && ArcTo is null ? "" : $" on {ArcFrom?.ToString() ?? "*"} -> {ArcTo?.ToString() ?? "*"}";
        return $"{Point} #{Nth}{arc}: {Protocol.Errno.Name(Errno)}{(EnterError ? ", then Error" : "")}";
    }
}
