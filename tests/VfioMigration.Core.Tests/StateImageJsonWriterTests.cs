using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using CsCheck;
using VfioMigration.Images;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// The save writes headers and summaries with <see cref="StateImageJsonWriter"/> and reads them with
/// JsonSerializer: the two must agree byte for byte on every header, including every field of the records a
/// header holds (a field added to a record and not to the writer fails here).
/// </summary>
public sealed class StateImageJsonWriterTests
{
    // Text that JSON escapes differently or not at all: quotes, controls, non-ASCII, HTML-sensitive and surrogates.
    private static readonly Gen<string> Text = Gen.OneOf(
        Gen.String[Gen.Char.AlphaNumeric, 0, 12],
        Gen.String[Gen.Char['\0', '\u00ff'], 0, 12],
        Gen.OneOfConst("", "vfio-pci", "a\"b\\c", "<script>&'+", "\u001b[31m", "ü€𝄞", "\ud800", "line\nbreak", "0000:01:00.0"));

    private static readonly Gen<string?> OptionalText = Gen.OneOf(Gen.Const((string?)null), Text.Select(t => (string?)t));

    private static readonly Gen<DeviceIdentity> Identity =
        Gen.Select(Text, Gen.Enum<VfioDeviceKind>(), OptionalText.Array[7], Gen.Bool, Gen.Int[0, 64])
            .Select((address, kind, optional, simulated, group) => WithEveryField(new DeviceIdentity
            {
                Address = address,
                Kind = kind,
                IsSimulated = simulated,
                IommuGroup = group,
                GroupNode = "/dev/vfio/" + group,
            }, optional));

    private static readonly Gen<ImageSet?> Set = Gen.OneOf(
        Gen.Const((ImageSet?)null),
        Gen.Select(Gen.Guid, Gen.Int[0, 7], Text.Array[1, 4], Gen.Bool, Gen.Dictionary(Gen.OneOfConst("peer", "iommuGroup", "slot", "parent", "x\"y"), Gen.Int[0, 7].Array[0, 3])[0, 4])
            .Select((id, index, members, links, map) => (ImageSet?)new ImageSet(id, index, members, links ? map : null)));

    private static readonly Gen<StateImageHeader> Header =
        Gen.Select(Identity, Gen.Enum<MigrationProtocol>(), Text, Gen.Select(Gen.DateTime[new DateTime(2000, 1, 1), new DateTime(2100, 1, 1)], Gen.Int[-14 * 60, 14 * 60]), Gen.Dictionary(Text, Text)[0, 5], Set, Text, Gen.OneOfConst("stop-copy", "live"))
            .Select((identity, protocol, capabilities, created, metadata, set, host, mode) => new StateImageHeader
            {
                Created = new DateTimeOffset(DateTime.SpecifyKind(created.Item1, DateTimeKind.Unspecified), TimeSpan.FromMinutes(created.Item2)),
                Host = host,
                Tool = "VfioMigration 1.0 " + capabilities,
                Device = new ImageDevice(identity, protocol, capabilities),
                SaveMode = mode,
                ProtocolMetadata = metadata,
                Set = set,
            });

    [Fact]
    public void Header_bytes_are_the_reflection_serializers()
    {
        Header.Sample(h => Assert.Equal(
            Convert.ToHexString(JsonSerializer.SerializeToUtf8Bytes(h, StateImageJson.Options)),
            Convert.ToHexString(StateImageJsonWriter.Header(h))), iter: 2000);
    }

    [Fact]
    public void Summary_bytes_are_the_reflection_serializers()
    {
        Gen.Select(Gen.Long, Gen.Int, Gen.Long, Gen.Int, Gen.Bool, Gen.Double, Gen.Double)
            .Where((_, _, _, _, _, a, b) => double.IsFinite(a) && double.IsFinite(b))
            .Select((bytes, rounds, pre, reinits, flags, down, duration) => new StateImageSummary
            {
                DataBytes = bytes, PreCopyRounds = rounds, PreCopyBytes = pre, PreCopyReinits = reinits,
                PreCopyFlagsReported = flags, DowntimeMilliseconds = down, DurationMilliseconds = duration,
            })
            .Sample(s => Assert.Equal(
                Convert.ToHexString(JsonSerializer.SerializeToUtf8Bytes(s, StateImageJson.Options)),
                Convert.ToHexString(StateImageJsonWriter.Summary(s))), iter: 2000);
    }

