using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using VfioMigration.Libvirt;
using VfioMigration.Qemu;

namespace VfioMigration.Tests;

/// <summary>
/// The QEMU stream reader (Qemu/QemuStreamReader) on a stream QEMU 10.0.2 wrote (tests/fixtures/qemu), on streams
/// built from the documented layout with VFIO sections, and on every bad input of issue 18 item 7: each a
/// QemuStreamException naming the file and what was wrong, with nothing allocated beyond the file's size.
/// </summary>
public class QemuStreamReaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qemu-reader-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "qemu", name);

    private string Write(byte[] bytes, string name = "vm.mig")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    internal static QemuStreamContents Read(string path, uint? extract = null, List<byte>? data = null, bool frames = false) =>
        QemuStreamReader.Read(QemuStreamFile.Input(path, new FileInfo(path).Length), extract, data is null ? null : c => data.AddRange(c.ToArray()), recordFrames: frames);

    [Fact]
    public void WalksAStreamQemu10WroteToItsEnd()
    {
        var contents = Read(Fixture("qemu-10.0.2-q35-32m.mig"));
        Assert.Equal("pc-q35-10.0", contents.MachineType);
        Assert.Empty(contents.VfioSections);
        // RAM and the 29 devices of a q35 machine with nothing added.
        Assert.Equal(30, contents.SectionCount);
        Assert.True(contents.RamBytes >= 32L << 20, $"RAM {contents.RamBytes}");
        Assert.Equal(new FileInfo(Fixture("qemu-10.0.2-q35-32m.mig")).Length, contents.Length);
    }

    /// <summary>
    /// A stream QEMU 10.0.2 wrote in the 6.12 guest of an mtty mdev (SCR 0x77, LCR 0x03, FIFO "ABCXYZ"): QEMU
    /// describes the VFIO section's config part with both a size and one data buffer field, which the reader
    /// once refused ("gives no size for its config part").
    /// </summary>
    [Fact]
    public void ListsTheVfioSectionOfAStreamQemu10WroteOfAnMttyMdev()
    {
        var data = new List<byte>();
        var contents = Read(Fixture("qemu-10.0.2-mtty-scr77-lcr03-ABCXYZ.mig"));
        var vfio = Assert.Single(contents.VfioSections);
        Assert.Equal("0000:00:04.0", vfio.GuestAddress);
        Assert.True(vfio.IsComplete, vfio.Problem);
        Assert.Equal(24, vfio.PreCopyBytes);
        Assert.Equal(36, vfio.StopCopyBytes);
        Assert.NotNull(vfio.Config);
        var again = Read(Fixture("qemu-10.0.2-mtty-scr77-lcr03-ABCXYZ.mig"), vfio.SectionId, data);
        Assert.Equal(60, data.Count);
        Assert.Contains("ABCXYZ", System.Text.Encoding.ASCII.GetString(data.ToArray()));
    }

    [Fact]
    public void FindsTheVfioSectionWithItsPartsKeptApart()
    {
        var pre = Enumerable.Range(0, 24).Select(i => (byte)(0xa0 + i)).ToArray();
        var stop = Enumerable.Range(0, 36).Select(i => (byte)(0x10 + i)).ToArray();
        var (stream, _) = QemuStreamBuilder.Mtty(pre, stop);
        var path = Write(stream);
        var contents = Read(path);
        var s = Assert.Single(contents.VfioSections);
        Assert.Equal("0000:00:04.0/vfio", s.IdStr);
        Assert.Equal("0000:00:04.0", s.GuestAddress);
        Assert.Equal((24L, 1L, 36L, 2L), (s.PreCopyBytes, s.PreCopyChunks, s.StopCopyBytes, s.StopCopyChunks));
        Assert.True(s.IsComplete, s.Problem);
        Assert.Equal(new PciConfigIdentity("4348", "3253", "1af4", "1100", "070002"), s.Config);
        Assert.Equal(["switchover-ack"], s.Markers);
        var data = new List<byte>();
        Read(path, s.SectionId, data);
        Assert.Equal(pre.Concat(stop), data);
    }

    [Fact]
    public void AStreamWithoutSectionFootersIsWalked()
    {
        // Machine types before 2.5 send no footers (send-section-footer off).
        var b = new QemuStreamBuilder(footers: false);
        b.VfioStart(2, "0000:00:05.0/vfio").Ram(3).VfioData(2, true, [1, 2]).Described(4, "timer").VfioConfig(2, "0000:00:05.0/vfio", 1, 2);
        var s = Assert.Single(Read(Write(b.Finish())).VfioSections);
        Assert.True(s.IsComplete, s.Problem);
    }

    [Fact]
    public void ASectionWithoutItsStopCopyPartIsListedAsIncomplete()
    {
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:05.0/vfio").VfioData(2, false, [1, 2, 3]).VfioConfig(2, "0000:00:05.0/vfio", 0x10de, 0x2330);
        var s = Assert.Single(Read(Write(b.Finish())).VfioSections);
        Assert.False(s.IsComplete);
        Assert.Contains("stop-copy", s.Problem);
    }

    [Fact]
    public void NamesMarkersItDoesNotActOn()
    {
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:05.0/vfio").VfioData(2, true, QemuStreamBuilder.ConfigLoadReady, [1]).VfioConfig(2, "0000:00:05.0/vfio", 1, 2);
        Assert.Equal(["config-load-ready"], Assert.Single(Read(Write(b.Finish())).VfioSections).Markers);
    }

    // ---- item 7: bad input

    private QemuStreamException Refused(byte[] bytes)
    {
        var path = Write(bytes, "bad.mig");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Record.Exception(() => Read(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var q = Assert.IsType<QemuStreamException>(e);
        Assert.StartsWith(path, q.Message);
        Assert.True(allocated < 2 * bytes.Length + (2 << 20), $"{allocated} bytes allocated reading a {bytes.Length}-byte file");
        return q;
    }

    [Fact]
    public void TruncatedAtEverySectionBoundaryIsRefused()
    {
        var (stream, b) = QemuStreamBuilder.Mtty();
        foreach (var at in b.Boundaries.Append(stream.Length - 1).Append(stream.Length - 10))
        {
            var e = Refused(stream[..(int)at]);
            Assert.Contains("truncated", e.Message + (e.ErrorId == "QemuStreamTruncated" ? "truncated" : ""));
        }
    }

    [Fact]
    public void TheRealStreamTruncatedAtAnyOfManyPlacesIsRefused()
    {
        var real = File.ReadAllBytes(Fixture("qemu-10.0.2-q35-32m.mig"));
        for (int at = 0; at < real.Length; at += 997) Refused(real[..at]);
    }

    [Fact]
    public void AFlippedByteInEveryFramingFieldIsRefused()
    {
        var (stream, b) = QemuStreamBuilder.Mtty();
        var passed = new List<string>();
        foreach (var (offset, length, name) in b.Framing)
        {
            for (int i = 0; i < length; i++)
            {
                var bad = (byte[])stream.Clone();
                bad[offset + i] ^= 0xff;
                var path = Write(bad, "flip.mig");
                try { Read(path); passed.Add($"{name} byte {i} at {offset + i}"); }
                catch (QemuStreamException e) { Assert.StartsWith(path, e.Message); }
            }
        }
        Assert.True(passed.Count == 0, string.Join("\n", passed));
    }

    [Fact]
    public void WrongMagicAndVersionAreNamed()
    {
        Assert.Contains("magic", Refused(new QemuStreamBuilder(magic: 0x51455657).Finish()).Message);
        var e = Refused(new QemuStreamBuilder(version: 2).Finish());
        Assert.Equal("QemuStreamUnsupported", e.ErrorId);
        Assert.Contains("version 2", e.Message);
    }

    [Fact]
    public void SizesThatPointPastTheEndOrAskForGigabytesAllocateNothing()
    {
        var (stream, b) = QemuStreamBuilder.Mtty();
        foreach (var (offset, length, _) in b.Framing.Where(f => f.Name is "vfio chunk size" or "ram mem size" or "ram block length" or "command length" or "machine length"))
        {
            var bad = (byte[])stream.Clone();
            if (length == 8) BinaryPrimitives.WriteUInt64BigEndian(bad.AsSpan((int)offset), 0x0000_0004_0000_0000);
            else if (length == 4) BinaryPrimitives.WriteUInt32BigEndian(bad.AsSpan((int)offset), 0x7fff_fff0);
            else BinaryPrimitives.WriteUInt16BigEndian(bad.AsSpan((int)offset), 0xfff0);
            Refused(bad);
        }
    }

    /// <summary>Found by the fuzzer (tests/fuzz, target qemu): JSON values of the wrong kind or with invalid UTF-8 escaped as raw exceptions.</summary>
    [Theory]
    [InlineData("\"instance_id\": 0", "\"instance_id\": \"0\"")]
    [InlineData("\"page_size\": 4096", "\"page_size\": \"4096\"")]
    [InlineData("\"version\": 2", "\"version\": \"2\"")]
    [InlineData("\"version\": 1, \"fields\"", "\"version\": [1], \"fields\"")]
    [InlineData("{\"name\": \"b\"", "7, {\"name\": \"b\"")]
    [InlineData("\"vmsd_name\": \"timer/sub\", ", "")]
    [InlineData("\"subsections\": [{", "\"subsections\": [3, {")]
    [InlineData("\"name\": \"timer\"", "\"name\": \"timer\\udc00\"")]
    public void AJsonDescriptionWithValuesOfTheWrongKindIsTheReadersError(string find, string replace)
    {
        var (stream, b) = QemuStreamBuilder.Mtty();
        var bytes = b.Finish(json => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(json).Replace(find, replace, StringComparison.Ordinal)));
        Refused(Rebuilt(bytes));
    }

    [Fact]
    public void AJsonDescriptionThatIsNotUtf8IsTheReadersError()
    {
        var (_, b) = QemuStreamBuilder.Mtty();
        var bytes = b.Finish(json =>
        {
            var s = Encoding.UTF8.GetString(json);
            int at = Encoding.UTF8.GetByteCount(s[..(s.IndexOf("timer", StringComparison.Ordinal) + 1)]);
            json[at] = 0xff;
            return json;
        });
        Assert.Contains("UTF-8", Refused(Rebuilt(bytes)).Message);
    }

    /// <summary>Finish appends to the builder's stream; the second end and description replace the first.</summary>
    private static byte[] Rebuilt(byte[] twice)
    {
        // The builder's stream up to its first end byte, then the edited end and description.
        var first = QemuStreamBuilder.Mtty().Stream;
        int end = first.Length - (int)BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(LastDescription(first) + 1)) - 6;
        return [.. twice[..end], .. twice[(first.Length)..]];
    }

    private static int LastDescription(byte[] s)
    {
        for (int i = s.Length - 6; i >= 0; i--)
            if (s[i] == 0 && s[i + 1] == 6 && BinaryPrimitives.ReadUInt32BigEndian(s.AsSpan(i + 2)) == s.Length - i - 6) return i + 1;
        throw new InvalidOperationException("no description");
    }

    [Fact]
    public void TwoVfioSectionsWithOneIdstrAreRefused()
    {
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:04.0/vfio").VfioStart(3, "0000:00:04.0/vfio");
        Assert.Contains("two VFIO sections", Refused(b.Finish()).Message);
    }

    [Fact]
    public void AnIterableSectionItCannotWalkIsNamed()
    {
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "block");
        Assert.Contains("'block'", Refused(b.Finish()).Message);
    }

    [Fact]
    public void TheMappedRamLayoutIsRefusedSayingSo()
    {
        var b = new QemuStreamBuilder(machine: "pc");
        // The configuration's capability subsection, as QEMU 9.0+ writes it (known by name when the JSON does not describe it).
        var bytes = b.Finish().ToList();
        var cap = new List<byte> { 5, (byte)"configuration/capabilities".Length };
        cap.AddRange(Encoding.ASCII.GetBytes("configuration/capabilities"));
        cap.AddRange(new byte[] { 0, 0, 0, 1, 0, 0, 0, 1, 10 });
        cap.AddRange(Encoding.ASCII.GetBytes("mapped-ram"));
        bytes.InsertRange(8 + 1 + 4 + 2, cap);
        var e = Refused(bytes.ToArray());
        Assert.Equal("QemuStreamUnsupported", e.ErrorId);
        Assert.Contains("mapped-ram", e.Message);
    }

    // ---- libvirt save files

    internal static byte[] LibvirtSave(byte[] stream, LibvirtSaveFormat format = LibvirtSaveFormat.Raw, string? xml = null, uint? dataLength = null, bool partial = false)
    {
        xml ??= """
            <domain type='kvm'><name>guest1</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid><devices>
              <controller type='pci' index='0' model='pcie-root'/>
              <controller type='pci' index='1' model='pcie-root-port'><address type='pci' domain='0x0000' bus='0x00' slot='0x1c' function='0x0'/></controller>
              <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'/></source>
                <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></hostdev>
              <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source>
                <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></hostdev>
            </devices></domain>
            """;
        var data = new byte[(Encoding.UTF8.GetByteCount(xml) + 1 + 4095) / 4096 * 4096];
        Encoding.UTF8.GetBytes(xml, data);
        var header = new byte[92];
        Encoding.ASCII.GetBytes(partial ? "LibvirtQemudPart" : "LibvirtQemudSave", header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 2);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(20), dataLength ?? (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(28), (uint)format);
        var body = format switch
        {
            LibvirtSaveFormat.Raw => stream,
            LibvirtSaveFormat.Gzip => Gzip(stream),
            _ => throw new ArgumentOutOfRangeException(nameof(format)),
        };
        return [.. header, .. data, .. body];
    }

    private static byte[] Gzip(byte[] bytes)
    {
        var m = new MemoryStream();
        using (var z = new GZipStream(m, CompressionLevel.Fastest, leaveOpen: true)) z.Write(bytes);
        return m.ToArray();
    }

    private static (LibvirtSaveFile File, QemuStreamContents Contents) ReadSave(string path)
    {
        var save = LibvirtSaveFile.Open(path);
        return (save, QemuStreamReader.Read(save.Input));
    }

    [Theory]
    [InlineData((int)LibvirtSaveFormat.Raw)]
    [InlineData((int)LibvirtSaveFormat.Gzip)]
    public void ReadsALibvirtSaveFileAndNamesTheHostDevice(int formatNumber)
    {
        var format = (LibvirtSaveFormat)formatNumber;
        var (stream, _) = QemuStreamBuilder.Mtty();
        var (save, contents) = ReadSave(Write(LibvirtSave(stream, format), "guest1.save"));
        Assert.Equal("guest1", save.Domain.Name);
        var s = Assert.Single(contents.VfioSections);
        Assert.Equal("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", save.Domain.HostDeviceFor(s.GuestAddress));
        Assert.Equal("0000:3b:00.1", save.Domain.HostDeviceFor("0000:00:1c.0:00.0"));
        Assert.Null(save.Domain.HostDeviceFor("0000:00:09.0"));
        Assert.Equal(stream.Length, contents.Length);
    }

    /// <summary>
    /// tests/fixtures/qemu/mtty-{bzip2,xz,zstd}.save: libvirt save files around the builder's mtty stream (pre-copy
    /// 01..04, stop-copy 05..0a), compressed with the bzip2, xz and zstd command-line tools.
    /// </summary>
    [Theory]
    [InlineData("bzip2")]
    [InlineData("xz")]
    [InlineData("zstd")]
    public void ReadsLibvirtSaveFilesCompressedWithTheOtherFormatsLibvirtWrites(string format)
    {
        var (save, contents) = ReadSave(Fixture($"mtty-{format}.save"));
        Assert.Equal(format, save.Header.Format.ToString().ToLowerInvariant());
        var s = Assert.Single(contents.VfioSections);
        var expected = Assert.Single(Read(Write(QemuStreamBuilder.Mtty(new byte[] { 1, 2, 3, 4 }, new byte[] { 5, 6, 7, 8, 9, 10 }).Stream)).VfioSections);
        Assert.Equal((expected.Checksum, 4L, 6L), (s.Checksum, s.PreCopyBytes, s.StopCopyBytes));
        Assert.Equal("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", save.Domain.HostDeviceFor(s.GuestAddress));
    }

    [Fact]
    public void ALibvirtSaveOfTheRealStreamGzippedReadsLikeTheRawOne()
    {
        var real = File.ReadAllBytes(Fixture("qemu-10.0.2-q35-32m.mig"));
        var (_, contents) = ReadSave(Write(LibvirtSave(real, LibvirtSaveFormat.Gzip), "real.save"));
        Assert.Equal(Read(Fixture("qemu-10.0.2-q35-32m.mig")).SectionCount, contents.SectionCount);
    }

    [Fact]
    public void ALibvirtHeaderWithAWrongLengthIsRefused()
    {
        var (stream, _) = QemuStreamBuilder.Mtty();
        var path = Write(LibvirtSave(stream, dataLength: 0x7fff_0000), "long.save");
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() => LibvirtSaveFile.Open(path)));
        Assert.Equal("LibvirtSaveInvalid", e.ErrorId);
        Assert.Contains("data length", e.Message);
        // Too short by a page: the QEMU stream then starts inside the XML padding.
        var shorter = Write(LibvirtSave(stream, dataLength: 4096 - 4096 + 100), "short.save");
        Assert.IsType<QemuStreamException>(Record.Exception(() => ReadSave(shorter)));
    }

    [Fact]
    public void DamagedCompressedDataIsTheModulesError()
    {
        var (stream, _) = QemuStreamBuilder.Mtty();
        var bytes = LibvirtSave(stream, LibvirtSaveFormat.Gzip);
        for (int i = 92 + 4096 + 20; i < bytes.Length - 8; i += 7) bytes[i] ^= 0x55;
        var path = Write(bytes, "damaged.save");
        Assert.IsType<QemuStreamException>(Record.Exception(() => ReadSave(path)));
    }

    [Fact]
    public void LzopIsRefusedSayingWhichFormat()
    {
        var bytes = LibvirtSave(QemuStreamBuilder.Mtty().Stream);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(28), (uint)LibvirtSaveFormat.Lzop);
        var path = Write(bytes, "lzop.save");
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() => LibvirtSaveFile.Open(path)));
        Assert.Contains("lzop", e.Message);
        Assert.Equal("QemuStreamUnsupported", e.ErrorId);
    }
}
