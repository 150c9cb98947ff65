using System.Text.Json;
using System.Text.Json.Serialization;

namespace VfioMigration.Images;

/// <summary>The JSON settings of image headers and summaries: camelCase, enums by name, no indentation.</summary>
internal static class StateImageJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
