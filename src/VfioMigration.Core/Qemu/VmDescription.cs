using System.Buffers.Binary;
using System.Text.Json;

namespace VfioMigration.Qemu;

/// <summary>
/// The JSON description QEMU writes after the end-of-stream byte (<c>00</c>, then <c>06</c>, be32 length, JSON): it
/// records, for every non-iterable section, the bytes each field was written with. Sections carry no length, so
/// this is what sizes them (migration/vmstate.c: a field's <c>size</c> is the bytes one element was written with,
/// <c>array_len</c> how many equal elements it stands for; a subsection follows its parent's fields as
/// <c>05</c>, u8 name length, name, be32 version, then its own fields). An old-style section (no VMState, such as
/// a VFIO device's config part) is described by its total <c>size</c> alone.
/// </summary>
internal sealed class VmDescription : IDisposable
{
    private readonly Dictionary<(string Name, long Instance), JsonElement> _devices;
    // Worked out once per entry: many FULL sections may name one entry, and each walking its fields again would
    // make the work grow with sections x fields, not with the file.
    private readonly Dictionary<(string Name, long Instance), BodyPlan> _plans = new();
    private readonly Dictionary<(string Name, long Instance), ulong?> _bufferSizes = new();
    private readonly JsonDocument _document;

    private VmDescription(JsonDocument document, long eofOffset, int pageSize, Dictionary<(string, long), JsonElement> devices, JsonElement? configuration)
    {
        _document = document;
        EofOffset = eofOffset;
        PageSize = pageSize;
        _devices = devices;
        Configuration = configuration;
    }

    /// <summary>Where the end-of-stream byte is: the walk must meet it exactly there.</summary>
    public long EofOffset { get; }
    /// <summary>The target page size RAM page addresses are aligned to (flags live below it).</summary>
    public int PageSize { get; }
    /// <summary>The configuration section's description (QEMU 9.1+ writes one), or null.</summary>
    public JsonElement? Configuration { get; }
    public int DeviceCount => _devices.Count;

    public void Dispose() => _document.Dispose();

