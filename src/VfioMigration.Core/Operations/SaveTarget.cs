using VfioMigration.Drivers;

namespace VfioMigration.Operations;

/// <summary>One device to save and the image file to write it to.</summary>
public sealed record SaveTarget(IDeviceMigration Device, VfioDevice Description, string Path);
