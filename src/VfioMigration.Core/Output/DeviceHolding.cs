using VfioMigration.Protocol;

namespace VfioMigration;

/// <summary>
/// What the kernel shows of a device without opening it: the processes holding it (/proc) and, from VFIO's
/// debugfs (drivers/vfio/debugfs.c: <c>vfio/DEVICE/migration/state</c> since 6.8, <c>features</c> since 6.18), its
/// migration state and features. Each part says why it is missing when it is (one reason, never a guess).
/// </summary>
public sealed record DeviceHolding
{
    public static DeviceHolding None { get; } = new() { StateProblem = "the device is not held by another process" };

    public IReadOnlyList<DeviceHolder> Holders { get; init; } = Array.Empty<DeviceHolder>();
    /// <summary>Why some holders may be missing (processes whose fds could not be read); null when every process was read.</summary>
    public string? HoldersProblem { get; init; }
    /// <summary>The migration state debugfs shows; null when it cannot be read (<see cref="StateProblem"/> says why).</summary>
    public MigrationState? State { get; init; }
    /// <summary>The migration features debugfs shows (e.g. "stop-copy, p2p, pre-copy"); null before 6.18 or when unreadable.</summary>
    public string? Features { get; init; }
    /// <summary>The capabilities <see cref="Features"/> names (stop-copy, p2p, pre-copy); null without features.</summary>
    public MigrationCapabilities? Capabilities { get; init; }
    /// <summary>Why <see cref="State"/> is null.</summary>
    public string? StateProblem { get; init; }
}