    /// <summary>
    /// Finds and parses the description in the last bytes of a stream of <paramref name="length"/> bytes:
    /// <paramref name="tail"/> are its last bytes (at most <see cref="QemuStreamFormat.MaxDescriptionBytes"/> + 6).
    /// JSON holds no NUL byte, so the end-of-stream byte is at most four bytes before the last NUL, and the length
    /// after it must reach the end exactly.
    /// </summary>
    public static VmDescription Locate(ReadOnlySpan<byte> tail, long length, string path, long reportBase, string where)
    {
        long tailStart = length - tail.Length;
        // JSON holds no NUL, so the last NUL is the end byte or in the be32 length after it: try those five places.
        int last = tail.LastIndexOf((byte)0), eof = last;
        for (int e = last; e >= Math.Max(0, last - 4); e--)
        {
            if (tail.Length - e >= 6 && tail[e] == 0 && tail[e + 1] == QemuStreamFormat.DescriptionMarker &&
                BinaryPrimitives.ReadUInt32BigEndian(tail[(e + 2)..]) == tail.Length - e - 6) { eof = e; break; }
        }
        string missing = "the stream has no JSON description of its sections at its end, so the sections, which carry no length, cannot be walked: " +
                         "the stream is truncated, or QEMU wrote it without one (a machine type with suppress-vmdesc)";
        if (eof < 0 || tail.Length - eof < 6 || tail[eof + 1] != QemuStreamFormat.DescriptionMarker)
            throw new QemuStreamException(path + where, missing + ".", VfioErrors.QemuStreamTruncated);
        uint jsonLength = BinaryPrimitives.ReadUInt32BigEndian(tail[(eof + 2)..]);
        var json = tail[(eof + 6)..];
        if (jsonLength != json.Length)
            throw new QemuStreamException(path + where, $"{missing} (the description's length field says {jsonLength} bytes, {json.Length} follow it).",
                VfioErrors.QemuStreamTruncated, reportBase + tailStart + eof + 2);
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new QemuStreamException(path + where, "the JSON description at the end of the stream is not UTF-8 text.", VfioErrors.QemuStreamInvalid, reportBase + tailStart + eof + 6);
        JsonDocument document;
        try { document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e)
        {
            throw new QemuStreamException(path + where, $"the JSON description at the end of the stream is not valid JSON: {e.Message}", VfioErrors.QemuStreamInvalid, reportBase + tailStart + eof + 6);
        }
        try
        {
            var root = document.RootElement;
            if (!Member(root, "devices", out var devices) || devices.ValueKind != JsonValueKind.Array)
                throw new QemuStreamException(path + where, "the JSON description at the end of the stream has no 'devices' list.", VfioErrors.QemuStreamInvalid, reportBase + tailStart + eof + 6);
            long pageSize = Member(root, "page_size", out _) ? Integer(root, "page_size") ?? -1 : 4096;
            if (pageSize < 512 || pageSize > 1 << 20 || (pageSize & (pageSize - 1)) != 0)
                throw new QemuStreamException(path + where, $"the description's page_size {pageSize} is not a power of two from 512 to 1 MiB.", VfioErrors.QemuStreamInvalid);
            var map = new Dictionary<(string, long), JsonElement>();
            foreach (var d in devices.EnumerateArray())
            {
                if (Text(d, "name") is not { } name || Integer(d, "instance_id") is not { } instance)
                    throw new QemuStreamException(path + where, "a device of the JSON description has no name or instance_id (a string and a number).", VfioErrors.QemuStreamInvalid);
                map[(name, instance)] = d;
            }
            JsonElement? configuration = Member(root, "configuration", out var c) && c.ValueKind == JsonValueKind.Object ? c : null;
            return new VmDescription(document, tailStart + eof, (int)pageSize, map, configuration);
        }
        catch
        {
            document.Dispose();
            throw;
        }
    }

    /// <summary>Whether the description has the section (name, instance).</summary>
    public bool TryGet(string idstr, long instance, out JsonElement device) => _devices.TryGetValue((idstr, instance), out device);

    /// <summary>An old-style section's total size, or null when it is described field by field.</summary>
    public static ulong? OldStyleSize(JsonElement device, StreamCursor c, string idstr) =>
        Member(device, "fields", out _) ? null : Member(device, "size", out var s) ? Size(s, c, $"the description of '{idstr}'") : null;

    /// <summary>
    /// The size of a section body that QEMU describes as one opaque buffer, as a VFIO device's FULL part is
    /// (QEMU 10.0.2: <c>{"name":"0000:00:04.0/vfio","size":4132,"fields":[{"name":"data","size":4132,"type":"buffer"}]}</c>):
    /// the top-level size, or the sum of the fields' sizes; where both are given they must agree. Null when neither says.
    /// </summary>
    public static ulong? BufferSize(JsonElement device, StreamCursor c, string idstr)
    {
        ulong? top = Member(device, "size", out var s) ? Size(s, c, $"the description of '{idstr}'") : null;
        if (!Member(device, "fields", out var fields)) return top;
        if (fields.ValueKind != JsonValueKind.Array) throw c.Error($"the description of '{idstr}' has a 'fields' that is not a list.", c.Position);
        ulong sum = 0;
        foreach (var field in fields.EnumerateArray())
        {
            if (!Member(field, "size", out _)) return top;
            try { sum = checked(sum + FieldBytes(field, c, $"field '{Name(field, "name")}' of '{idstr}'")); }
            catch (OverflowException) { throw c.Error($"the description of '{idstr}' sizes it past any file.", c.Position); }
        }
        if (top is { } t && t != sum)
            throw c.Error($"the description of '{idstr}' gives it {t} bytes, but its fields add up to {sum}.", c.Position);
        return sum;
    }

