using VfioMigration.Drivers;

namespace VfioMigration.Operations;

/// <summary>One image and the device to restore it onto.</summary>
public sealed record RestoreTarget(IDeviceMigration Device, VfioDevice Description, string Path);
