using VfioMigration.Drivers;

namespace VfioMigration.Operations;

/// <summary>
/// One saved state and the device to restore it onto: an image file, or a QEMU stream or libvirt save file with
/// <paramref name="Section"/> naming its VFIO section (idstr or guest address; null when it has only one).
/// </summary>
public sealed record RestoreTarget(IDeviceMigration Device, VfioDevice Description, string Path, string? Section = null);
