using System.Text.Json;
using System.Text.Json.Serialization;

namespace VfioMigration.Images;

/// <summary>The JSON settings of image headers and summaries: camelCase, enums by name, no indentation, header text escaped for display (<see cref="HeaderTextJson"/>).</summary>
internal static class StateImageJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(), new HeaderTextJson() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