    [Fact]
    public void An_enum_value_without_a_name_is_written_as_its_number_as_the_serializer_does()
    {
        var h = Header.Single() with { };
        h = h with { Device = h.Device with { Protocol = (MigrationProtocol)7, Identity = h.Device.Identity with { Kind = (VfioDeviceKind)9 } } };
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(h, StateImageJson.Options), StateImageJsonWriter.Header(h));
    }

    [Fact]
    public void Nulls_where_the_types_allow_none_are_written_as_the_serializer_writes_them()
    {
        // No save makes these, but a header built elsewhere could: the writer must not differ or throw.
        var h = Header.Single();
        var withNulls = h with
        {
            Host = null!, Tool = null!, SaveMode = null!, ProtocolMetadata = null!,
            Device = h.Device with { Identity = h.Device.Identity with { Address = null! }, Capabilities = null! },
            Set = new ImageSet(Guid.NewGuid(), 0, null!, new Dictionary<string, int[]> { ["peer"] = null!, ["slot"] = [] }),
        };
        Assert.Equal(Convert.ToHexString(JsonSerializer.SerializeToUtf8Bytes(withNulls, StateImageJson.Options)), Convert.ToHexString(StateImageJsonWriter.Header(withNulls)));
        var metadataNull = h with { Device = null!, ProtocolMetadata = new() { ["k"] = null! }, Set = new ImageSet(Guid.Empty, 1, ["a", null!], null) };
        Assert.Equal(Convert.ToHexString(JsonSerializer.SerializeToUtf8Bytes(metadataNull, StateImageJson.Options)), Convert.ToHexString(StateImageJsonWriter.Header(metadataNull)));
    }

    [Fact]
    public void Every_recorded_field_is_generated_so_the_comparison_covers_it()
    {
        // The records' fields the serializer writes; the generators above set each of them, so a new one that the
        // writer lacks changes the serializer's bytes and fails the comparisons.
        string[] Written(Type t) => t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is null && p.GetMethod is { IsPublic: true })
            .Select(p => p.Name).Order().ToArray();
        Assert.Equal(["Address", "ClassCode", "DeviceId", "DeviceNumber", "Driver", "Kind", "SubsystemId", "SubsystemVendorId", "VendorId"], Written(typeof(DeviceIdentity)));
        Assert.Equal(["Created", "Device", "FormatVersion", "Host", "ProtocolMetadata", "SaveMode", "Set", "Tool"], Written(typeof(StateImageHeader)));
        Assert.Equal(["Id", "Index", "Links", "Members"], Written(typeof(ImageSet)));
        Assert.Equal(["DataBytes", "DowntimeMilliseconds", "DurationMilliseconds", "PreCopyBytes", "PreCopyFlagsReported", "PreCopyReinits", "PreCopyRounds"], Written(typeof(StateImageSummary)));
    }

    /// <summary>Sets each of the identity's optional recorded text fields (in declaration order) from <paramref name="values"/>.</summary>
    private static DeviceIdentity WithEveryField(DeviceIdentity identity, string?[] values)
    {
        var optional = typeof(DeviceIdentity).GetProperties()
            .Where(p => p.PropertyType == typeof(string) && p.GetCustomAttribute<JsonIgnoreAttribute>() is null && p.Name != nameof(DeviceIdentity.Address))
            .ToArray();
        Assert.Equal(values.Length, optional.Length);
        for (int i = 0; i < optional.Length; i++) optional[i].SetValue(identity, values[i]);
        return identity;
    }
}