    /// <summary>A described field's bytes: its size times its array_len (1 without one); an error when that passes any file.</summary>
    private static ulong FieldBytes(JsonElement field, StreamCursor c, string what)
    {
        ulong size = Size(field.GetProperty("size"), c, what);
        ulong count = Member(field, "array_len", out var a) ? Size(a, c, what + " (array_len)") : 1;
        try { return checked(size * count); }
        catch (OverflowException) { throw c.Error($"the description of {what} sizes it past any file ({size} x {count} bytes).", c.Position); }
    }

    /// <summary>
    /// A VFIO section's config part size (<see cref="BufferSize"/>) for the entry (<paramref name="idstr"/>,
    /// <paramref name="instance"/>), worked out once.
    /// </summary>
    public ulong? ConfigPartSize(StreamCursor c, string idstr, long instance, JsonElement device)
    {
        if (_bufferSizes.TryGetValue((idstr, instance), out var known)) return known;
        var size = BufferSize(device, c, idstr);
        _bufferSizes[(idstr, instance)] = size;
        return size;
    }

    /// <summary>Passes over the body of a FULL section of the entry (<paramref name="idstr"/>, <paramref name="instance"/>), with the entry's plan worked out once.</summary>
    public void SkipSection(StreamCursor c, string idstr, long instance, JsonElement device)
    {
        if (!_plans.TryGetValue((idstr, instance), out var plan)) _plans[(idstr, instance)] = plan = BodyPlan.From(device, idstr, 0);
        plan.Run(c);
    }

    /// <summary>Passes over one section's body as its description sizes it, checking each subsection's header.</summary>
    public static void SkipBody(StreamCursor c, JsonElement description, string idstr, int depth = 0) => BodyPlan.From(description, idstr, depth).Run(c);

    /// <summary>
    /// What walking a section body takes, as its description says: bytes to pass over (fields of 0 bytes left
    /// out, so a run of the plan costs work in proportion to the stream's bytes), subsection headers to check with
    /// their own plans, and, where the description cannot be walked, the error to raise at that point of the walk
    /// (so a damaged description fails where the old field-by-field walk failed).
    /// </summary>
    private sealed class BodyPlan
    {
        private readonly List<Step> _steps = new();

        private abstract record Step;
        private sealed record Skip(ulong Bytes, string What) : Step;
        private sealed record Fail(string Message) : Step;
        private sealed record Sub(string Parent, string Expected, JsonElement Description, BodyPlan Body) : Step;

        public static BodyPlan From(JsonElement description, string idstr, int depth)
        {
            var plan = new BodyPlan();
            plan.Build(description, idstr, depth);
            return plan;
        }

        private void Build(JsonElement description, string idstr, int depth)
        {
            if (depth > 64) { _steps.Add(new Fail($"the description of '{idstr}' nests subsections more than 64 deep.")); return; }
            if (description.ValueKind != JsonValueKind.Object) { _steps.Add(new Fail($"the description of '{idstr}' is not an object.")); return; }
            if (!Member(description, "fields", out var fields))
            {
                if (!Member(description, "size", out var total)) { _steps.Add(new Fail($"the description of '{idstr}' has neither fields nor a size, so its section cannot be walked.")); return; }
                if (SizeOf(total) is not { } size) { _steps.Add(new Fail($"the size of the description of '{idstr}' in the description is not a whole number of bytes.")); return; }
                if (size > 0) _steps.Add(new Skip(size, $"section '{idstr}'"));
                return;
            }
            if (fields.ValueKind != JsonValueKind.Array) { _steps.Add(new Fail($"the description of '{idstr}' has a 'fields' that is not a list.")); return; }
            foreach (var field in fields.EnumerateArray())
            {
                string what = $"field '{Name(field, "name")}' of '{idstr}'";
                if (!Member(field, "size", out var sizeValue)) { _steps.Add(new Fail($"the description of {what} has no size.")); return; }
                if (SizeOf(sizeValue) is not { } size) { _steps.Add(new Fail($"the size of {what} in the description is not a whole number of bytes.")); return; }
                ulong count = 1;
                if (Member(field, "array_len", out var a))
                {
                    if (SizeOf(a) is not { } n) { _steps.Add(new Fail($"the size of {what} (array_len) in the description is not a whole number of bytes.")); return; }
                    count = n;
                }
                ulong bytes;
                try { bytes = checked(size * count); }
                catch (OverflowException) { _steps.Add(new Fail($"the description of {what} sizes it past any file ({size} x {count} bytes).")); return; }
                if (bytes > 0) _steps.Add(new Skip(bytes, what));
            }
            if (!Member(description, "subsections", out var subsections)) return;
            if (subsections.ValueKind != JsonValueKind.Array) { _steps.Add(new Fail($"the description of '{idstr}' has a 'subsections' that is not a list.")); return; }
            foreach (var sub in subsections.EnumerateArray())
            {
                string expected = Text(sub, "vmsd_name") ?? "";
                // A subsection's own messages name it as the stream does, which (once its header matched) is the described name.
                _steps.Add(new Sub(idstr, expected, sub, From(sub, DisplayText.Escape(expected), depth + 1)));
            }
        }

