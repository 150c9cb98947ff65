using System.IO.Hashing;
using System.Text.Json;
using VfioMigration.Images;
namespace VfioMigration.Qemu;

using static QemuStreamFormat;

/// <summary>
/// Walks a whole QEMU migration stream (docs/qemu-stream.md): header, configuration, START/PART/END/FULL sections
/// and their footers, commands, the end-of-stream byte and the JSON description, and finds every VFIO device
/// section. The JSON description at the end is found first, because it sizes the non-iterable sections; RAM parts
/// are walked by their page flags to the end-of-section flag. RAM and other devices are passed over, not
/// interpreted. Every length is checked against what is left of the stream before it is used, and everything
/// wrong is a <see cref="QemuStreamException"/> naming the file, the offset and the field.
/// </summary>
internal static class QemuStreamReader
{
    /// <summary>
    /// Reads the stream. When <paramref name="extract"/> is a section id, that VFIO section's device data bytes are
    /// handed to <paramref name="onData"/> in stream order (pre-copy chunks, then stop-copy chunks). With
    /// <paramref name="recordFrames"/>, each VFIO section keeps where its data chunks are (what a splice needs);
    /// without it, a walk keeps nothing per chunk, so its memory does not grow with the number of chunks.
    /// </summary>
    public static QemuStreamContents Read(QemuStreamInput input, uint? extract = null, ChunkHandler? onData = null, CancellationToken cancellationToken = default, bool recordFrames = false)
    {
        // One descriptor for the description and the walk: both read the same file even if its name is replaced meanwhile.
        using var file = input.Open();
        var (description, length) = Describe(input, file, cancellationToken);
        using (description)
        {
            file.Seek(input.Offset, SeekOrigin.Begin);
            var stream = input.Decompress is { } decompress ? decompress(file) : file;
            try
            {
                var c = new StreamCursor(stream, length, input.Path, input.ReportBase, input.Where, cancellationToken);
                return new Walk(c, description, extract, onData, cancellationToken, recordFrames).Run();
            }
            finally
            {
                if (!ReferenceEquals(stream, file)) stream.Dispose();
            }
        }
    }

