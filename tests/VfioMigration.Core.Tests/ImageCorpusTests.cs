using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json.Nodes;
using CsCheck;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// The damaged-image corpus. Over 10,000 mutations of a v1, a v2 and a set image, in bounded time:
/// byte damage (flips, truncation, extension, insertion, deletion, hostile lengths) must never verify, and header
/// edits with the checksum recomputed (so that only the header checks stand between them and a device) must never
/// raise anything but <see cref="StateImageException"/>, and when accepted must describe without error.
/// </summary>
public class ImageCorpusTests
{
    public const int Mutations = 12_000;

    private static readonly Lazy<byte[][]> Bases = new(() =>
    {
        using var f = new ImageFixture();
        var v2 = f.Host.Add(Sim.V2(address: "0000:01:00.0", memory: 16 * 1024, seed: 1));
        var v1 = f.Host.Add(Sim.V1(address: "0000:02:00.0", memory: 16 * 1024, seed: 2));
        var s1 = f.Host.Add(Sim.V2(address: "0000:03:00.0", memory: 16 * 1024, seed: 3));
        var s2 = f.Host.Add(Sim.V2(address: "0000:03:00.1", memory: 16 * 1024, seed: 4));
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(v2.Address, "v2.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(v1.Address, "v1.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
        Assert.All(DeviceSetSaver.Save(new[] { f.Save(s1.Address, "s1.vfiostate"), f.Save(s2.Address, "s2.vfiostate") }, new SaveOptions(), false, false), o => Assert.True(o.Succeeded));
        return new[] { "v2", "v1", "s1", "s2" }.Select(n => File.ReadAllBytes(f.PathFor(n + ".vfiostate"))).ToArray();
    });

    private static readonly uint[] Hostile = { 0, 1, 0xFFFFFFFF, 0x7FFFFFFF, StateImageFormat.MaxChunkSize + 1u, StateImageFormat.MaxHeaderSize + 1u, 16, 4096 };

    /// <summary>Raw damage: the checksum is not recomputed, so the reader must refuse every one.</summary>
    private static byte[] Damage(byte[] b, int kind, int at, int value)
    {
        at %= b.Length;
        switch (kind)
        {
            case 0: { var c = (byte[])b.Clone(); c[at] ^= (byte)(value % 255 + 1); return c; }
            case 1: return b[..at];
            case 2: return b.Concat(Enumerable.Repeat((byte)value, value % 7 + 1)).ToArray();
            case 3: return b[..at].Concat(new[] { (byte)value }).Concat(b[at..]).ToArray();
            case 4: return b[..at].Concat(b[Math.Min(b.Length, at + value % 64 + 1)..]).ToArray();
            default:
                {
                    var c = (byte[])b.Clone();
                    at = Math.Min(at, c.Length - 4);
                    BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(at), Hostile[value % Hostile.Length]);
                    return c;
                }
        }
    }

    private static readonly string[] Paths =
    {
        "formatVersion", "created", "host", "tool", "saveMode", "protocolMetadata", "protocolMetadata.capabilities", "protocolMetadata.stopCopySizeEstimate",
        "device", "device.address", "device.kind", "device.vendorId", "device.protocol", "device.capabilities", "device.driver",
        "set", "set.id", "set.index", "set.members", "set.members.0", "set.members.1", "set.links", "set.links.slot", "set.links.slot.0", "set.links.peer",
    };

    private static readonly JsonNode?[] Values =
    {
        null, JsonValue.Create(0), JsonValue.Create(-1), JsonValue.Create(int.MaxValue), JsonValue.Create(1e300), JsonValue.Create(""), JsonValue.Create(" "),
        JsonValue.Create("V2"), JsonValue.Create("None"), JsonValue.Create("0000:03:00.1"), JsonValue.Create(true), new JsonArray(), new JsonObject(),
        JsonValue.Create(Guid.Empty.ToString()), JsonValue.Create("\u0000"), new JsonArray(JsonValue.Create(1)),
    };