        public void Run(StreamCursor c)
        {
            foreach (var step in _steps)
            {
                switch (step)
                {
                    case Skip skip:
                        c.Skip(skip.Bytes, skip.What);
                        break;
                    case Fail fail:
                        throw c.Error(fail.Message, c.Position);
                    case Sub sub:
                    {
                        string idstr = sub.Parent, shown = DisplayText.Escape(sub.Expected);
                        long at = c.Position;
                        byte type = c.U8($"the subsection marker of '{idstr}'");
                        if (type != QemuStreamFormat.Subsection)
                            throw c.Error($"section '{idstr}' should continue with subsection '{shown}' (byte 05), but byte {type:x2} is there.", at);
                        string name = c.ShortText($"a subsection name of '{idstr}'");
                        if (name != sub.Expected)
                            throw c.Error($"section '{idstr}' has subsection '{name}' where its description says '{shown}'.", at);
                        uint version = c.U32($"the version of subsection '{name}'");
                        if (Member(sub.Description, "version", out var dv) && Integer(sub.Description, "version") != version)
                            throw c.Error($"subsection '{name}' has version {version}, its description version {DisplayText.Escape(dv.GetRawText())}.", at);
                        sub.Body.Run(c);
                        break;
                    }
                }
            }
        }
    }

    /// <summary>A string member shown on a terminal: escaped (JSON may carry any character), "?" when missing.</summary>
    private static string Name(JsonElement e, string name) => DisplayText.Escape(Text(e, name) ?? "?");

    private static ulong? SizeOf(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out long n) && n >= 0 ? (ulong)n : null;

    /// <summary>
    /// A member of a JSON object, when <paramref name="e"/> is an object that has it. The description is outside
    /// bytes: every access goes through these, which never throw on a value of another kind.
    /// </summary>
    internal static bool Member(JsonElement e, string name, out JsonElement value)
    {
        value = default;
        return e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out value);
    }

    /// <summary>A whole-number member, or null when it is missing or of another kind.</summary>
    internal static long? Integer(JsonElement e, string name) =>
        Member(e, name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : null;

    /// <summary>A string member, or null when it is missing, of another kind, or not text (an unpaired surrogate escape).</summary>
    internal static string? Text(JsonElement e, string name)
    {
        if (!Member(e, name, out var v) || v.ValueKind != JsonValueKind.String) return null;
        try { return v.GetString(); }
        catch (InvalidOperationException) { return null; }
    }

    private static ulong Size(JsonElement value, StreamCursor c, string what)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long n) || n < 0)
            throw c.Error($"the size of {what} in the description is not a whole number of bytes.", c.Position);
        return (ulong)n;
    }
}
