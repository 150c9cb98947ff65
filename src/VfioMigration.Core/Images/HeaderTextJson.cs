using System.Text.Json;
using System.Text.Json.Serialization;

namespace VfioMigration.Images;

/// <summary>
/// Every string read from an image's header (host, tool, driver, names, metadata values) passes through
/// <see cref="DisplayText.Escape"/>: the header is outside bytes, and its text is shown in tables, errors and
/// warnings, where a terminal escape sequence would act instead of being read. Written strings are unchanged.
/// </summary>
internal sealed class HeaderTextJson : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? null
        : reader.TokenType == JsonTokenType.String ? DisplayText.Escape(reader.GetString()!)
        : throw new JsonException($"expected a string, found {reader.TokenType}");

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
