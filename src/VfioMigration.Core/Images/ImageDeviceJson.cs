using System.Text.Json;
using System.Text.Json.Serialization;
using VfioMigration.Protocol;

namespace VfioMigration.Images;

/// <summary>
/// Writes an <see cref="ImageDevice"/> as the flat object the image format has always had (the identity's fields
/// as <see cref="DeviceIdentity"/> declares them, then <c>protocol</c> and <c>capabilities</c>) and reads one back
/// the way a plain record would be read: unknown fields ignored, a repeated field's last value kept, a missing
/// <c>protocol</c> None and a missing <c>capabilities</c> empty, so that <see cref="StateImageHeaderCheck"/> judges them.
/// </summary>
internal sealed class ImageDeviceJson : JsonConverter<ImageDevice>
{
    private const string ProtocolField = "protocol";
    private const string CapabilitiesField = "capabilities";

    public override ImageDevice Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var record = JsonDocument.ParseValue(ref reader);
        var identity = record.RootElement.Deserialize<DeviceIdentity>(options)
            ?? throw new JsonException("the device record is null");
        var protocol = MigrationProtocol.None;
        string? capabilities = "";
        foreach (var field in record.RootElement.EnumerateObject())
        {
            if (field.NameEquals(ProtocolField)) protocol = field.Value.Deserialize<MigrationProtocol>(options);
            else if (field.NameEquals(CapabilitiesField)) capabilities = field.Value.Deserialize<string>(options);
        }
        return new ImageDevice(identity, protocol, capabilities!);
    }

    public override void Write(Utf8JsonWriter writer, ImageDevice value, JsonSerializerOptions options)
    {
        using var identity = JsonSerializer.SerializeToDocument(value.Identity, options);
        writer.WriteStartObject();
        foreach (var field in identity.RootElement.EnumerateObject()) field.WriteTo(writer);
        writer.WritePropertyName(ProtocolField);
        JsonSerializer.Serialize(writer, value.Protocol, options);
        writer.WriteString(CapabilitiesField, value.Capabilities);
        writer.WriteEndObject();
    }
}
