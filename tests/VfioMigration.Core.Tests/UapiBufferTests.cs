using System.Buffers.Binary;
using VfioMigration.Backends.Linux;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Tests;

/// <summary>Buffers and numbers of the uAPI as docs/protocol.md §4 gives them.</summary>
public class UapiBufferTests
{
    [Fact]
    public void RequestNumbersAreIoSemicolonHundredPlusN()
    {
        Assert.Equal(0x3B64u, VfioUapi.VFIO_GET_API_VERSION);
        Assert.Equal(0x3B6Au, VfioUapi.VFIO_GROUP_GET_DEVICE_FD);
        Assert.Equal(0x3B6Cu, VfioUapi.VFIO_DEVICE_GET_REGION_INFO);
        Assert.Equal(0x3B6Fu, VfioUapi.VFIO_DEVICE_RESET);
        Assert.Equal(0x3B75u, VfioUapi.VFIO_DEVICE_FEATURE);
        Assert.Equal(0x3B79u, VfioUapi.VFIO_MIG_GET_PRECOPY_INFO);
    }

    [Fact]
    public void StructSizesAndContainerRequestsOfSection4()
    {
        Assert.Equal(0x3B65u, VfioUapi.VFIO_CHECK_EXTENSION);
        Assert.Equal(0x3B66u, VfioUapi.VFIO_SET_IOMMU);
        Assert.Equal(0x3B67u, VfioUapi.VFIO_GROUP_GET_STATUS);
        Assert.Equal(0x3B68u, VfioUapi.VFIO_GROUP_SET_CONTAINER);
        Assert.Equal(0x3B76u, VfioUapi.VFIO_DEVICE_BIND_IOMMUFD);
        Assert.Equal(24, VfioUapi.DeviceInfoSize);
        Assert.Equal(16, VfioUapi.DeviceInfoMinSize);
        Assert.Equal(32, VfioUapi.RegionInfoSize);
        Assert.Equal(24, VfioUapi.PrecopyInfoSize);
        Assert.Equal(8, VfioUapi.FeatureHeaderSize);
        Assert.Equal((1u, 3u, 8u), (LinuxVfioTransport.IommuType1, LinuxVfioTransport.IommuType1v2, LinuxVfioTransport.IommuNoIommu));
        Assert.Equal(16, DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureGet, MigrationState.Running).Length);
        Assert.Equal(32, MigrationRegionLayout.RegisterBlockSize);
    }

    [Fact]
    public void ReadyMadeBuffersOfSection42()
    {
        Assert.Equal(new byte[] { 0x10, 0, 0, 0, 0x01, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
            DeviceFeatureBuffer.Create(VfioUapi.FeatureMigration, VfioUapi.FeatureGet, 8));
        Assert.Equal(new byte[] { 0x10, 0, 0, 0, 0x02, 0, 0x02, 0, 0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0xff },
            DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureSet, MigrationState.StopCopy));
        Assert.Equal(0x00010002u, DeviceFeatureBuffer.Flags(DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureGet, MigrationState.Running)));
    }

    [Fact]
    public void RegionInfoWithATooSmallBufferAsksForMoreAndTheChainParsesBack()
    {
        var info = new RegionInfo(9, VfioUapi.RegionFlagRead | VfioUapi.RegionFlagWrite, 69632, 9UL << 40, new[]
        {
            RegionCapability.Type(VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration),
            RegionCapability.HeaderOnly(VfioUapi.RegionCapMigrationNdma),
        });
        var small = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(small, 32);
        info.WriteTo(small);
        Assert.Equal((uint)info.EncodedSize, BinaryPrimitives.ReadUInt32LittleEndian(small));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(small.AsSpan(12)));
        Assert.NotEqual(0u, BinaryPrimitives.ReadUInt32LittleEndian(small.AsSpan(4)) & VfioUapi.RegionFlagCaps);

        var full = new byte[info.EncodedSize];
        BinaryPrimitives.WriteUInt32LittleEndian(full, (uint)full.Length);
        info.WriteTo(full);
        var parsed = RegionInfo.Parse(full);
        Assert.Equal((VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration), parsed.RegionType!.Value);
        Assert.True(parsed.Has(VfioUapi.RegionCapMigrationNdma));
        Assert.Equal(info.Offset, parsed.Offset);
        Assert.Equal(info.Size, parsed.Size);
        Assert.Equal(32u, BinaryPrimitives.ReadUInt32LittleEndian(full.AsSpan(12))); // first cap right after the struct
    }

    [Fact]
    public void ALoopingCapabilityChainIsRejected()
    {
        var b = new byte[48];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 48);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), VfioUapi.RegionFlagCaps);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), 32);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(32), 2);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(36), 32); // next points at itself
        Assert.Throws<FormatException>(() => RegionInfo.Parse(b));
    }

    [Fact]
    public void CheckedCallsGrowTheBufferForTheWholeChain()
    {
        var (_, d) = Sim.One(Sim.V1(ndma: true));
        using var t = d.Open();
        var region = new CheckedDeviceCalls(t).GetRegionInfo(VfioUapi.PciNumRegions);
        Assert.NotNull(region);
        Assert.Equal(2, region!.Capabilities.Count);
        Assert.Null(new CheckedDeviceCalls(t).GetRegionInfo(99));
    }

    [Fact]
    public void DeviceInfoAcceptsTheOlderTwentyByteStructAndRejectsLessThanSixteen()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var b = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 20);
        Assert.Equal(0, t.GetDeviceInfo(b));
        var info = DeviceInfo.Parse(b);
        Assert.True(info.IsPci && info.CanReset);
        Assert.Equal((uint)VfioUapi.PciNumRegions, info.NumRegions);
        BinaryPrimitives.WriteUInt32LittleEndian(b, 12);
        Assert.Equal(-Errno.EINVAL, t.GetDeviceInfo(b));
    }
}