    /// <summary>Finds the JSON description: from the file's end for a raw stream, else by reading the decompressed stream through once.</summary>
    private static (VmDescription, long) Describe(QemuStreamInput input, Stream file, CancellationToken cancellationToken)
    {
        const int window = MaxDescriptionBytes + 6;
        if (input.Decompress is null)
        {
            long known = Math.Max(0, file.Length - input.Offset);
            int take = (int)Math.Min(known, window);
            var tail = new byte[take];
            file.Seek(input.Offset + known - take, SeekOrigin.Begin);
            int got = 0;
            while (got < take)
            {
                int n = file.Read(tail, got, take - got);
                if (n == 0) throw new QemuStreamException(input.Path + input.Where, "the file ends early (it is shorter than when it was opened).", VfioErrors.QemuStreamTruncated);
                got += n;
            }
            return (VmDescription.Locate(tail, known, input.Path, input.ReportBase, input.Where), known);
        }
        file.Seek(input.Offset, SeekOrigin.Begin);
        using var stream = input.Decompress(file);
        var ring = new TailBuffer(window);
        var buffer = new byte[1 << 16];
        var head = new byte[4];
        try
        {
            int read;
            while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                // A stream that is not QEMU's is refused at its first bytes, not after decompressing all of it.
                if (ring.Total < head.Length)
                {
                    int n = (int)Math.Min(head.Length - ring.Total, read);
                    buffer.AsSpan(0, n).CopyTo(head.AsSpan((int)ring.Total));
                    if (ring.Total + n == head.Length && !head.AsSpan().SequenceEqual("QEVM"u8))
                        throw new QemuStreamException(input.Path + input.Where, $"not a QEMU migration stream: the magic is {Convert.ToHexString(head).ToLowerInvariant()}, QEMU's is 5145564d (\"QEVM\").", VfioErrors.QemuStreamInvalid, 0);
                }
                ring.Append(buffer.AsSpan(0, read));
            }
        }
        catch (InvalidDataException e)
        {
            throw new QemuStreamException(input.Path + input.Where, $"the compressed data is damaged after byte {ring.Total} of the decompressed stream: {e.Message}", VfioErrors.QemuStreamInvalid);
        }
        catch (IOException e) when (e is not EndOfStreamException)
        {
            throw new QemuStreamException(input.Path, $"reading failed: {e.Message}", VfioErrors.ImageReadFailed);
        }
        return (VmDescription.Locate(ring.Tail(), ring.Total, input.Path, 0, input.Where), ring.Total);
    }

    /// <summary>The last bytes of a stream read once, in a buffer that grows only as far as the stream is long.</summary>
    private sealed class TailBuffer(int capacity)
    {
        private byte[] _ring = new byte[Math.Min(capacity, 1 << 16)];
        public long Total { get; private set; }

        public void Append(ReadOnlySpan<byte> data)
        {
            // Grown before it wraps, so it wraps only once it has reached its capacity.
            if (_ring.Length < capacity && Total + data.Length > _ring.Length)
            {
                var bigger = new byte[(int)Math.Min(capacity, Math.Max((long)_ring.Length * 2, Total + data.Length))];
                _ring.AsSpan(0, (int)Total).CopyTo(bigger);
                _ring = bigger;
            }
            if (data.Length > _ring.Length)
            {
                Total += data.Length - _ring.Length;
                data = data[^_ring.Length..];
            }
            int at = (int)(Total % _ring.Length);
            int first = Math.Min(data.Length, _ring.Length - at);
            data[..first].CopyTo(_ring.AsSpan(at));
            data[first..].CopyTo(_ring);
            Total += data.Length;
        }

        public byte[] Tail()
        {
            int n = (int)Math.Min(Total, _ring.Length);
            var tail = new byte[n];
            for (int i = 0; i < n; i++) tail[i] = _ring[(Total - n + i) % _ring.Length];
            return tail;
        }
    }

    private sealed class Section(string idstr, uint instance, uint version, bool iterable)
    {
        public string IdStr { get; } = idstr;
        public uint Instance { get; } = instance;
        public uint Version { get; } = version;
        public bool Iterable { get; } = iterable;
        public bool Ended { get; set; }
        public QemuVfioSection? Vfio { get; set; }
        public XxHash128? Hash { get; set; }
    }

    private sealed class Walk(StreamCursor c, VmDescription description, uint? extract, ChunkHandler? onData, CancellationToken cancellationToken, bool recordFrames)
    {
        private readonly Dictionary<uint, Section> _sections = new();
        private readonly List<QemuVfioSection> _vfio = new();
        private readonly QemuStreamContents _contents = new();
        private readonly List<string> _capabilities = new();
        private bool _ignoreShared;
        private bool _configured;
        private string? _ramBlock;

        public QemuStreamContents Run()
        {
            uint magic = c.U32("the magic");
            if (magic != Magic) throw c.Error($"not a QEMU migration stream: the magic is {magic:x8}, QEMU's is 5145564d (\"QEVM\").", 0);
            uint version = c.U32("the stream version");
            if (version != StreamVersion)
                throw c.Error($"stream version {version} is not read by this module, which reads version 3 (QEMU 2.x and later).", 4, VfioErrors.QemuStreamUnsupported);
            uint? last = null;
            bool footed = true, anySection = false;
            // Footers follow every section or none (machine types before 2.5 send none): the first section decides.
            bool? footers = null;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long at = c.Position;
                byte type = c.U8("a section type");
                switch (type)
                {
                    case Eof:
                        CheckFooter(ref footers, footed, last, at);
                        if (at != description.EofOffset)
                            throw c.Error($"the end-of-stream byte is here, but the description at the end of the stream starts after byte {description.EofOffset}: the sections between are damaged.", at);
                        Finish();
                        return _contents;
                    case Configuration:
                        if (anySection) throw c.Error("a configuration section follows other sections; QEMU writes it first.", at);
                        if (_configured) throw c.Error("a second configuration section; QEMU writes one.", at);
                        _configured = true;
                        ReadConfiguration();
                        break;
                    case SectionStart:
                    case SectionFull:
                    {
                        CheckFooter(ref footers, footed, last, at);
                        uint id = c.U32("a section id");
                        string idstr = c.ShortText("a section idstr");
                        uint instance = c.U32($"the instance id of '{idstr}'");
                        uint version2 = c.U32($"the version of '{idstr}'");
                        // One entry saves its iterable parts and then its FULL part under one section id (a VFIO device's config).
                        if (_sections.TryGetValue(id, out var s))
                        {
                            if (type != SectionFull || !s.Iterable || s.IdStr != idstr || s.Instance != instance || s.Version != version2)
                                throw c.Error($"section id {id} ('{idstr}') is opened a second time.", at);
                        }
                        else
                        {
                            if (_sections.Count >= MaxSections)
                                throw c.Error($"the stream has more than {MaxSections} sections; QEMU writes one per device state, far fewer.", at, VfioErrors.QemuStreamUnsupported);
                            s = new Section(idstr, instance, version2, type == SectionStart);
                            _sections[id] = s;
                            if (idstr.EndsWith(VfioIdSuffix, StringComparison.Ordinal) && idstr.Length > VfioIdSuffix.Length) OpenVfio(id, s, at);
                        }
                        anySection = true;
                        if (type == SectionStart) Iterate(id, s, at, SectionStart);
                        else Full(id, s, at);
                        last = id;
                        footed = false;
                        break;
                    }
                    case SectionPart:
                    case SectionEnd:
                    {
                        CheckFooter(ref footers, footed, last, at);
                        uint id = c.U32("a section id");
                        if (!_sections.TryGetValue(id, out var s)) throw c.Error($"a {(type == SectionPart ? "PART" : "END")} section names section id {id}, which no START opened.", at);
                        if (!s.Iterable) throw c.Error($"a {(type == SectionPart ? "PART" : "END")} section names '{s.IdStr}', a FULL (non-iterable) section.", at);
                        if (s.Ended) throw c.Error($"'{s.IdStr}' (section {id}) has a part after its END part.", at);
                        Iterate(id, s, at, type);
                        if (type == SectionEnd) s.Ended = true;
                        last = id;
                        footed = false;
                        break;
                    }
                    case SectionFooter:
                    {
                        uint id = c.U32("a section footer's id");
                        if (last is null || footed) throw c.Error($"a section footer (id {id}) follows no section.", at);
                        if (footers == false) throw c.Error($"a section footer (id {id}) in a stream whose first section had none.", at);
                        footers = true;
                        if (id != last) throw c.Error($"the footer names section {id}, but section {last} ('{_sections[last.Value].IdStr}') is the one it closes.", at);
                        footed = true;
                        break;
                    }
                    case Command:
                    {
                        ushort command = c.U16("a command");
                        ushort length = c.U16("a command's length");
                        if (command is 0 or > CommandSwitchoverStart)
                            throw c.Error($"command {command:x4} is not one QEMU sends (01 to 0b).", at);
                        if (command == CommandPackaged)
                            throw c.Error("the stream holds a postcopy package (MIG_CMD_PACKAGED), a nested stream this module does not read.", at, VfioErrors.QemuStreamUnsupported);
                        c.Skip(length, $"command {command:x}'s data");
                        break;
                    }
                    default:
                        throw c.Error($"byte {type:x2} is not a section type (00 end, 01 START, 02 PART, 03 END, 04 FULL, 07 configuration, 08 command, 7e footer).", at);
                }
            }
        }

        /// <summary>A section begins (or the stream ends) while the one before has no footer: fine only in a stream without footers.</summary>
        private void CheckFooter(ref bool? footers, bool footed, uint? last, long at)
        {
            if (footed) return;
            if (footers == true) throw c.Error($"section {last} ('{_sections[last!.Value].IdStr}') has no footer, but the sections before it had one.", at);
            footers = false;
        }

        private void Finish()
        {
            long at = c.Position;
            byte marker = c.U8("the description marker");
            if (marker != DescriptionMarker) throw c.Error($"the end-of-stream byte is followed by {marker:x2}, not the description marker 06.", at);
            uint length = c.U32("the description's length");
            if (length != c.Remaining) throw c.Error($"the description's length is {length}, but {c.Remaining} bytes follow it.", at + 1);
            c.Skip(length, "the JSON description");
            foreach (var s in _sections.Values.Where(s => s.Vfio is not null))
                s.Vfio!.Checksum = Convert.ToHexString(s.Hash!.GetCurrentHash()).ToLowerInvariant();
            _contents.Length = c.Length;
            _contents.SectionCount = _sections.Count;
            _contents.VfioSections = _vfio;
            _contents.Capabilities = _capabilities;
        }

        private void ReadConfiguration()
        {
            uint length = c.U32("the machine type's length");
            if (length == 0 || length > MaxMachineTypeBytes) throw c.Error($"the machine type's length {length} is not 1 to {MaxMachineTypeBytes}.", c.Position - 4);
            _contents.MachineType = c.Text((int)length, "the machine type");
            if (description.Configuration is { } config)
            {
                if (!VmDescription.Member(config, "subsections", out var subs)) return;
                if (subs.ValueKind != JsonValueKind.Array) throw c.Error("the description of the configuration has a 'subsections' that is not a list.", c.Position);
                foreach (var sub in subs.EnumerateArray())
                {
                    string expected = VmDescription.Text(sub, "vmsd_name") ?? "";
                    string name = ConfigurationSubsection(expected);
                    if (name != "configuration/capabilities") VmDescription.SkipBody(c, sub, name, 1);
                }
                return;
            }
            // Streams of QEMU before 9.1 describe no configuration: its subsections are known by name.
            while (c.Peek() == Subsection)
            {
                string name = ConfigurationSubsection(null);
                switch (name)
                {
                    case "configuration/capabilities": break;
                    case "configuration/target-page-bits": c.U32("the target page bits"); break;
                    case "configuration/uuid": c.Skip(16, "the VM's UUID"); break;
                    default: throw c.Error($"the configuration has subsection '{name}', which this module does not know and the stream does not describe.", c.Position, VfioErrors.QemuStreamUnsupported);
                }
            }
        }

        /// <summary>Reads a configuration subsection's header (and the capability list, whose names the RAM walk needs).</summary>
        private string ConfigurationSubsection(string? expected)
        {
            long at = c.Position;
            byte type = c.U8("a configuration subsection");
            // The expected name is the description's (JSON, any text): compared as it is, shown escaped.
            if (type != Subsection) throw c.Error($"the configuration should continue with subsection '{DisplayText.Escape(expected ?? "")}' (byte 05), but byte {type:x2} is there.", at);
            string name = c.ShortText("a configuration subsection's name");
            if (expected is not null && name != expected) throw c.Error($"the configuration has subsection '{name}' where its description says '{DisplayText.Escape(expected)}'.", at);
            c.U32($"the version of '{name}'");
            if (name == "configuration/capabilities")
            {
                uint count = c.U32("the capability count");
                if (count > 256) throw c.Error($"the configuration lists {count} capabilities; QEMU has fewer than 256.", c.Position - 4);
                for (int i = 0; i < count; i++) _capabilities.Add(c.ShortText("a capability name"));
                if (_capabilities.Contains("mapped-ram"))
                    throw c.Error("the stream uses the mapped-ram file layout (RAM pages at fixed file offsets, QEMU's 'mapped-ram' capability), which this module does not read.", at, VfioErrors.QemuStreamUnsupported);
                _ignoreShared = _capabilities.Contains("x-ignore-shared");
            }
            return name;
        }

        private void OpenVfio(uint id, Section s, long at)
        {
            if (s.Version != 1)
                throw c.Error($"VFIO section '{s.IdStr}' has version {s.Version}; QEMU writes version 1.", at, VfioErrors.QemuStreamUnsupported);
            if (_vfio.FirstOrDefault(v => v.IdStr == s.IdStr) is { } twin)
                throw c.Error($"two VFIO sections have idstr '{s.IdStr}' (section ids {twin.SectionId} and {id}); QEMU gives each device one.", at);
            s.Vfio = new QemuVfioSection(s.IdStr, id, s.Instance, s.Version);
            s.Hash = new XxHash128();
            _vfio.Add(s.Vfio);
        }

        private void Iterate(uint id, Section s, long at, byte type)
        {
            if (s.Vfio is { } vfio) { VfioPart(id, s, vfio, type); return; }
            if (s.IdStr == "ram" && s.Instance == 0) { Ram(s, type == SectionStart); return; }
            throw c.Error($"iterable section '{s.IdStr}' (id {id}) is not RAM or a VFIO device; this module cannot tell where its parts end.", at, VfioErrors.QemuStreamUnsupported);
        }

        private void Full(uint id, Section s, long at)
        {
            if (!description.TryGet(s.IdStr, s.Instance, out var device))
                throw c.Error($"section '{s.IdStr}' (id {id}, instance {s.Instance}) is not in the stream's JSON description, so its size cannot be known.", at);
            if (VmDescription.Member(device, "version", out var described) && VmDescription.Integer(device, "version") != s.Version)
                throw c.Error($"section '{s.IdStr}' has version {s.Version}, its description version {DisplayText.Escape(described.GetRawText())}.", at);
            // Both are worked out once per description entry, however many FULL sections name it.
            if (s.Vfio is not { } vfio) { description.SkipSection(c, s.IdStr, s.Instance, device); return; }
            if (description.ConfigPartSize(c, s.IdStr, s.Instance, device) is not { } size)
                throw c.Error($"the description of VFIO section '{s.IdStr}' gives no size for its config part.", at);
            c.Need(size, $"the config part of '{s.IdStr}'");
            const int header = 64;
            if (size < 8 + 4 + header + 8) throw c.Error($"the config part of '{s.IdStr}' is {size} bytes, too short for a PCI config space.", c.Position);
            long start = c.Position;
            ulong marker = c.U64($"the first marker of '{s.IdStr}''s config part");
            if (marker != VfioDevConfigState)
                throw c.Error($"the config part of '{s.IdStr}' starts with {marker:x16}, not DEV_CONFIG_STATE ({VfioDevConfigState:x16}).", start);
            c.U32("the PCI device state version");
            Span<byte> config = stackalloc byte[header];
            c.Fill(config, $"the PCI config space of '{s.IdStr}'");
            vfio.Config = PciConfigIdentity.From(config);
            c.Skip(size - 8 - 4 - header - 8, $"the config state of '{s.IdStr}'");
            long end = c.Position;
            ulong closing = c.U64($"the last marker of '{s.IdStr}''s config part");
            if (closing != VfioEndOfState)
                throw c.Error($"the config part of '{s.IdStr}' does not end with END_OF_STATE ({VfioEndOfState:x16}) where its described size ends; {closing:x16} is there.", end);
            vfio.ConfigSeen = true;
        }

        private void VfioPart(uint id, Section s, QemuVfioSection vfio, byte type)
        {
            string part = type switch { SectionStart => "setup", SectionPart => "pre-copy", _ => "stop-copy" };
            bool preCopy = type != SectionEnd;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long at = c.Position;
                ulong marker = c.U64($"a marker of '{s.IdStr}''s {part} part");
                switch (marker)
                {
                    case VfioEndOfState:
                        if (type == SectionEnd) { vfio.StopCopySeen = true; vfio.StopCopyEndOfState = at; }
                        return;
                    case VfioDevSetupState when type == SectionStart:
                        vfio.SetupSeen = true;
                        break;
                    case VfioDevDataState:
                    {
                        ulong size = c.U64($"a data chunk's size in '{s.IdStr}'");
                        // QEMU writes a chunk only when the device gave bytes (hw/vfio/migration.c, vfio_save_block
                        // returns before the marker on a 0-byte read); a stream of empty chunks is crafted.
                        if (size == 0) throw c.Error($"a data chunk of '{s.IdStr}' has size 0; QEMU writes no empty chunk.", at + 8);
                        c.Need(size, $"a data chunk of '{s.IdStr}' ({size} bytes)");
                        if (recordFrames) vfio.AddFrame(at, 16 + (long)size, c);
                        if (preCopy) { vfio.PreCopyBytes += (long)size; vfio.PreCopyChunks++; }
                        else { vfio.StopCopyBytes += (long)size; vfio.StopCopyChunks++; }
                        var hash = s.Hash!;
                        ChunkHandler sink = extract == id && onData is not null
                            ? chunk => { hash.Append(chunk); onData(chunk); }
                            : chunk => hash.Append(chunk);
                        c.Skip(size, $"a data chunk of '{s.IdStr}'", sink);
                        break;
                    }
                    case VfioDevInitDataSent:
                        if (!vfio._markers.Contains("switchover-ack")) vfio._markers.Add("switchover-ack");
                        break;
                    case VfioDevConfigLoadReady:
                        if (!vfio._markers.Contains("config-load-ready")) vfio._markers.Add("config-load-ready");
                        break;
                    default:
                        throw c.Error($"'{s.IdStr}''s {part} part has {marker:x16} where a VFIO marker (ffffffffef10000N) or END_OF_STATE should be.", at);
                }
            }
        }

        private void Ram(Section s, bool start)
        {
            if (s.Version != RamVersion) throw c.Error($"the RAM section has version {s.Version}; this module reads version {RamVersion}.", c.Position, VfioErrors.QemuStreamUnsupported);
            ulong pageMask = (ulong)description.PageSize - 1;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long at = c.Position;
                ulong word = c.U64("a RAM page header");
                ulong flags = word & pageMask, address = word & ~pageMask;
                if (flags == 0) throw c.Error($"a RAM page header ({word:x16}) has no flags.", at);
                if ((flags & RamMemSize) != 0)
                {
                    if (!start) throw c.Error("a RAM block list (MEM_SIZE) outside the RAM section's START part.", at);
                    _contents.RamBytes = (long)Math.Min(address, long.MaxValue);
                    ulong left = address;
                    while (left > 0)
                    {
                        long blockAt = c.Position;
                        string block = c.ShortText("a RAM block name");
                        ulong used = c.U64($"the length of RAM block '{block}'");
                        if (used > left) throw c.Error($"RAM block '{block}' is {used} bytes, more than the {left} the RAM size leaves.", blockAt);
                        if (used == 0) throw c.Error($"RAM block '{block}' has length 0.", blockAt);
                        left -= used;
                        if (_ignoreShared) c.U64($"RAM block '{block}''s address");
                    }
                    flags &= ~RamMemSize;
                }
                if ((flags & (RamZero | RamPage | RamXbzrle | RamCompressPage)) != 0)
                {
                    if ((flags & RamContinue) == 0) _ramBlock = c.ShortText("a RAM page's block name");
                    else if (_ramBlock is null) throw c.Error("a RAM page continues a block, but no block was named before.", at);
                    flags &= ~RamContinue;
                    if ((flags & RamZero) != 0)
                    {
                        // QEMU's loader refuses any other fill (ram_handle_zero).
                        byte fill = c.U8("a zero page's fill byte");
                        if (fill != 0) throw c.Error($"a zero page has fill byte {fill:x2}; QEMU writes and accepts only 00.", c.Position - 1);
                        flags &= ~RamZero;
                    }
                    else if ((flags & RamPage) != 0) { c.Skip(pageMask + 1, "a RAM page"); flags &= ~RamPage; }
                    else if ((flags & RamXbzrle) != 0)
                    {
                        byte encoding = c.U8("an XBZRLE page's encoding");
                        if (encoding != 1) throw c.Error($"an XBZRLE page has encoding {encoding}, not 1.", c.Position - 1);
                        c.Skip(c.U16("an XBZRLE page's length"), "an XBZRLE page");
                        flags &= ~RamXbzrle;
                    }
                    else
                    {
                        c.Skip(c.U32("a compressed page's length"), "a compressed page");
                        flags &= ~RamCompressPage;
                    }
                }
                if ((flags & RamHook) != 0) throw c.Error("a RAM page carries the RDMA hook flag, which a stream in a file never has.", at, VfioErrors.QemuStreamUnsupported);
                // QEMU writes the end and flush flags alone, with address 0.
                if (((word & pageMask) & ~(RamEos | RamMultifdFlush)) == 0 && address != 0)
                    throw c.Error($"a RAM end-of-section word ({word:x16}) has address bits set.", at);
                flags &= ~RamMultifdFlush;
                if ((flags & RamEos) != 0)
                {
                    if ((flags & ~RamEos) != 0) throw c.Error($"RAM page flags {flags:x} are not known.", at);
                    return;
                }
                if (flags != 0) throw c.Error($"RAM page flags {flags:x} are not known.", at);
            }
        }
    }
}
