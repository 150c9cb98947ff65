using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VfioMigration.Logging;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Drivers;

/// <summary>
/// Finds out which protocol an open device speaks (docs/protocol.md checklist 74): a successful GET of feature 1 means v2;
/// ENOTTY there sends us looking for a v1 region (type 3 / subtype 1) in every region's capability chain;
/// neither means no migration. A v2 device found in a session state with no data fd of ours is brought to a defined
/// state by the first state read (<see cref="V2MigrationDriver.TakeOverFoundState"/>).
/// </summary>
internal static class MigrationDriverFactory
{
    public static IDeviceMigration Open(IVfioDeviceTransport transport, ILoggerFactory? loggers = null)
    {
        loggers ??= NullLoggerFactory.Instance;
        var calls = new CheckedDeviceCalls(transport);
        IDeviceMigration driver = ProbeV2(calls, loggers) ?? ProbeV1(calls, loggers) ?? new NoMigrationDriver(transport);
        CoreLog.ProtocolDetected(loggers.CreateLogger(typeof(MigrationDriverFactory).FullName!), transport.Address, driver.Protocol, driver.Capabilities);
        return driver;
    }

    private static IDeviceMigration? ProbeV2(CheckedDeviceCalls calls, ILoggerFactory loggers)
    {
        var (b, rc) = calls.FeatureGet(VfioUapi.FeatureMigration, 8);
        if (rc == -Errno.ENOTTY) return null;
        calls.Check(rc, "VFIO_DEVICE_FEATURE GET MIGRATION");
        var flags = (MigrationCapabilities)(DeviceFeatureBuffer.ReadU64Payload(b) & 0x7);
        if (!flags.HasFlag(MigrationCapabilities.StopCopy))
            throw new VfioCallException(calls.Address, $"GET MIGRATION succeeded without STOP_COPY (flags 0x{(int)flags:X})", Errno.EINVAL);
        return new V2MigrationDriver(calls, flags, loggers.CreateLogger<V2MigrationDriver>());
    }

    private static IDeviceMigration? ProbeV1(CheckedDeviceCalls calls, ILoggerFactory loggers)
    {
        var info = calls.GetDeviceInfo();
        uint first = info.IsPci ? VfioUapi.PciNumRegions : 0u;
        for (uint i = first; i < info.NumRegions; i++)
        {
            var region = calls.GetRegionInfo(i);
            if (region?.RegionType is (VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration))
            {
                if (region.Size <= MigrationRegionLayout.RegisterBlockSize)
                    throw new VfioCallException(calls.Address, $"v1 migration region {i} is only {region.Size} bytes", Errno.EINVAL);
                return new V1MigrationDriver(calls, region, loggers.CreateLogger<V1MigrationDriver>());
            }
        }
        return null;
    }
}
