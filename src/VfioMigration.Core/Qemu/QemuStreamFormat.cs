namespace VfioMigration.Qemu;

/// <summary>
/// The QEMU migration stream as QEMU 8.0 to 11.x write it (docs/qemu-stream.md). Integers are big-endian.
/// Sources: QEMU migration/savevm.h and savevm.c (section types, header, footer, commands), migration/ram.c
/// (RAM_SAVE_FLAG_*), hw/vfio/migration.c (VFIO_MIG_FLAG_*), migration/vmstate.c (the JSON description).
/// </summary>
internal static class QemuStreamFormat
{
    /// <summary>"QEVM", the stream's first four bytes.</summary>
    public const uint Magic = 0x5145564d;
    /// <summary>The only stream version QEMU has written since 2.x; version 2 was the pre-2009 layout.</summary>
    public const uint StreamVersion = 3;

    public const byte Eof = 0x00;
    public const byte SectionStart = 0x01;
    public const byte SectionPart = 0x02;
    public const byte SectionEnd = 0x03;
    public const byte SectionFull = 0x04;
    public const byte Subsection = 0x05;
    public const byte DescriptionMarker = 0x06;
    public const byte Configuration = 0x07;
    public const byte Command = 0x08;
    public const byte SectionFooter = 0x7e;

    /// <summary>MIG_CMD_PACKAGED: a postcopy package, a nested stream this reader does not walk.</summary>
    public const ushort CommandPackaged = 7;
    /// <summary>MIG_CMD_SWITCHOVER_START (QEMU 9.2+): no payload.</summary>
    public const ushort CommandSwitchoverStart = 0x0b;

    // RAM section page flags, in the low bits of each be64 page address (migration/ram.c).
    public const ulong RamZero = 0x02;
    public const ulong RamMemSize = 0x04;
    public const ulong RamPage = 0x08;
    public const ulong RamEos = 0x10;
    public const ulong RamContinue = 0x20;
    public const ulong RamXbzrle = 0x40;
    public const ulong RamHook = 0x80;
    public const ulong RamCompressPage = 0x100;
    public const ulong RamMultifdFlush = 0x200;
    /// <summary>The RAM section's version since QEMU 2.x.</summary>
    public const uint RamVersion = 4;

    // VFIO device section markers (hw/vfio/migration.c, VFIO_MIG_FLAG_*).
    public const ulong VfioEndOfState = 0xffffffffef100001;
    public const ulong VfioDevConfigState = 0xffffffffef100002;
    public const ulong VfioDevSetupState = 0xffffffffef100003;
    public const ulong VfioDevDataState = 0xffffffffef100004;
    public const ulong VfioDevInitDataSent = 0xffffffffef100005;
    public const ulong VfioDevConfigLoadReady = 0xffffffffef100006;
    /// <summary>A VFIO device's section idstr ends so; before it stands the guest's PCI path (qdev path).</summary>
    public const string VfioIdSuffix = "/vfio";

    /// <summary>The JSON description is at most this large (QEMU's for a large VM is a few MiB).</summary>
    public const int MaxDescriptionBytes = 32 * 1024 * 1024;
    /// <summary>
    /// At most this many sections (section ids) in a stream: QEMU gives each registered device state one (a VM of
    /// 1024 vCPUs has a few thousand), and each is remembered for the walk, so a crafted stream of millions is refused.
    /// </summary>
    public const int MaxSections = 1 << 16;
    /// <summary>The configuration section's machine type name (QEMU writes a short name like "pc-q35-10.0").</summary>
    public const int MaxMachineTypeBytes = 256;
}
