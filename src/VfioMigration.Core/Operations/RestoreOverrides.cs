namespace VfioMigration.Operations;

/// <summary>
/// The checks of a restore that a caller may knowingly override, each on its own. The checksum, the format
/// version and the protocol are never overridable: a damaged stream or a v1 stream on a v2 device means nothing.
/// </summary>
[Flags]
public enum RestoreOverrides
{
    None = 0,
    /// <summary>Restore although the image's identity (kind, vendor/device id, driver) differs from the device's.</summary>
    Identity = 1,
    /// <summary>Restore part of a saved set, or its images onto devices in another order than saved.</summary>
    SetMembership = 2,
}
