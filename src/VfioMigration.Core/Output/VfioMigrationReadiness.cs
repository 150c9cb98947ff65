using VfioMigration.Protocol;

namespace VfioMigration;

/// <summary>Whether one device can migrate, and every reason it cannot.</summary>
public sealed class VfioMigrationReadiness
{
    /// <summary>The device's name, as <see cref="VfioDevice.Name"/>.</summary>
    public required string Name { get; init; }
    public VfioDeviceKind Kind { get; init; }
    public string? Driver { get; init; }
    public bool IsSimulated { get; init; }
    public MigrationProtocol Protocol { get; init; }
    public MigrationCapabilities Capabilities { get; init; }
    public bool CanMigrate { get; init; }
    public bool CanMigrateLive { get; init; }
    public MigrationBlocker[] Blockers { get; init; } = Array.Empty<MigrationBlocker>();

    public override string ToString() => Name;
}
