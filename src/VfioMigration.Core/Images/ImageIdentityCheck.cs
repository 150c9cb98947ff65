namespace VfioMigration.Images;

/// <summary>
/// Whether an image fits a target device: the device record in the image against the record a save of the target
/// would write (<see cref="ImageDevice.From"/>). Same kind, vendor and device id, driver and protocol; a
/// different address is the normal case. Returns the first mismatching field and both values, or null.
/// </summary>
public static class ImageIdentityCheck
{
    public static (string Field, string? Image, string? Device)? Mismatch(ImageDevice image, ImageDevice target)
    {
        DeviceIdentity a = image.Identity, b = target.Identity;
        if (a.Kind != b.Kind) return ("kind", a.Kind.ToString(), b.Kind.ToString());
        if (!Same(a.VendorId, b.VendorId)) return ("vendorId", a.VendorId, b.VendorId);
        if (!Same(a.DeviceId, b.DeviceId)) return ("deviceId", a.DeviceId, b.DeviceId);
        if (!Same(a.Driver, b.Driver)) return ("driver", a.Driver, b.Driver);
        if (image.Protocol != target.Protocol) return ("protocol", image.Protocol.ToString(), target.Protocol.ToString());
        return null;
    }

    private static bool Same(string? a, string? b) => string.Equals(a ?? "", b ?? "", StringComparison.OrdinalIgnoreCase);
}
