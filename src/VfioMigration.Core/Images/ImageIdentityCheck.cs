namespace VfioMigration.Images;

/// <summary>
/// Whether an image fits a target device: the device record in the image against the record a save of the target
/// would write (<see cref="ImageDevice.From"/>). Same kind, vendor and device id, driver and protocol; a
/// different address is the normal case. <see cref="Mismatch"/> returns the first mismatching field and both values, or null; <see cref="Mismatches"/> every one.
/// </summary>
internal static class ImageIdentityCheck
{
    public static (string Field, string? Image, string? Device)? Mismatch(ImageDevice image, ImageDevice target) =>
        Mismatches(image, target).Cast<(string, string?, string?)?>().FirstOrDefault();

    /// <summary>Every mismatching field with both values, in the order above; empty when the image fits.</summary>
    public static IReadOnlyList<(string Field, string? Image, string? Device)> Mismatches(ImageDevice image, ImageDevice target)
    {
        DeviceIdentity a = image.Identity, b = target.Identity;
        var found = new List<(string, string?, string?)>();
        if (a.Kind != b.Kind) found.Add(("kind", a.Kind.ToString(), b.Kind.ToString()));
        if (!Same(a.VendorId, b.VendorId)) found.Add(("vendorId", a.VendorId, b.VendorId));
        if (!Same(a.DeviceId, b.DeviceId)) found.Add(("deviceId", a.DeviceId, b.DeviceId));
        if (!Same(a.Driver, b.Driver)) found.Add(("driver", a.Driver, b.Driver));
        if (image.Protocol != target.Protocol) found.Add(("protocol", image.Protocol.ToString(), target.Protocol.ToString()));
        return found;
    }

    private static bool Same(string? a, string? b) => string.Equals(a ?? "", b ?? "", StringComparison.OrdinalIgnoreCase);
}
