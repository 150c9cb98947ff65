using VfioMigration.Backends.Simulated;
using VfioMigration.Libvirt;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Qemu;
using VfioMigration.Sources;

namespace VfioMigration.Tests;

/// <summary>
/// Writing for QEMU (Sources/QemuStreamExport): a template's VFIO data replaced by an image's, every other byte
/// kept; a template of another device or a compressed one refused, nothing written.
/// </summary>
public class QemuStreamExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qemu-export-").FullName;
    private readonly SimulatedHost _host = new();
    private readonly SimulatedDevice _source, _target;
    private readonly VfioHostSession _session;

    public QemuStreamExportTests()
    {
        var qat = new PciIdentity(0x8086, 0x4941, 0x8086, 0x0000, 0x0b4000);
        _source = _host.Add(Sim.V2(address: "0000:01:00.0", seed: 1) with { PciIdentity = qat });
        _target = _host.Add(Sim.V2(address: "0000:01:00.1", seed: 2) with { PciIdentity = qat });
        _source.Advance(300);
        _session = new VfioHostSession(new SimulatedBackend(_host));
    }

    public void Dispose()
    {
        _session.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string P(string name) => Path.Combine(_dir, name);

    private string SaveImage()
    {
        var path = P("source.vfiostate");
        var o = Assert.Single(_session.Save([new SaveTarget(_session.Migration("0000:01:00.0"), _session.Describe("0000:01:00.0"), path)], new SaveOptions(), false, false));
        Assert.True(o.Succeeded, o.Error?.Message);
        return path;
    }

    private static byte[] Template(ushort vendor = 0x8086, ushort device = 0x4941) =>
        QemuStreamBuilder.Mtty(new byte[] { 1, 2, 3 }, new byte[] { 4, 5, 6, 7 }) is var (stream, _) ? Retarget(stream, vendor, device) : [];

    /// <summary>The mtty stream with the config space's vendor/device set (it is at a fixed place: config marker, be32, then the space).</summary>
    private static byte[] Retarget(byte[] stream, ushort vendor, ushort device)
    {
        var marker = new byte[] { 0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x02 };
        int at = stream.AsSpan().IndexOf(marker) + 12;
        stream[at] = (byte)vendor; stream[at + 1] = (byte)(vendor >> 8); stream[at + 2] = (byte)device; stream[at + 3] = (byte)(device >> 8);
        return stream;
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void ReplacesOnlyTheDeviceDataAndTheResultRestores()
    {
        var image = SaveImage();
        var template = Template();
        File.WriteAllBytes(P("template.mig"), template);
        var written = QemuStreamExport.Write(image, P("template.mig"), P("out.mig"));
        var imageData = Sources.DeviceStateSources.Inspect(image, out _).Single();
        Assert.Equal(imageData.DataBytes, written.DataBytes);
        Assert.Equal(imageData.DataBytes, written.StopCopyBytes);
        // Everything but the data frames is the template's: cut the frames out of both and compare.
        var before = Walk(P("template.mig"));
        var after = Walk(P("out.mig"));
        Assert.Equal(WithoutFrames(template, before), WithoutFrames(File.ReadAllBytes(P("out.mig")), after));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("out.mig")));
        var o = Assert.Single(_session.Restore([new RestoreTarget(_session.Migration("0000:01:00.1"), _session.Describe("0000:01:00.1"), P("out.mig"))], MigrationState.Stop, RestoreOverrides.None));
        Assert.True(o.Succeeded, o.Error?.Message);
        Sim.AssertSameDeviceState(_source, _target);
    }

    private static QemuVfioSection Walk(string path) => Assert.Single(QemuStreamReaderTests.Read(path, frames: true).VfioSections);

    private static byte[] WithoutFrames(byte[] bytes, QemuVfioSection s)
    {
        var keep = new List<byte>();
        long at = 0;
        foreach (var f in s.Frames.OrderBy(f => f.Offset))
        {
            keep.AddRange(bytes[(int)at..(int)f.Offset]);
            at = f.Offset + f.FrameLength;
        }
        keep.AddRange(bytes[(int)at..]);
        return keep.ToArray();
    }

    [Fact]
    public void KeepsALibvirtHeaderAndXmlByteForByte()
    {
        var image = SaveImage();
        var save = QemuStreamReaderTests.LibvirtSave(Template());
        File.WriteAllBytes(P("guest.save"), save);
        var written = QemuStreamExport.Write(image, P("guest.save"), P("out.save"));
        Assert.Equal("LibvirtSave", written.SourceFormat);
        Assert.Equal("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", written.HostDevice);
        Assert.Equal(save[..(92 + 4096)], File.ReadAllBytes(P("out.save"))[..(92 + 4096)]);
    }

    [Fact]
    public void ATemplateOfAnotherDeviceIsRefusedAndNothingIsWritten()
    {
        var image = SaveImage();
        File.WriteAllBytes(P("other.mig"), Template(0x4348, 0x3253));
        var e = Assert.IsAssignableFrom<VfioMigrationException>(Record.Exception(() => QemuStreamExport.Write(image, P("other.mig"), P("out.mig"))));
        Assert.Equal("QemuTemplateMismatch", e.ErrorId);
        Assert.Equal(ErrorRemedy.OverrideIdentityCheck, e.Remedy);
        Assert.Contains("vendorId is '4348'", e.Message);
        Assert.False(File.Exists(P("out.mig")));
        // The override writes it: the user's word that the section is that device.
        QemuStreamExport.Write(image, P("other.mig"), P("out.mig"), skipIdentityCheck: true);
        Assert.True(File.Exists(P("out.mig")));
    }


    [Fact]
    public void ACompressedTemplateIsRefusedSayingSo()
    {
        var image = SaveImage();
        File.WriteAllBytes(P("gz.save"), QemuStreamReaderTests.LibvirtSave(Template(), LibvirtSaveFormat.Gzip));
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() => QemuStreamExport.Write(image, P("gz.save"), P("out.save"))));
        Assert.Equal("QemuStreamUnsupported", e.ErrorId);
        Assert.Contains("gzip", e.Message);
        Assert.False(File.Exists(P("out.save")));
    }

    [Fact]
    public void AnExistingDestinationIsKeptWithoutOverwrite()
    {
        var image = SaveImage();
        File.WriteAllBytes(P("template.mig"), Template());
        File.WriteAllText(P("out.mig"), "keep");
        var e = Assert.IsType<VfioMigrationException>(Record.Exception(() => QemuStreamExport.Write(image, P("template.mig"), P("out.mig"))), exactMatch: false);
        Assert.Equal("ImageExists", e.ErrorId);
        Assert.Equal("keep", File.ReadAllText(P("out.mig")));
    }
}

