using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;

namespace VfioMigration.Tests;

/// <summary>One identity, shown as it is by every output object made from it.</summary>
public class DeviceIdentityTests
{
    [Fact]
    public void EveryIdentityFieldShowsOnTheDeviceUnderItsOwnName()
    {
        var host = SimulatedHost.CreateDefault();
        using var session = new VfioHostSession(new SimulatedBackend(host));
        var fields = typeof(DeviceIdentity).GetProperties().Where(p => p.Name != nameof(DeviceIdentity.Problem)).ToArray();
        Assert.Equal(17, fields.Length);
        foreach (var id in session.Enumerate())
        {
            var shown = session.Describe(id);
            foreach (var field in fields)
            {
                var property = typeof(VfioDevice).GetProperty(field.Name == nameof(DeviceIdentity.Address) ? nameof(VfioDevice.Name) : field.Name);
                Assert.True(property is not null, $"VfioDevice does not show {field.Name}");
                Assert.Equal(field.GetValue(id), property!.GetValue(shown));
            }
        }
    }

    [Fact]
    public void TheSimulatorDescribesPciAndCcwDevicesAsSysfsWould()
    {
        var host = SimulatedHost.CreateDefault();
        var pci = SimulatedBackend.Identify(host["0000:d8:00.0"]);
        Assert.Equal(("0000:d8:00.0", VfioDeviceKind.Pci, "vfio-pci", 103, "1234", "11e8", "1af4", "1100", "00ff00", (string?)null, true),
            (pci.Address, pci.Kind, pci.Driver, pci.IommuGroup, pci.VendorId, pci.DeviceId, pci.SubsystemVendorId, pci.SubsystemId, pci.ClassCode, pci.DeviceNumber, pci.IsSimulated));
        var ccw = SimulatedBackend.Identify(host["0.0.0100"]);
        Assert.Equal(("0.0.0100", VfioDeviceKind.Ccw, "vfio_ccw", (string?)null, "3990", "0.0.2b09", (string?)null, true),
            (ccw.Address, ccw.Kind, ccw.Driver, ccw.VendorId, ccw.DeviceId, ccw.DeviceNumber, ccw.ClassCode, ccw.IsSimulated));
    }

    [Fact]
    public void AReadinessResultNamesTheDeviceItJudges()
    {
        var host = SimulatedHost.CreateDefault();
        using var session = new VfioHostSession(new SimulatedBackend(host));
        var id = session.Identity("0.0.0100");
        var r = Assert.Single(MigrationReadinessCheck.Check(session, new[] { id }));
        Assert.Equal(("0.0.0100", VfioDeviceKind.Ccw, "vfio_ccw", true), (r.Name, r.Kind, r.Driver, r.IsSimulated));
    }
}
