using VfioMigration.Protocol;

namespace VfioMigration.Readiness;

/// <summary>Whether one device can migrate, and every reason it cannot.</summary>
public sealed class VfioMigrationReadiness
{
    public required string Address { get; init; }
    public VfioDeviceKind Kind { get; init; }
    public string? Driver { get; init; }
    public bool IsSimulated { get; init; }
    public MigrationProtocol MigrationProtocol { get; init; }
    public MigrationCapabilities MigrationCapabilities { get; init; }
    public bool CanMigrate { get; init; }
    public bool CanMigrateLive { get; init; }
    public MigrationBlocker[] Blockers { get; init; } = Array.Empty<MigrationBlocker>();

    public override string ToString() => Address;
}
