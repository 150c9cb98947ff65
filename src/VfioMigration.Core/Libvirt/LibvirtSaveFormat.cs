namespace VfioMigration.Libvirt;

/// <summary>How libvirt compressed the QEMU stream of a save file (libvirt src/qemu/qemu_saveimage.h, virQEMUSaveFormat).</summary>
internal enum LibvirtSaveFormat
{
    Raw = 0,
    Gzip = 1,
    Bzip2 = 2,
    Xz = 3,
    Lzop = 4,
    Zstd = 5,
}