    /// <summary>A header edit, checksum recomputed: a field removed, or set to a value of any type; or one character of the JSON text replaced.</summary>
    private static byte[] Edit(byte[] b, int kind, int at, int value)
    {
        if (kind == 6)
            return ImageSurgery.WithHeaderText(b, json =>
            {
                int i = at % json.Length;
                return json[..i] + (char)(32 + value % 95) + json[(i + 1)..];
            });
        return ImageSurgery.WithHeader(b, h =>
        {
            var path = Paths[at % Paths.Length].Split('.');
            JsonNode? parent = h;
            foreach (var step in path[..^1]) parent = parent is JsonArray a && int.TryParse(step, out int k) ? (k < a.Count ? a[k] : null) : parent?[step];
            var last = path[^1];
            if (parent is JsonObject o)
            {
                if (value % 5 == 0) o.Remove(last);
                else o[last] = Values[value % Values.Length]?.DeepClone();
            }
            else if (parent is JsonArray arr && int.TryParse(last, out int idx) && idx < arr.Count)
                arr[idx] = Values[value % Values.Length]?.DeepClone();
        });
    }

    [Fact]
    public void TenThousandDamagedImagesNoCrashNoAcceptedDamage()
    {
        var bases = Bases.Value;
        long raw = 0, edited = 0, acceptedEdits = 0;
        var clock = Stopwatch.StartNew();
        Gen.Select(Gen.Int[0, bases.Length - 1], Gen.Int[0, 7], Gen.Int[0, int.MaxValue], Gen.Int[0, 1 << 16]).Sample((which, kind, at, value) =>
        {
            var original = bases[which];
            if (kind < 6)
            {
                var damaged = Damage(original, kind, at, value);
                Interlocked.Increment(ref raw);
                if (damaged.AsSpan().SequenceEqual(original)) return;
                Assert.Throws<StateImageException>(() => StateImageReader.Open(new MemoryStream(damaged), "m").ReadData(null));
            }
            else
            {
                var damaged = Edit(original, kind, at, value);
                Interlocked.Increment(ref edited);
                try
                {
                    var reader = StateImageReader.Open(new MemoryStream(damaged), "m");
                    reader.ReadData(null);
                    // Accepted: a header that passes every check must describe, and its set (if any) must be usable.
                    var image = StateImageInspector.Describe(reader, "m", damaged.Length, null);
                    Assert.True(StateImageHeaderCheck.IsAddress(image.DeviceName));
                    if (image.SetId is not null) Assert.InRange(image.SetIndex!.Value, 0, image.SetMembers!.Length - 1);
                    foreach (var to in image.Links?.Values ?? Enumerable.Empty<int[]>())
                        Assert.All(to, m => { Assert.InRange(m, 0, image.SetMembers!.Length - 1); Assert.NotEqual(image.SetIndex, m); });
                    Interlocked.Increment(ref acceptedEdits);
                }
                catch (StateImageException) { }
            }
        }, iter: Mutations);
        Assert.True(raw + edited >= 10_000, $"{raw + edited} mutations");
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"the corpus took {clock.Elapsed}");
        Assert.True(edited > 1000 && raw > 5000, $"{raw} raw, {edited} header edits");
        Assert.True(acceptedEdits < edited, "no header edit was refused: the generator does not damage headers");
    }

    [Fact]
    public void DamagedSetImagesNeverReachADevice()
    {
        var bases = Bases.Value;
        using var f = new ImageFixture();
        var c = f.Host.Add(Sim.V2(address: "0000:05:00.0", memory: 16 * 1024, seed: 3));
        var d = f.Host.Add(Sim.V2(address: "0000:05:00.1", memory: 16 * 1024, seed: 4));
        File.WriteAllBytes(f.PathFor("s2.vfiostate"), bases[3]);
        Gen.Select(Gen.Int[0, 7], Gen.Int[0, int.MaxValue], Gen.Int[0, 1 << 16]).Sample((kind, at, value) =>
        {
            var damaged = kind < 6 ? Damage(bases[2], kind, at, value) : Edit(bases[2], kind, at, value);
            if (damaged.AsSpan().SequenceEqual(bases[2]) || ImageSurgery.Verifies(damaged)) return;
            File.WriteAllBytes(f.PathFor("s1.vfiostate"), damaged);
            c.ArcHistory.Clear();
            d.ArcHistory.Clear();
            var outcomes = DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "s1.vfiostate"), f.Restore(d.Address, "s2.vfiostate") }, MigrationState.Stop, RestoreOverrides.Identity | RestoreOverrides.SetMembership);
            Assert.All(outcomes, o => Assert.False(o.Succeeded));
            Assert.All(outcomes, o => Assert.Equal(MigrationState.Running, o.StateNow));
            Assert.Empty(c.ArcHistory);
            Assert.Empty(d.ArcHistory);
        }, iter: 400, threads: 1);
    }
}
