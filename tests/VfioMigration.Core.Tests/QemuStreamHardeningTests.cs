using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using VfioMigration.Libvirt;
using VfioMigration.Qemu;
using VfioMigration.Sources;

namespace VfioMigration.Tests;

/// <summary>
/// The QEMU stream and libvirt save readers against crafted files (attack findings of issues 18/19): damaged
/// compressed payloads of every format, trailers cut or followed by junk, empty data chunks, descriptions and
/// domain XML built to cost time, names carrying terminal escapes, ambiguous section names, and one open file per walk.
/// </summary>
public class QemuStreamHardeningTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("qemu-hardening-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(byte[] bytes, string name)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A libvirt save (the helper's header and XML) around <paramref name="payload"/>, its header saying <paramref name="format"/>.</summary>
    private static byte[] Save(byte[] payload, LibvirtSaveFormat format, string? xml = null)
    {
        var bytes = QemuStreamReaderTests.LibvirtSave(payload, LibvirtSaveFormat.Raw, xml);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(28), (uint)format);
        return bytes;
    }

    /// <summary>The compressed payload of a fixture (tests/fixtures/qemu/mtty-FORMAT.save), or the builder's stream gzipped.</summary>
    private static byte[] Payload(LibvirtSaveFormat format)
    {
        if (format == LibvirtSaveFormat.Gzip)
        {
            var m = new MemoryStream();
            using (var z = new GZipStream(m, CompressionLevel.Fastest, leaveOpen: true)) z.Write(QemuStreamBuilder.Mtty().Stream);
            return m.ToArray();
        }
        var save = File.ReadAllBytes(QemuStreamReaderTests.Fixture($"mtty-{format.ToString().ToLowerInvariant()}.save"));
        return save[(92 + (int)BinaryPrimitives.ReadUInt32LittleEndian(save.AsSpan(20)))..];
    }

    /// <summary>Reads the file as Get-VfioStateImage does; returns the module's error (any other exception fails the test).</summary>
    private static VfioMigrationException Refused(string path)
    {
        var e = Record.Exception(() => DeviceStateSources.Inspect(path, out _));
        Assert.NotNull(e);
        var m = Assert.IsAssignableFrom<VfioMigrationException>(e);
        Assert.Contains(path, m.Message);
        return m;
    }

    public static TheoryData<int, string> Damages()
    {
        var data = new TheoryData<int, string>();
        foreach (var f in new[] { LibvirtSaveFormat.Gzip, LibvirtSaveFormat.Bzip2, LibvirtSaveFormat.Xz, LibvirtSaveFormat.Zstd })
            foreach (var d in new[] { "garbage", "empty", "cut5", "cut20", "cut124", "raw", "zeros" })
                data.Add((int)f, d);
        return data;
    }

    /// <summary>
    /// Finding 2: every format, every damage, gives the module's error naming the file; before, bzip2's header was
    /// read outside the guard, so SharpCompress's InvalidFormatException and ArchiveOperationException escaped.
    /// </summary>
    [Theory]
    [MemberData(nameof(Damages))]
    public void ADamagedPayloadOfAnyFormatIsTheModulesErrorNamingTheFile(int formatNumber, string damage)
    {
        var format = (LibvirtSaveFormat)formatNumber;
        var good = Payload(format);
        byte[] payload = damage switch
        {
            "garbage" => Enumerable.Repeat(new byte[] { 0xde, 0xad, 0xbe, 0xef }, 50).SelectMany(b => b).ToArray(),
            "empty" => [],
            "cut5" => good[..5],
            "cut20" => good[..20],
            "cut124" => good[..124],
            "raw" => QemuStreamBuilder.Mtty().Stream,
            _ => good.Select((b, i) => i < 12 ? b : (byte)0).ToArray(),
        };
        var e = Refused(Write(Save(payload, format), $"{damage}.save"));
        Assert.Contains(e.ErrorId, new[] { "QemuStreamInvalid", "QemuStreamTruncated" });
    }

    /// <summary>Finding 8: gzip and xz refuse what bzip2 and zstd refuse: a cut trailer, bytes after the payload, a damaged xz index.</summary>
    [Theory]
    [InlineData((int)LibvirtSaveFormat.Gzip, "cut2")]
    [InlineData((int)LibvirtSaveFormat.Gzip, "cut4")]
    [InlineData((int)LibvirtSaveFormat.Gzip, "cut5")]
    [InlineData((int)LibvirtSaveFormat.Gzip, "cut8")]
    [InlineData((int)LibvirtSaveFormat.Gzip, "junk")]
    [InlineData((int)LibvirtSaveFormat.Gzip, "zeros")]
    [InlineData((int)LibvirtSaveFormat.Xz, "junk")]
    [InlineData((int)LibvirtSaveFormat.Xz, "zeros")]
    [InlineData((int)LibvirtSaveFormat.Xz, "flip14")]
    [InlineData((int)LibvirtSaveFormat.Xz, "flip6")]
    [InlineData((int)LibvirtSaveFormat.Bzip2, "junk")]
    [InlineData((int)LibvirtSaveFormat.Zstd, "junk")]
    public void EveryFormatRefusesACutTrailerOrBytesAfterThePayload(int formatNumber, string damage)
    {
        var format = (LibvirtSaveFormat)formatNumber;
        var good = Payload(format);
        // The undamaged payload reads (so what is refused below is the damage).
        Assert.Single(DeviceStateSources.Inspect(Write(Save(good, format), "good.save"), out _));
        byte[] payload = damage switch
        {
            "junk" => [.. good, .. "junk"u8.ToArray()],
            "zeros" => [.. good, 0, 0, 0, 0],
            "flip14" => good.Select((b, i) => i == good.Length - 14 ? (byte)(b ^ 1) : b).ToArray(),
            "flip6" => good.Select((b, i) => i == good.Length - 6 ? (byte)(b ^ 1) : b).ToArray(),
            _ => good[..^int.Parse(damage[3..])],
        };
        var e = Refused(Write(Save(payload, format), $"{damage}.save"));
        Assert.Contains(e.ErrorId, new[] { "QemuStreamInvalid", "QemuStreamTruncated" });
    }

    /// <summary>Finding 4c: a compressed stream that is not QEMU's is refused at its first bytes, not after decompressing all of it.</summary>
    [Fact]
    public void ACompressedStreamThatIsNotQemusIsRefusedAtItsMagic()
    {
        var m = new MemoryStream();
        using (var z = new GZipStream(m, CompressionLevel.Fastest, leaveOpen: true))
            for (int i = 0; i < 64; i++) z.Write(new byte[1 << 20]);
        var e = Refused(Write(Save(m.ToArray(), LibvirtSaveFormat.Gzip), "zeros.save"));
        Assert.Equal("QemuStreamInvalid", e.ErrorId);
        Assert.Contains("at byte 0: not a QEMU migration stream", e.Message);
    }

    /// <summary>Finding 3: QEMU never writes an empty chunk; a stream of them (each recorded before) is refused.</summary>
    [Fact]
    public void AnEmptyDataChunkIsRefused()
    {
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:04.0/vfio").VfioData(2, false, [1, 2], [], [3]).VfioData(2, true, [4]).VfioConfig(2, "0000:00:04.0/vfio", 0x8086, 0x4941);
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() => QemuStreamReaderTests.Read(Write(b.Finish(), "empty-chunk.mig"))));
        Assert.Equal("QemuStreamInvalid", e.ErrorId);
        Assert.Contains("size 0", e.Message);
    }

    /// <summary>Finding 3: a walk keeps nothing per chunk (before, each chunk was a record, so memory grew with their number).</summary>
    [Fact]
    public void AWalkKeepsNothingPerChunk()
    {
        var chunks = Enumerable.Range(0, 20000).Select(i => new[] { (byte)i }).ToArray();
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:04.0/vfio").VfioData(2, false, chunks).VfioData(2, true, chunks).VfioConfig(2, "0000:00:04.0/vfio", 0x8086, 0x4941);
        var s = Assert.Single(QemuStreamReaderTests.Read(Write(b.Finish(), "many.mig")).VfioSections);
        Assert.Equal((20000L, 20000L, 40000L), (s.PreCopyChunks, s.StopCopyChunks, s.DataBytes));
        Assert.Empty(s.Frames);
    }

    /// <summary>Finding 3: asked for the chunks' places (to splice), chunks that follow each other are one record.</summary>
    [Fact]
    public void ChunksThatFollowEachOtherAreRecordedAsOneRun()
    {
        var chunks = Enumerable.Range(0, 20000).Select(i => new[] { (byte)i }).ToArray();
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:04.0/vfio").VfioData(2, false, chunks).VfioData(2, true, chunks).VfioConfig(2, "0000:00:04.0/vfio", 0x8086, 0x4941);
        var s = Assert.Single(QemuStreamReaderTests.Read(Write(b.Finish(), "many.mig"), frames: true).VfioSections);
        Assert.Equal(2, s.Frames.Count);
        Assert.All(s.Frames, f => Assert.Equal(20000 * 17, f.FrameLength));
    }

    /// <summary>
    /// A stream of <paramref name="sections"/> FULL sections of one described entry 'x' whose description has
    /// <paramref name="emptyFields"/> fields of 0 bytes besides the builder's own (and the field names given).
    /// </summary>
    private static byte[] ManySections(int sections, int emptyFields, string firstFieldName = "a", bool sized = true)
    {
        var b = new QemuStreamBuilder();
        for (uint i = 0; i < sections; i++) b.Described(10 + i, "x");
        var empty = string.Concat(Enumerable.Repeat(", {\"name\": \"e\", \"size\": 0}", emptyFields));
        string first = sized ? $"{{\"name\": {System.Text.Json.JsonSerializer.Serialize(firstFieldName)}, \"type\": \"uint64\", \"size\": 8, \"array_len\": 2}}"
                             : $"{{\"name\": {System.Text.Json.JsonSerializer.Serialize(firstFieldName)}, \"type\": \"uint64\"}}";
        string json = "{\"page_size\": 4096, \"devices\": [{\"name\": \"x\", \"instance_id\": 0, \"vmsd_name\": \"x\", \"version\": 2, " +
                      $"\"fields\": [{first}{empty}, {{\"name\": \"b\", \"type\": \"uint64\", \"size\": 8}}], " +
                      "\"subsections\": [{\"vmsd_name\": \"x/sub\", \"version\": 1, \"fields\": [{\"name\": \"c\", \"type\": \"uint32\", \"size\": 4}]}]}]}";
        return b.Finish(_ => Encoding.UTF8.GetBytes(json));
    }

    /// <summary>
    /// Finding 4b: many FULL sections naming one entry cost the description's fields once, not once per section
    /// (before, 100 sections took about 100 times as long as one).
    /// </summary>
    [Fact]
    public void TheDescriptionOfAnEntryIsWalkedOncePerFileNotPerSection()
    {
        var one = Write(ManySections(1, 200_000), "one.mig");
        var many = Write(ManySections(100, 200_000), "many.mig");
        QemuStreamReaderTests.Read(one);
        var clock = Stopwatch.StartNew();
        QemuStreamReaderTests.Read(one);
        var single = clock.Elapsed;
        clock.Restart();
        var contents = QemuStreamReaderTests.Read(many);
        var hundred = clock.Elapsed;
        Assert.Equal(100, contents.SectionCount);
        Assert.True(hundred < single * 10 + TimeSpan.FromSeconds(1), $"100 sections took {hundred}, one {single}");
    }

    /// <summary>Finding 5a: a description's names reach messages escaped.</summary>
    [Fact]
    public void NamesFromTheDescriptionAreEscapedInMessages()
    {
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() =>
            QemuStreamReaderTests.Read(Write(ManySections(1, 0, "\u001b]0;PWNED\u0007\u001b[2J\nFAKE\u202e", sized: false), "name.mig"))));
        Assert.Contains("has no size", e.Message);
        Assert.DoesNotContain(e.Message, c => DisplayText.NeedsEscape(c));
        Assert.Contains("\\u001B]0;PWNED\\u0007\\u001B[2J\\u000AFAKE\\u202E", e.Message);
    }

    /// <summary>Finding 5a: a subsection name from the description, too.</summary>
    [Fact]
    public void SubsectionNamesFromTheDescriptionAreEscapedInMessages()
    {
        var b = new QemuStreamBuilder();
        b.Described(10, "x");
        var stream = b.Finish(j => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(j).Replace("\"vmsd_name\": \"x/sub\"", "\"vmsd_name\": \"\\u001b[2J\\u202eevil\"")));
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() => QemuStreamReaderTests.Read(Write(stream, "sub.mig"))));
        Assert.DoesNotContain(e.Message, c => DisplayText.NeedsEscape(c));
        Assert.Contains("\\u001B[2J\\u202Eevil", e.Message);
    }

    /// <summary>Finding 4a: domain XML nested deeper than libvirt writes is refused, without building it.</summary>
    [Fact]
    public void DeeplyNestedDomainXmlIsRefused()
    {
        string xml = "<domain><devices>" + string.Concat(Enumerable.Repeat("<a>", 100)) + string.Concat(Enumerable.Repeat("</a>", 100)) + "</devices></domain>";
        var path = Write(QemuStreamReaderTests.LibvirtSave(QemuStreamBuilder.Mtty().Stream, xml: xml), "deep.save");
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() => LibvirtSaveFile.Open(path)));
        Assert.Equal("LibvirtSaveInvalid", e.ErrorId);
        Assert.Contains("64 deep", e.Message);
        // A domain as deep as libvirt's own is read.
        string ok = "<domstatus><domain><name>vm</name><cpu><numa><cell><distances><sibling id='0' value='10'/></distances></cell></numa></cpu></domain></domstatus>";
        Assert.Equal("vm", LibvirtSaveFile.Open(Write(QemuStreamReaderTests.LibvirtSave(QemuStreamBuilder.Mtty().Stream, xml: ok), "ok.save")).Domain.Name);
    }

    /// <summary>Finding 5b: what the domain XML names (an mdev's UUID, the VM's name) is escaped as it is read.</summary>
    [Fact]
    public void NamesFromTheDomainXmlAreEscaped()
    {
        string xml = "<domain><name>vm&#x9B;31m&#x202E;</name><devices><hostdev mode='subsystem' type='mdev'><source><address uuid='abc&#10;FAKE: line&#x9B;31m&#x202E;dcba&#9;t'/></source>" +
                     "<address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/></hostdev></devices></domain>";
        var path = Write(QemuStreamReaderTests.LibvirtSave(QemuStreamBuilder.Mtty().Stream, xml: xml), "c1.save");
        var image = Assert.Single(DeviceStateSources.Inspect(path, out _));
        Assert.Equal("abc\\u000AFAKE: line\\u009B31m\\u202Edcba\\u0009t", image.HostDevice);
        Assert.Equal(image.HostDevice, image.DeviceName);
        Assert.Equal("vm\\u009B31m\\u202E", LibvirtSaveFile.Open(path).Domain.Name);
    }

    private static byte[] TwoSections(string first, string second)
    {
        var b = new QemuStreamBuilder();
        b.VfioStart(2, first).VfioStart(5, second);
        b.VfioData(2, true, [1, 2, 3]).VfioData(5, true, [4, 5, 6, 7]);
        b.VfioConfig(2, first, 0x8086, 0x4941).VfioConfig(5, second, 0x8086, 0x4942);
        return b.Finish();
    }

    /// <summary>Finding 9: a name that fits two sections is refused, listing both (before, the first was taken).</summary>
    [Theory]
    [InlineData("0000:00:0a.0/vfio", "0000:00:0A.0/vfio", "0000:00:0a.0/VFIO")]
    [InlineData("0000:00:0a.0/vfio", "0000:00:0A.0/vfio", "0000:00:0A.0/Vfio")]
    [InlineData("0000:00:05.0/vfio/vfio", "0000:00:05.0/vfio", "0000:00:05.0/vfio")]
    public void AnAmbiguousSectionNameIsRefusedListingTheCandidates(string first, string second, string typed)
    {
        var path = Write(TwoSections(first, second), "two.mig");
        var e = Assert.IsAssignableFrom<VfioMigrationException>(Record.Exception(() => DeviceStateSources.Open(path, typed, default)));
        Assert.Equal("QemuSectionNotFound", e.ErrorId);
        Assert.Contains(first, e.Message);
        Assert.Contains(second, e.Message);
    }

    /// <summary>Finding 9: the name as listed, case and all, picks its section even when another differs from it only in case.</summary>
    [Fact]
    public void TheExactNamePicksItsSection()
    {
        var path = Write(TwoSections("0000:00:0a.0/vfio", "0000:00:0A.0/vfio"), "case.mig");
        Assert.Equal("0000:00:0A.0/vfio", DeviceStateSources.Open(path, "0000:00:0A.0", default).Description.Section);
        Assert.Equal("0000:00:0a.0/vfio", DeviceStateSources.Open(path, "0000:00:0a.0/vfio", default).Description.Section);
        var nest = Write(TwoSections("0000:00:05.0/vfio/vfio", "0000:00:05.0/vfio"), "nest.mig");
        Assert.Equal("0000:00:05.0/vfio", DeviceStateSources.Open(nest, "0000:00:05.0", default).Description.Section);
        Assert.Equal("0000:00:05.0/vfio/vfio", DeviceStateSources.Open(nest, "0000:00:05.0/vfio/vfio", default).Description.Section);
    }

    /// <summary>Finding 7: one walk opens the file once, so the description and the sections come from one file.</summary>
    [Fact]
    public void AWalkOpensTheFileOnce()
    {
        var path = Write(QemuStreamBuilder.Mtty().Stream, "vm.mig");
        var other = Write(TwoSections("0000:00:05.0/vfio", "0000:00:06.0/vfio"), "other.mig");
        int opens = 0;
        var input = new QemuStreamInput
        {
            Path = path,
            // A second open would see another stream, as if the file had been replaced between the two.
            Open = () => File.OpenRead(opens++ == 0 ? path : other),
        };
        var s = Assert.Single(QemuStreamReader.Read(input).VfioSections);
        Assert.Equal("0000:00:04.0/vfio", s.IdStr);
        Assert.Equal(1, opens);
    }

    /// <summary>Finding 4c: Ctrl+C is seen inside one large chunk, not only between sections (a compressed chunk of gigabytes takes minutes).</summary>
    [Fact]
    public void CancellationIsSeenInsideALargeChunk()
    {
        var b = new QemuStreamBuilder();
        b.VfioStart(2, "0000:00:04.0/vfio").VfioData(2, true, new byte[8 << 20]).VfioConfig(2, "0000:00:04.0/vfio", 0x8086, 0x4941);
        var path = Write(Save(Gzip(b.Finish()), LibvirtSaveFormat.Gzip), "big.save");
        var input = LibvirtSaveFile.Open(path).Input;
        using var cancel = new CancellationTokenSource();
        long fed = 0;
        // Cancelled after the first megabyte of the chunk: the walk stops before the next.
        Assert.ThrowsAny<OperationCanceledException>(() => QemuStreamReader.Read(input, 2, chunk => { fed += chunk.Length; cancel.Cancel(); }, cancel.Token));
        Assert.True(fed <= 1 << 20, $"{fed} bytes were fed after the cancellation");
    }

    /// <summary>Finding 3: every section is remembered for the walk, so their number is bounded (before, millions of tiny sections each cost memory).</summary>
    [Fact]
    public void MoreSectionsThanQemuWritesAreRefused()
    {
        var b = new QemuStreamBuilder(footers: false);
        for (uint i = 0; i <= QemuStreamFormat.MaxSections; i++) b.Described(10 + i, "x");
        var e = Assert.IsType<QemuStreamException>(Record.Exception(() => QemuStreamReaderTests.Read(Write(b.Finish(), "sections.mig"))));
        Assert.Equal("QemuStreamUnsupported", e.ErrorId);
        Assert.Contains($"more than {QemuStreamFormat.MaxSections} sections", e.Message);
    }

    private static byte[] Gzip(byte[] bytes)
    {
        var m = new MemoryStream();
        using (var z = new GZipStream(m, CompressionLevel.Fastest, leaveOpen: true)) z.Write(bytes);
        return m.ToArray();
    }
}
