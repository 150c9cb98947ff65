namespace VfioMigration.Protocol;

/// <summary>Numbers of the VFIO uAPI (docs/protocol.md §3.2, §4): request codes, feature ids, flag bits, capability ids.</summary>
internal static class VfioUapi
{
    // ioctl requests: _IO(';', 100 + n) on asm-generic layouts (x86_64, arm64, riscv64, s390x).
    public const uint VFIO_GET_API_VERSION = 0x3B64;
    public const uint VFIO_CHECK_EXTENSION = 0x3B65;
    public const uint VFIO_SET_IOMMU = 0x3B66;
    public const uint VFIO_GROUP_GET_STATUS = 0x3B67;
    public const uint VFIO_GROUP_SET_CONTAINER = 0x3B68;
    public const uint VFIO_GROUP_UNSET_CONTAINER = 0x3B69;
    public const uint VFIO_GROUP_GET_DEVICE_FD = 0x3B6A;
    public const uint VFIO_DEVICE_GET_INFO = 0x3B6B;
    public const uint VFIO_DEVICE_GET_REGION_INFO = 0x3B6C;
    public const uint VFIO_DEVICE_GET_IRQ_INFO = 0x3B6D;
    public const uint VFIO_DEVICE_RESET = 0x3B6F;
    public const uint VFIO_DEVICE_FEATURE = 0x3B75;
    public const uint VFIO_DEVICE_BIND_IOMMUFD = 0x3B76;
    public const uint VFIO_MIG_GET_PRECOPY_INFO = 0x3B79;

    // VFIO_DEVICE_FEATURE flags.
    public const uint FeatureMask = 0xFFFF;
    public const uint FeatureGet = 0x10000;
    public const uint FeatureSet = 0x20000;
    public const uint FeatureProbe = 0x40000;

    // Feature ids.
    public const uint FeaturePciVfToken = 0;
    public const uint FeatureMigration = 1;
    public const uint FeatureMigDeviceState = 2;
    public const uint FeatureLowPowerEntry = 3;
    public const uint FeatureDmaLoggingStart = 6;
    public const uint FeatureDmaLoggingStop = 7;
    public const uint FeatureDmaLoggingReport = 8;
    public const uint FeatureMigDataSize = 9;
    /// <summary>
    /// 7.3: SET (no payload) opts the open device in to <c>vfio_precopy_info.flags</c> being an output; EINVAL
    /// without PRE_COPY; cleared when the device is closed (drivers/vfio/vfio_main.c
    /// vfio_ioctl_device_feature_migration_precopy_info_v2, vfio_df_close).
    /// </summary>
    public const uint FeatureMigPrecopyInfoV2 = 12;

    /// <summary><c>vfio_precopy_info.flags</c> bit 0 (7.3, output only after feature 12): new initial data is on the stream.</summary>
    public const uint PrecopyInfoReinit = 0x1;

    /// <summary>Size of <c>struct vfio_device_feature</c> without payload.</summary>
    public const int FeatureHeaderSize = 8;

    // vfio_device_info.flags
    public const uint DeviceFlagReset = 0x1;
    public const uint DeviceFlagPci = 0x2;
    public const uint DeviceFlagCcw = 0x10;
    public const uint DeviceFlagCaps = 0x80;

    // vfio_region_info.flags
    public const uint RegionFlagRead = 0x1;
    public const uint RegionFlagWrite = 0x2;
    public const uint RegionFlagMmap = 0x4;
    public const uint RegionFlagCaps = 0x8;

    // Region-info capability ids (per INFO ioctl id space).
    public const ushort RegionCapSparseMmap = 1;
    public const ushort RegionCapType = 2;
    /// <summary>The RFC's NDMA capability; never allocated upstream.</summary>
    public const ushort RegionCapMigrationNdma = 6;

    // Region types.
    public const uint RegionTypeCcw = 2;
    public const uint RegionSubtypeCcwAsyncCmd = 1;
    public const uint RegionSubtypeCcwSchib = 2;
    public const uint RegionSubtypeCcwCrw = 3;
    public const uint RegionTypeMigration = 3;
    public const uint RegionSubtypeMigration = 1;

    /// <summary>vfio-pci's fixed region count: device-specific regions start at this index.</summary>
    public const int PciNumRegions = 9;
    public const int PciConfigRegionIndex = 7;

    public const int DeviceInfoSize = 24;
    public const int DeviceInfoMinSize = 16;
    public const int RegionInfoSize = 32;
    public const int PrecopyInfoSize = 24;
}
