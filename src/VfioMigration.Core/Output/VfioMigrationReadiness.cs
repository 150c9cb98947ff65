using VfioMigration.Protocol;

namespace VfioMigration;

/// <summary>Whether one device can migrate, and every reason it cannot.</summary>
public sealed class VfioMigrationReadiness
{
    /// <summary>The device it judges, as discovery found it.</summary>
    internal VfioMigrationReadiness(DeviceIdentity identity) => Identity = identity;

    internal DeviceIdentity Identity { get; }
    /// <summary>The device's name, as <see cref="VfioDevice.Name"/>.</summary>
    public string Name => Identity.Address;
    public VfioDeviceKind Kind => Identity.Kind;
    public string? Driver => Identity.Driver;
    public bool IsSimulated => Identity.IsSimulated;
    public MigrationProtocol Protocol { get; init; }
    public MigrationCapabilities Capabilities { get; init; }
    public bool CanMigrate { get; init; }
    public bool CanMigrateLive { get; init; }
    public MigrationBlocker[] Blockers { get; init; } = Array.Empty<MigrationBlocker>();

    public override string ToString() => Name;
}