/// <summary>
/// tests/fixtures/qemu/template-8086-4941.mig, the Pester suite's template (a stream of the documented layout
/// whose VFIO section is of the simulator's QAT function, 8086:4941), is exactly what the builder writes.
/// QEMU_FIXTURES_WRITE=1 writes it again.
/// </summary>
public class QemuFixtureTests
{
    [Fact]
    public void ThePesterTemplateIsTheBuildersStream()
    {
        var (stream, _) = QemuStreamBuilder.Mtty(Enumerable.Repeat((byte)0x5a, 24).ToArray(), Enumerable.Repeat((byte)0xa5, 36).ToArray());
        var marker = new byte[] { 0xff, 0xff, 0xff, 0xff, 0xef, 0x10, 0x00, 0x02 };
        int at = stream.AsSpan().IndexOf(marker) + 12;
        stream[at] = 0x86; stream[at + 1] = 0x80; stream[at + 2] = 0x41; stream[at + 3] = 0x49;
        var committed = Path.Combine(SourceRoot(), "tests", "fixtures", "qemu", "template-8086-4941.mig");
        if (Environment.GetEnvironmentVariable("QEMU_FIXTURES_WRITE") == "1") File.WriteAllBytes(committed, stream);
        Assert.Equal(stream, File.ReadAllBytes(committed));
    }

    private static string SourceRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VfioMigration.psd1"))) return dir.FullName;
        throw new InvalidOperationException("the repository root (VfioMigration.psd1) is not above the test binaries");
    }
}
