using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// The device an image records, on disk and read back. The record is the flat JSON object of
/// docs/image-format.md, field for field and in that order, whatever holds the identity in memory; where the device
/// sat on its host (group, nodes, binding) is not recorded.
/// </summary>
public class ImageDeviceRecordTests
{
    private static string HeaderText(byte[] image)
    {
        int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(12));
        return Encoding.UTF8.GetString(image, StateImageFormat.PrefixSize, length);
    }

    [Fact]
    public void APciAndACcwDeviceAreRecordedAsTheFormatSays()
    {
        using var f = new ImageFixture();
        var cx7Vf = new PciIdentity(0x15b3, 0x101e, 0x15b3, 0x0052, 0x020000);
        var pci = f.Host.Add(Sim.V2(address: "0000:3b:00.2", memory: 16 * 1024) with { Driver = "mlx5_vfio_pci", IommuGroup = 61, PciIdentity = cx7Vf });
        var ccw = f.Host.Add(Sim.Ccw(address: "0.0.0100") with { IommuGroup = 7 });
        foreach (var d in new[] { pci, ccw })
            Assert.True(DeviceSetSaver.Save(new[] { f.Save(d.Address, d.Address + ".vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);

        Assert.Contains("""
            "device":{"address":"0000:3b:00.2","kind":"Pci","vendorId":"15b3","deviceId":"101e","subsystemVendorId":"15b3","subsystemId":"0052","classCode":"020000","driver":"mlx5_vfio_pci","protocol":"V2","capabilities":"StopCopy, P2P, PreCopy"}
            """, HeaderText(File.ReadAllBytes(f.PathFor("0000:3b:00.2.vfiostate"))));
        Assert.Contains("""
            "device":{"address":"0.0.0100","kind":"Ccw","deviceId":"3990","deviceNumber":"0.0.2b09","driver":"vfio_ccw","protocol":"V2","capabilities":"StopCopy"}
            """, HeaderText(File.ReadAllBytes(f.PathFor("0.0.0100.vfiostate"))));
    }

    [Fact]
    public void AnImageDescribesTheDeviceItRecordsAsTheDeviceWasShown()
    {
        using var f = new ImageFixture();
        var ccw = f.Host.Add(Sim.Ccw(address: "0.0.0100"));
        var shown = f.Session.Describe(ccw.Address);
        var saved = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(ccw.Address, "ccw.vfiostate") }, new SaveOptions(), false, false));
        var inspected = StateImageInspector.Inspect(f.PathFor("ccw.vfiostate"));
        foreach (var image in new[] { saved.Image!, inspected })
        {
            Assert.True(image.IsValid, image.Problem);
            Assert.Equal((shown.Name, shown.Kind, shown.VendorId, shown.DeviceId, shown.Driver, shown.Protocol, shown.Capabilities.ToString()),
                (image.DeviceName, image.Kind, image.VendorId, image.DeviceId, image.Driver, image.Protocol, image.Capabilities));
        }
        Assert.Equal(("0.0.0100", VfioDeviceKind.Ccw, (string?)null, "3990", "vfio_ccw", MigrationProtocol.V2, "StopCopy"),
            (inspected.DeviceName, inspected.Kind, inspected.VendorId, inspected.DeviceId, inspected.Driver, inspected.Protocol, inspected.Capabilities));
    }

    /// <summary>
    /// The device record is read as a plain record always was: unknown and host-local fields ignored, a repeated
    /// field's last value kept, protocol and capabilities by name, and what is wrong reported by the header checks.
    /// </summary>
    [Theory]
    [InlineData("host-local-fields", "0000:3b:00.2|mlx5_vfio_pci|V2|StopCopy, P2P, PreCopy")]
    [InlineData("driver-twice", "0000:3b:00.2|vfio-pci|V2|StopCopy, P2P, PreCopy")]
    [InlineData("protocol-twice", "0000:3b:00.2|mlx5_vfio_pci|V1|StopCopy, P2P, PreCopy")]
    [InlineData("protocol-as-number", "0000:3b:00.2|mlx5_vfio_pci|V1|StopCopy, P2P, PreCopy")]
    [InlineData("protocol-other-case", "0000:3b:00.2|mlx5_vfio_pci|V2|StopCopy, P2P, PreCopy")]
    [InlineData("capabilities-missing", "0000:3b:00.2|mlx5_vfio_pci|V2|")]
    [InlineData("protocol-missing", "invalid: device.protocol")]
    [InlineData("capabilities-null", "invalid: device.capabilities")]
    [InlineData("protocol-null", "invalid: header")]
    [InlineData("vendor-number", "invalid: header")]
    [InlineData("device-array", "invalid: header")]
    [InlineData("device-string", "invalid: header")]
    public void TheDeviceRecordReadsBackAsAPlainRecord(string edit, string expected)
    {
        using var f = new ImageFixture();
        var pci = f.Host.Add(Sim.V2(address: "0000:3b:00.2", memory: 16 * 1024) with { Driver = "mlx5_vfio_pci", PciIdentity = new PciIdentity(0x15b3, 0x101e, 0x15b3, 0x0052, 0x020000) });
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(pci.Address, "a.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
        const string record = "\"device\":{";
        const string tail = "\"protocol\":\"V2\",\"capabilities\":\"StopCopy, P2P, PreCopy\"}";
        var edited = ImageSurgery.WithHeaderText(File.ReadAllBytes(f.PathFor("a.vfiostate")), json => Changed(json, edit switch
        {
            "host-local-fields" => json.Replace(record, record + "\"iommuGroup\":61,\"groupNode\":\"/dev/vfio/61\",\"isSimulated\":true,"),
            "driver-twice" => json.Replace("\"protocol\":", "\"driver\":\"vfio-pci\",\"protocol\":"),
            "protocol-twice" => json.Replace(tail, "\"protocol\":\"V2\",\"protocol\":\"V1\",\"capabilities\":\"StopCopy, P2P, PreCopy\"}"),
            "protocol-as-number" => json.Replace("\"protocol\":\"V2\"", "\"protocol\":1"),
            "protocol-other-case" => json.Replace(record, record + "\"Protocol\":\"V1\","),
            "capabilities-missing" => json.Replace(tail, "\"protocol\":\"V2\"}"),
            "protocol-missing" => json.Replace("\"protocol\":\"V2\",", ""),
            "capabilities-null" => json.Replace(tail, "\"protocol\":\"V2\",\"capabilities\":null}"),
            "protocol-null" => json.Replace("\"protocol\":\"V2\"", "\"protocol\":null"),
            "vendor-number" => json.Replace("\"vendorId\":\"15b3\"", "\"vendorId\":5555"),
            "device-array" => Regex.Replace(json, "\"device\":\\{[^}]*\\}", "\"device\":[]"),
            "device-string" => Regex.Replace(json, "\"device\":\\{[^}]*\\}", "\"device\":\"0000:3b:00.2\""),
            _ => throw new ArgumentOutOfRangeException(nameof(edit)),
        }));
        File.WriteAllBytes(f.PathFor("b.vfiostate"), edited);
        var image = StateImageInspector.Inspect(f.PathFor("b.vfiostate"), out var damage);
        string seen = image.IsValid
            ? $"{image.DeviceName}|{image.Driver}|{image.Protocol}|{image.Capabilities}"
            : $"invalid: {damage!.Field}";
        Assert.Equal(expected, seen);

        static string Changed(string before, string after)
        {
            Assert.NotEqual(before, after); // the edit found its place
            return after;
        }
    }
}
