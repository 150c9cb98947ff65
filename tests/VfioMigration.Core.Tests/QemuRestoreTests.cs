using System.Globalization;
using VfioMigration.Backends.Simulated;
using VfioMigration.Libvirt;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Sources;

namespace VfioMigration.Tests;

/// <summary>
/// Restore from a QEMU stream or libvirt save file through the one restore path (Sources/ seam,
/// DeviceSetRestorer): the section verified whole and its identity checked before the device is touched, the
/// device bytes fed as the image path feeds them, the same errors and recovery.
/// </summary>
public class QemuRestoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qemu-restore-").FullName;
    private readonly SimulatedHost _host = new();
    private readonly SimulatedDevice _source, _target;
    private readonly VfioHostSession _session;

    public QemuRestoreTests()
    {
        _source = _host.Add(Sim.V2(address: "0000:01:00.0", seed: 1));
        _target = _host.Add(Sim.V2(address: "0000:01:00.1", seed: 2));
        _source.Advance(300);
        _session = new VfioHostSession(new SimulatedBackend(_host));
    }

    public void Dispose()
    {
        _session.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The source's device bytes as a save reads them, split like QEMU's pre-copy and stop-copy parts.</summary>
    private (byte[] Pre, byte[] Stop) SaveSource()
    {
        var data = new MemoryStream();
        DeviceStateSaver.Save(_session.Migration("0000:01:00.0"), data, new SaveOptions());
        var bytes = data.ToArray();
        return (bytes[..100], bytes[100..]);
    }

    private (ushort Vendor, ushort Device) Ids(string address)
    {
        var id = _session.Describe(address).Identity;
        return (ushort.Parse(id.VendorId!, NumberStyles.HexNumber, CultureInfo.InvariantCulture), ushort.Parse(id.DeviceId!, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
    }

    private string Stream(string name, Func<byte[], byte[]>? wrap = null, ushort? vendor = null, bool complete = true)
    {
        var (pre, stop) = SaveSource();
        var (v, d) = Ids("0000:01:00.0");
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:04.0/vfio").Ram(3).VfioData(2, false, pre);
        if (complete) b.VfioData(2, true, stop[..(stop.Length / 2)], stop[(stop.Length / 2)..]);
        b.Described(4, "timer").VfioConfig(2, "0000:00:04.0/vfio", vendor ?? v, d);
        var bytes = b.Finish();
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, wrap is null ? bytes : wrap(bytes));
        return path;
    }

    private DeviceOutcome Restore(string path, string? section = null, RestoreOverrides overrides = RestoreOverrides.None) =>
        Assert.Single(_session.Restore([new RestoreTarget(_session.Migration("0000:01:00.1"), _session.Describe("0000:01:00.1"), path, section)], MigrationState.Stop, overrides));

    [Fact]
    public void AQemuSectionRestoresOntoADeviceLikeAnImage()
    {
        var o = Restore(Stream("vm.mig"));
        Assert.True(o.Succeeded, o.Error?.Message);
        Assert.Equal("QemuStream", o.Image!.SourceFormat);
        Assert.Equal("0000:00:04.0/vfio", o.Image.Section);
        Sim.AssertSameDeviceState(_source, _target);
        Assert.Equal(MigrationState.Stop, o.StateNow);
    }

    [Fact]
    public void ALibvirtSaveFileGzippedRestoresLikewise()
    {
        var o = Restore(Stream("guest.save", s => QemuStreamReaderTests.LibvirtSave(s, LibvirtSaveFormat.Gzip)), "0000:00:04.0");
        Assert.True(o.Succeeded, o.Error?.Message);
        Assert.Equal("LibvirtSave", o.Image!.SourceFormat);
        Assert.Equal("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", o.Image.HostDevice);
        Sim.AssertSameDeviceState(_source, _target);
    }

    [Fact]
    public void AnotherDevicesSectionIsRefusedBeforeTheDeviceIsTouchedUnlessTheIdentityCheckIsSkipped()
    {
        var path = Stream("other.mig", vendor: 0x10de);
        var o = Restore(path);
        Assert.Equal("ImageDeviceMismatch", o.Error!.ErrorId);
        Assert.Contains("vendorId is '10de'", o.Error.Message);
        Assert.Equal(MigrationState.Running, o.StateNow);
        Assert.True(Restore(path, overrides: RestoreOverrides.Identity).Succeeded);
    }

    [Fact]
    public void AnUnfinishedSaveIsRefusedAndTouchesNoDevice()
    {
        var o = Restore(Stream("part.mig", complete: false));
        Assert.Equal("QemuStreamTruncated", o.Error!.ErrorId);
        Assert.Contains("did not finish", o.Error.Message);
        Assert.Equal(MigrationState.Running, o.StateNow);
        Assert.Contains("was not touched", o.Error.Message);
    }

    [Fact]
    public void ALibvirtSaveThatDidNotFinishIsRefusedAndTouchesNoDevice()
    {
        var o = Restore(Stream("part.save", s => QemuStreamReaderTests.LibvirtSave(s, partial: true)));
        Assert.Equal("QemuStreamTruncated", o.Error!.ErrorId);
        Assert.Contains("LibvirtQemudPart", o.Error.Message);
        Assert.Contains("was not touched", o.Error.Message);
    }

    [Fact]
    public void ADamagedStreamIsRefusedAndTouchesNoDevice()
    {
        var path = Stream("damaged.mig");
        var bytes = File.ReadAllBytes(path);
        bytes[^60] ^= 0xff; // inside the JSON description
        bytes[200] ^= 0xff;
        File.WriteAllBytes(path, bytes);
        var o = Restore(path);
        Assert.StartsWith("Qemu", o.Error!.ErrorId);
        Assert.Contains(path, o.Error.Message);
        Assert.Equal(MigrationState.Running, o.StateNow);
        Assert.Contains("was not touched", o.Error.Message);
    }

    [Fact]
    public void ASectionThatIsNotThereIsNamedWithTheOnesThatAre()
    {
        var o = Restore(Stream("vm.mig"), "0000:00:09.0");
        Assert.Equal("QemuSectionNotFound", o.Error!.ErrorId);
        Assert.Contains("0000:00:04.0", o.Error.Message);
    }

    [Fact]
    public void InspectListsEverySectionOfTheFile()
    {
        var path = Stream("vm.mig");
        var list = DeviceStateSources.Inspect(path, out var damage);
        Assert.Null(damage);
        var s = Assert.Single(list);
        Assert.Equal(("0000:00:04.0", true, 100L), (s.DeviceName, s.IsValid, s.PreCopyBytes));
        Assert.Equal(s.DataBytes - 100, s.StopCopyBytes);
        Assert.Equal("pc-q35-10.0", s.MachineType);
    }
}
