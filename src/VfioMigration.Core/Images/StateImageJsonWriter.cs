using System.Buffers;
using System.Text.Json;

namespace VfioMigration.Images;

/// <summary>
/// Writes an image's header and summary as the UTF-8 JSON that <c>JsonSerializer</c> with
/// <see cref="StateImageJson.Options"/> writes for them, byte for byte (camelCase, declaration order, nulls left
/// out, enums by name, the device record flat as <see cref="ImageDeviceJson"/> writes it), straight onto a
/// <see cref="Utf8JsonWriter"/>. A save writes these once, but the reflection serializer's first use in a process
/// costs 90–120 ms (metadata, emitted accessors and about 240 generic methods the JIT compiles, none of which
/// ReadyToRun can precompile across assemblies), a tenth of a 1 GiB save. Reading stays with
/// <c>JsonSerializer</c>; <c>StateImageJsonWriterTests</c> compares the two on generated headers and fails when a
/// field is added to one and not the other.
/// </summary>
internal static class StateImageJsonWriter
{
    /// <summary>The header as JSON, the same bytes as <c>JsonSerializer.SerializeToUtf8Bytes(header, StateImageJson.Options)</c>.</summary>
    public static byte[] Header(StateImageHeader header) => Write(header, static (w, h) =>
    {
        // A property whose value is null is left out, as the serializer's WhenWritingNull does, also where the
        // type says it cannot be null.
        w.WriteStartObject();
        w.WriteNumber("formatVersion", h.FormatVersion);
        w.WriteString("created", h.Created);
        Optional(w, "host", h.Host);
        Optional(w, "tool", h.Tool);
        if (h.Device is { } device)
        {
            w.WritePropertyName("device");
            Device(w, device);
        }
        Optional(w, "saveMode", h.SaveMode);
        if (h.ProtocolMetadata is { } metadata)
        {
            w.WriteStartObject("protocolMetadata");
            foreach (var (key, value) in metadata) w.WriteString(key, value); // a null value is written as null
            w.WriteEndObject();
        }
        if (h.Set is { } set)
        {
            w.WritePropertyName("set");
            Set(w, set);
        }
        w.WriteEndObject();
    });

    /// <summary>The summary as JSON, the same bytes as <c>JsonSerializer.SerializeToUtf8Bytes(summary, StateImageJson.Options)</c>.</summary>
    public static byte[] Summary(StateImageSummary summary) => Write(summary, static (w, s) =>
    {
        w.WriteStartObject();
        w.WriteNumber("dataBytes", s.DataBytes);
        w.WriteNumber("preCopyRounds", s.PreCopyRounds);
        w.WriteNumber("preCopyBytes", s.PreCopyBytes);
        w.WriteNumber("preCopyReinits", s.PreCopyReinits);
        w.WriteBoolean("preCopyFlagsReported", s.PreCopyFlagsReported);
        w.WriteNumber("downtimeMilliseconds", s.DowntimeMilliseconds);
        w.WriteNumber("durationMilliseconds", s.DurationMilliseconds);
        w.WriteEndObject();
    });

    /// <summary>The device record: the identity's recorded fields in <see cref="DeviceIdentity"/>'s order, then protocol and capabilities.</summary>
    private static void Device(Utf8JsonWriter w, ImageDevice device)
    {
        var id = device.Identity;
        w.WriteStartObject();
        Optional(w, "address", id.Address);
        Enumerated(w, "kind", id.Kind);
        Optional(w, "vendorId", id.VendorId);
        Optional(w, "deviceId", id.DeviceId);
        Optional(w, "subsystemVendorId", id.SubsystemVendorId);
        Optional(w, "subsystemId", id.SubsystemId);
        Optional(w, "classCode", id.ClassCode);
        Optional(w, "deviceNumber", id.DeviceNumber);
        Optional(w, "driver", id.Driver);
        Enumerated(w, "protocol", device.Protocol);
        w.WriteString("capabilities", device.Capabilities);
        w.WriteEndObject();
    }

    private static void Set(Utf8JsonWriter w, ImageSet set)
    {
        w.WriteStartObject();
        w.WriteString("id", set.Id);
        w.WriteNumber("index", set.Index);
        if (set.Members is { } members)
        {
            w.WriteStartArray("members");
            foreach (var member in members) w.WriteStringValue(member);
            w.WriteEndArray();
        }
        if (set.Links is { } links)
        {
            w.WriteStartObject("links");
            foreach (var (kind, linked) in links)
            {
                if (linked is null)
                {
                    w.WriteNull(kind); // a dictionary's null value is written, not left out
                    continue;
                }
                w.WriteStartArray(kind);
                foreach (int m in linked) w.WriteNumberValue(m);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void Optional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null) w.WriteString(name, value);
    }

    /// <summary>An enum as JsonStringEnumConverter writes it: a defined value by its name (the naming policy does not apply), any other as its number.</summary>
    private static void Enumerated(Utf8JsonWriter w, string name, Enum value)
    {
        if (Enum.IsDefined(value.GetType(), value)) w.WriteString(name, value.ToString());
        else w.WriteNumber(name, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static byte[] Write<T>(T value, Action<Utf8JsonWriter, T> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
            write(writer, value);
        return buffer.WrittenSpan.ToArray();
    }
}
