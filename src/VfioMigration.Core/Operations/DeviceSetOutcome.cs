using VfioMigration.Drivers;

namespace VfioMigration.Operations;

/// <summary>How one device of a multi-device change ended: its last transition, or the error that stopped it.</summary>
public sealed record DeviceSetOutcome(IDeviceMigration Device, TransitionResult? Result, VfioMigrationException? Error)
{
    public bool Succeeded => Error is null;
}
