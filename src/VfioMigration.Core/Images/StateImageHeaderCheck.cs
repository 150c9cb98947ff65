using VfioMigration.Protocol;

namespace VfioMigration.Images;

/// <summary>
/// What a header must hold beyond being JSON (docs/image-format.md, Header): every field present with its type
/// and no nulls where the format has a value, enums among their names, and a set whose member list is non-empty,
/// of valid, distinct addresses, with this image's index in range and its device at that index, and links (if any)
/// naming other members. JSON cannot say
/// "not null" for the reader, so this does, and a damaged header is <c>ImageInvalid</c> naming the field.
/// </summary>
internal static class StateImageHeaderCheck
{
    public static void Validate(StateImageHeader h, string path)
    {
        void Fail(string field, string what) => throw new StateImageException(path, field, $"the header's {field} {what}.");
        if (h.Host is null) Fail("host", "is missing");
        if (h.Tool is null) Fail("tool", "is missing");
        if (h.SaveMode is not ("stop-copy" or "live")) Fail("saveMode", "is not 'stop-copy' or 'live'");
        if (h.ProtocolMetadata is null || h.ProtocolMetadata.Any(kv => kv.Key is null || kv.Value is null)) Fail("protocolMetadata", "is missing or holds a null value");
        var d = h.Device.Identity;
        if (!IsAddress(d.Address)) Fail("device.address", "is not a device address");
        if (!Enum.IsDefined(d.Kind)) Fail("device.kind", "is not a device kind");
        if (!Enum.IsDefined(h.Device.Protocol) || h.Device.Protocol == MigrationProtocol.None) Fail("device.protocol", "is not V1 or V2");
        if (h.Device.Capabilities is null) Fail("device.capabilities", "is missing");
        if (h.Set is { } set)
        {
            if (set.Id == Guid.Empty) Fail("set.id", "is missing");
            if (set.Members is null || set.Members.Count == 0) Fail("set.members", "is missing or empty");
            if (set.Members!.Any(m => !IsAddress(m))) Fail("set.members", "holds a value that is not a device address");
            if (set.Members!.Distinct(StringComparer.OrdinalIgnoreCase).Count() != set.Members!.Count) Fail("set.members", "names a device twice");
            if (set.Index < 0 || set.Index >= set.Members!.Count) Fail("set.index", $"({set.Index}, member {VfioStateImage.Position(set.Index, set.Members!.Count)}) is outside the member list of {set.Members!.Count}");
            if (!string.Equals(set.Members![set.Index], d.Address, StringComparison.OrdinalIgnoreCase))
                Fail("set.members", $"disagrees with the device: member {VfioStateImage.Position(set.Index, set.Members.Count)} is '{set.Members[set.Index]}', the image is of '{d.Address}'");
            // Optional (older images have none); a link names another member by its index.
            if (set.Links is { } links && links.FirstOrDefault(kv => kv.Value is null || kv.Value.Any(m => m < 0 || m >= set.Members.Count || m == set.Index) || kv.Value.Distinct().Count() != kv.Value.Length) is { Key: { } kind })
                Fail("set.links", $"'{kind}' does not list distinct other members (indexes 0 to {set.Members.Count - 1} but {set.Index})");
        }
    }

    /// <summary>A PCI (0000:3b:00.2), ccw (0.0.0100) or mdev (UUID) address: non-blank, short, printable, no blanks or slashes.</summary>
    public static bool IsAddress(string? a) =>
        !string.IsNullOrWhiteSpace(a) && a.Length <= 64 && a.All(c => c > ' ' && c < 0x7f && c != '/');
}
