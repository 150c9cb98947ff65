using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>One step of a multi-device change: move this device to this state (phase 1 quiesces, phase 2 targets).</summary>
public sealed record DeviceSetStep(IDeviceMigration Device, MigrationState From, MigrationState Target, int Phase)
{
    public override string ToString() => $"{Device.Address}: {From} -> {Target}";
}
