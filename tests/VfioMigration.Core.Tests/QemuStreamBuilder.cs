using System.Buffers.Binary;
using System.Text;

namespace VfioMigration.Tests;

/// <summary>
/// Writes QEMU migration streams from the documented layout (docs/qemu-stream.md), for tests: a header, a
/// configuration, a RAM section, described FULL sections and VFIO device sections, the end byte and the JSON
/// description. Records each section boundary and each framing field so that tests can cut and damage them.
/// </summary>
internal sealed class QemuStreamBuilder
{
    public const ulong EndOfState = 0xffffffffef100001, ConfigState = 0xffffffffef100002, SetupState = 0xffffffffef100003,
        DataState = 0xffffffffef100004, InitDataSent = 0xffffffffef100005, ConfigLoadReady = 0xffffffffef100006;

    private readonly MemoryStream _s = new();
    private readonly List<string> _devices = new();

    /// <summary>Offsets where a section, a footer, a command or the end begins.</summary>
    public List<long> Boundaries { get; } = new();
    /// <summary>Framing fields: offset, length and what they are.</summary>
    public List<(long Offset, int Length, string Name)> Framing { get; } = new();
    public long Position => _s.Position;

    private readonly bool _footers;

    public QemuStreamBuilder(uint magic = 0x5145564d, uint version = 3, string machine = "pc-q35-10.0", bool configuration = true, bool footers = true)
    {
        _footers = footers;
        U32(magic, "magic");
        U32(version, "version");
        if (configuration)
        {
            Boundary();
            U8(7, "configuration type");
            U32((uint)machine.Length, "machine length");
            Raw(Encoding.ASCII.GetBytes(machine));
        }
    }

    public QemuStreamBuilder Ram(uint id, long pages = 3)
    {
        Header(1, id, "ram", 0, 4);
        U64((ulong)(pages * 4096) | 0x04, "ram mem size");
        U8(6, "ram block name length"); Raw("pc.ram"u8.ToArray());
        U64((ulong)(pages * 4096), "ram block length");
        U64(0x10, "ram eos");
        Footer(id);
        Header(2, id);
        for (long p = 0; p < pages; p++)
        {
            if (p == 0) { PageWord(0x08); U8(6, "ram page block length"); Raw("pc.ram"u8.ToArray()); }
            else if (p == 1) { PageWord((ulong)(p * 4096) | 0x08 | 0x20); }
            else { PageWord((ulong)(p * 4096) | 0x02 | 0x20); U8(0, "zero fill"); continue; }
            Raw(Enumerable.Range(0, 4096).Select(i => (byte)(i + p)).ToArray());
        }
        U64(0x10, "ram eos");
        Footer(id);
        Header(3, id);
        U64(0x200, "ram multifd flush");
        U64(0x10, "ram eos");
        Footer(id);
        return this;
    }

    public QemuStreamBuilder VfioStart(uint id, string idstr, uint version = 1)
    {
        Header(1, id, idstr, 0, version);
        U64(SetupState, "vfio setup marker");
        U64(EndOfState, "vfio end of state");
        Footer(id);
        return this;
    }

    /// <summary>A pre-copy PART (<paramref name="end"/> false) or the stop-copy END part with these chunks.</summary>
    public QemuStreamBuilder VfioData(uint id, bool end, params byte[][] chunks) => VfioData(id, end, null, chunks);

    public QemuStreamBuilder VfioData(uint id, bool end, ulong? extraMarker, params byte[][] chunks)
    {
        Header(end ? (byte)3 : (byte)2, id);
        foreach (var c in chunks)
        {
            U64(DataState, "vfio data marker");
            U64((ulong)c.Length, "vfio chunk size");
            Raw(c);
        }
        if (extraMarker is { } m) U64(m, "vfio extra marker");
        U64(EndOfState, "vfio end of state");
        Footer(id);
        return this;
    }

    /// <summary>The config FULL part: DEV_CONFIG_STATE, be32 2, a config space of <paramref name="configSize"/> bytes with these ids, 16 bytes of interrupt state, END_OF_STATE.</summary>
    public QemuStreamBuilder VfioConfig(uint id, string idstr, ushort vendor, ushort device, int configSize = 4096)
    {
        Header(4, id, idstr, 0, 1);
        long start = _s.Position;
        U64(ConfigState, "vfio config marker");
        Raw([0, 0, 0, 2]);
        var config = new byte[configSize];
        BinaryPrimitives.WriteUInt16LittleEndian(config, vendor);
        BinaryPrimitives.WriteUInt16LittleEndian(config.AsSpan(2), device);
        config[0x09] = 0x02; config[0x0a] = 0x00; config[0x0b] = 0x07;
        BinaryPrimitives.WriteUInt16LittleEndian(config.AsSpan(0x2c), 0x1af4);
        BinaryPrimitives.WriteUInt16LittleEndian(config.AsSpan(0x2e), 0x1100);
        Raw(config);
        Raw(new byte[16]);
        U64(EndOfState, "vfio config end of state");
        _devices.Add($"{{\"name\": \"{idstr}\", \"instance_id\": 0, \"vmsd_name\": \"\", \"version\": 1, \"size\": {_s.Position - start}}}");
        Footer(id);
        return this;
    }

