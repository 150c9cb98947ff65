using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// Text in an image's header is outside bytes shown on a terminal: a crafted image with escape sequences in its
/// host, driver or metadata must show them as visible escapes in the listing and in errors, never send them.
/// </summary>
public class HeaderTextTests
{
    private const string Escapes = "\u001b]0;owned\u0007\u001b[2J\r\u202e";

    private static bool Clean(string? text) => text is null || !text.Any(DisplayText.NeedsEscape);

    [Fact]
    public void HeaderTextWithTerminalEscapesIsShownEscapedInTheListingAndInErrors()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(address: "0000:01:00.0", memory: 32 * 1024, seed: 3));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 32 * 1024, seed: 4));
        var saved = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false);
        Assert.True(saved[0].Succeeded, saved[0].Error?.Message);
        var image = File.ReadAllBytes(f.PathFor("a.vfiostate"));
        File.WriteAllBytes(f.PathFor("evil.vfiostate"), ImageSurgery.WithHeader(image, h =>
        {
            h["host"] = "host" + Escapes;
            h["tool"] = "tool" + Escapes;
            h["device"]!["driver"] = "drv" + Escapes;
            h["protocolMetadata"]!["key" + Escapes] = "value" + Escapes;
        }));

        var listed = StateImageInspector.Inspect(f.PathFor("evil.vfiostate"), out var damage);
        Assert.Null(damage);
        Assert.True(listed.IsValid);
        Assert.True(Clean(listed.Host) && Clean(listed.Driver), $"{listed.Host} / {listed.Driver}");
        Assert.Equal("host\\u001B]0;owned\\u0007\\u001B[2J\\u000D\\u202E", listed.Host);

        var reader = StateImageInspector.Verify(f.PathFor("evil.vfiostate"));
        Assert.True(Clean(reader.Header.Tool));
        Assert.All(reader.Header.ProtocolMetadata, kv => Assert.True(Clean(kv.Key) && Clean(kv.Value), kv.Key));

        // The identity check names the image's driver in its error: escaped there too.
        var restored = DeviceSetRestorer.Restore(new[] { f.Restore(b.Address, "evil.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
        var error = Assert.IsType<VfioMigrationException>(restored[0].Error, exactMatch: false);
        Assert.True(Clean(error.Message), error.Message);
    }

    [Theory]
    [InlineData("plain 0000:3b:00.2", "plain 0000:3b:00.2")]
    [InlineData("a\u0000b", "a\\u0000b")]
    [InlineData("\u009b31m", "\\u009B31m")]
    [InlineData("x\u2066y\u2069", "x\\u2066y\\u2069")]
    public void DisplayTextEscapesControlAndBidiCharactersOnly(string text, string shown) => Assert.Equal(shown, DisplayText.Escape(text));
}
