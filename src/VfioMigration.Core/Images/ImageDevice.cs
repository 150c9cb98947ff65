using System.Text.Json.Serialization;
using VfioMigration.Protocol;

namespace VfioMigration.Images;

/// <summary>
/// The source device as an image records it: its identity (the fields of <see cref="DeviceIdentity"/> that hold
/// on any host) and what its driver reported at save time. On disk one flat JSON object, identity first
/// (docs/image-format.md, Header); <see cref="ImageDeviceJson"/> writes and reads it.
/// </summary>
[JsonConverter(typeof(ImageDeviceJson))]
public sealed record ImageDevice(DeviceIdentity Identity, MigrationProtocol Protocol, string Capabilities)
{
    /// <summary>The one place a device's identity goes into an image: the record a save of it writes.</summary>
    public static ImageDevice From(VfioDevice device) => new(device.Identity, device.Protocol, device.Capabilities.ToString());
}
