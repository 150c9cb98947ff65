namespace VfioMigration;

/// <summary>
/// One conformance check's verdict on one device, meant to stand as evidence: which rule (checklist number in
/// docs/protocol.md §8, a stable <see cref="Check"/> id, the rule's <see cref="Source"/>), what the uAPI requires,
/// what the device did, and the outcome.
/// </summary>
public sealed record ConformanceResult
{
    /// <summary>The device checked (PCI address, ccw bus id, mdev UUID).</summary>
    public required string Device { get; init; }
    /// <summary>The item of the conformance checklist (docs/protocol.md §8) this check implements.</summary>
    public required int Number { get; init; }
    /// <summary>A stable id, unique within a run, e.g. <c>fsm.reset.StopCopy</c>.</summary>
    public required string Check { get; init; }
    /// <summary>What is checked, in one line.</summary>
    public required string Name { get; init; }
    /// <summary>The area tag (<see cref="ConformanceArea"/>).</summary>
    public required string Area { get; init; }
    public required ConformanceOutcome Outcome { get; init; }
    /// <summary>What the device did: errnos, states, fds, sizes. Empty for NotApplicable.</summary>
    public required string Observed { get; init; }
    /// <summary>What the uAPI requires.</summary>
    public required string Required { get; init; }
    /// <summary>Where the rule comes from: the uAPI header section or the kernel function.</summary>
    public required string Source { get; init; }
    /// <summary>Why a check failed, in one line, or why it does not apply; null when passed.</summary>
    public string? Reason { get; init; }
    /// <summary>The second device, for checks that use one (round trip).</summary>
    public string? Peer { get; init; }
    public TimeSpan Duration { get; init; }

    public override string ToString() => $"[{Number}] {Check}: {Outcome}{(Reason is null ? "" : " - " + Reason)}";
}
