namespace VfioMigration.Images;

/// <summary>
/// Whether an image fits a target device: same kind, vendor and device id, driver and protocol. A different
/// address is the normal case. Returns the first mismatching field and both values, or null.
/// </summary>
public static class ImageIdentityCheck
{
    public static (string Field, string? Image, string? Device)? Mismatch(ImageDevice image, VfioDevice target)
    {
        if (image.Kind != target.Kind) return ("kind", image.Kind.ToString(), target.Kind.ToString());
        if (!Same(image.VendorId, target.VendorId)) return ("vendorId", image.VendorId, target.VendorId);
        if (!Same(image.DeviceId, target.DeviceId)) return ("deviceId", image.DeviceId, target.DeviceId);
        if (!Same(image.Driver, target.Driver)) return ("driver", image.Driver, target.Driver);
        if (image.Protocol != target.Protocol) return ("protocol", image.Protocol.ToString(), target.Protocol.ToString());
        return null;
    }

    private static bool Same(string? a, string? b) => string.Equals(a ?? "", b ?? "", StringComparison.OrdinalIgnoreCase);
}