    /// <summary>A described non-iterable section: two u64 fields (one compressed array), then a subsection with a u32.</summary>
    public QemuStreamBuilder Described(uint id, string idstr, uint instance = 0)
    {
        Header(4, id, idstr, instance, 2);
        Raw(new byte[8 * 3]);
        U8(5, "subsection marker");
        string sub = idstr + "/sub";
        U8((byte)sub.Length, "subsection name length"); Raw(Encoding.ASCII.GetBytes(sub));
        U32(1, "subsection version");
        Raw([1, 2, 3, 4]);
        _devices.Add($"{{\"name\": \"{idstr}\", \"instance_id\": {instance}, \"vmsd_name\": \"{idstr}\", \"version\": 2, " +
                     "\"fields\": [{\"name\": \"a\", \"type\": \"uint64\", \"size\": 8, \"array_len\": 2}, {\"name\": \"b\", \"type\": \"uint64\", \"size\": 8}], " +
                     $"\"subsections\": [{{\"vmsd_name\": \"{sub}\", \"version\": 1, \"fields\": [{{\"name\": \"c\", \"type\": \"uint32\", \"size\": 4}}]}}]}}");
        Footer(id);
        return this;
    }

    public QemuStreamBuilder Command(ushort command, byte[]? data = null)
    {
        Boundary();
        U8(8, "command type");
        U16(command, "command");
        U16((ushort)(data?.Length ?? 0), "command length");
        if (data is not null) Raw(data);
        return this;
    }

    /// <summary>The end byte and the JSON description; the stream's bytes.</summary>
    public byte[] Finish(Func<byte[], byte[]>? editJson = null)
    {
        Boundary();
        U8(0, "eof");
        var json = Encoding.UTF8.GetBytes($"{{\"page_size\": 4096, \"devices\": [{string.Join(", ", _devices)}]}}");
        if (editJson is not null) json = editJson(json);
        U8(6, "description marker");
        U32((uint)json.Length, "description length");
        Raw(json);
        return _s.ToArray();
    }

    private void Header(byte type, uint id, string? idstr = null, uint instance = 0, uint version = 0)
    {
        Boundary();
        U8(type, "section type");
        U32(id, "section id");
        if (type is 1 or 4)
        {
            U8((byte)idstr!.Length, "idstr length");
            Raw(Encoding.ASCII.GetBytes(idstr));
            U32(instance, "instance id");
            U32(version, "section version");
        }
    }

    private void Footer(uint id)
    {
        if (!_footers) return;
        Boundary();
        U8(0x7e, "footer");
        U32(id, "footer id");
    }

    /// <summary>A RAM page word: its address (the upper bytes) is the guest's, only the flag bits below the page size are framing.</summary>
    private void PageWord(ulong word)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, word);
        Framing.Add((_s.Position + 6, 2, "ram page flags"));
        _s.Write(b);
    }

    private void Boundary() => Boundaries.Add(_s.Position);
    private void Raw(byte[] b) => _s.Write(b);
    private void U8(byte v, string name) { Framing.Add((_s.Position, 1, name)); _s.WriteByte(v); }
    private void U16(ushort v, string name) { Framing.Add((_s.Position, 2, name)); Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); _s.Write(b); }
    private void U32(uint v, string name) { Framing.Add((_s.Position, 4, name)); Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); _s.Write(b); }
    private void U64(ulong v, string name) { Framing.Add((_s.Position, 8, name)); Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64BigEndian(b, v); _s.Write(b); }

    /// <summary>A stream like QEMU 10.0 writes for one mtty device: RAM, one described device, the VFIO parts, switchover.</summary>
    public static (byte[] Stream, QemuStreamBuilder Builder) Mtty(byte[]? preCopy = null, byte[]? stopCopy = null, string idstr = "0000:00:04.0/vfio")
    {
        preCopy ??= Enumerable.Range(0, 24).Select(i => (byte)(0xa0 + i)).ToArray();
        stopCopy ??= Enumerable.Range(0, 36).Select(i => (byte)(0x10 + i)).ToArray();
        var b = new QemuStreamBuilder();
        b.VfioStart(2, idstr);
        b.Ram(3);
        b.VfioData(2, false, InitDataSent, preCopy);
        b.VfioData(2, false);
        b.Command(0x0b);
        b.VfioData(2, true, stopCopy[..(stopCopy.Length / 2)], stopCopy[(stopCopy.Length / 2)..]);
        b.Described(4, "timer");
        b.VfioConfig(2, idstr, 0x4348, 0x3253);
        return (b.Finish(), b);
    }
}
