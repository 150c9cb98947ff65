namespace VfioMigration.Protocol;

/// <summary>
/// <c>struct vfio_device_migration_info</c>, the v1 register block at offset 0 of the migration region
/// (docs/protocol.md §1.2). The only place these offsets and widths are written down.
/// </summary>
internal static class MigrationRegionLayout
{
    public const int DeviceStateOffset = 0;
    public const int DeviceStateWidth = 4;
    public const int ReservedOffset = 4;
    public const int ReservedWidth = 4;
    public const int PendingBytesOffset = 8;
    public const int PendingBytesWidth = 8;
    public const int DataOffsetOffset = 16;
    public const int DataOffsetWidth = 8;
    public const int DataSizeOffset = 24;
    public const int DataSizeWidth = 8;
    /// <summary>Size of the register block; the data section always starts at or after it.</summary>
    public const int RegisterBlockSize = 32;

    /// <summary>The width a register at <paramref name="offset"/> must be accessed with, or null if none starts there.</summary>
    public static int? WidthAt(long offset) => offset switch
    {
        DeviceStateOffset => DeviceStateWidth,
        ReservedOffset => ReservedWidth,
        PendingBytesOffset => PendingBytesWidth,
        DataOffsetOffset => DataOffsetWidth,
        DataSizeOffset => DataSizeWidth,
        _ => null,
    };
}
