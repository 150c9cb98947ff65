using VfioMigration.Images;

namespace VfioMigration.Sources;

/// <summary>
/// The restore's one seam: one device's saved state, wherever it is kept. An image file and a QEMU stream's VFIO
/// section are two sources of the same thing: device data bytes, and what is known of the device they came from.
/// A source is verified whole when it is opened (<see cref="DeviceStateSources.Open"/>), before any device is
/// touched; <see cref="Feed"/> reads the bytes again and fails if they are not the ones verified. Each format lives
/// in its own folder (Images/, Qemu/, Libvirt/); a new format adds its folder and one adapter here.
/// </summary>
internal interface IDeviceStateSource
{
    /// <summary>The file, full path.</summary>
    string Path { get; }
    /// <summary>The verified source as the module shows it.</summary>
    VfioStateImage Description { get; }
    /// <summary>The protocol of the device the bytes came from (a QEMU section: v2, QEMU 8.0+ speaks no other).</summary>
    Protocol.MigrationProtocol Protocol { get; }
    /// <summary>Every identity field that differs from <paramref name="target"/> (field, saved value, device value); empty when it fits.</summary>
    IReadOnlyList<(string Field, string? Saved, string? Device)> Mismatches(VfioDevice target);
    /// <summary>Writes the device bytes, in order, into <paramref name="sink"/>; throws if the file changed since it was verified.</summary>
    void Feed(ChunkHandler sink, CancellationToken cancellationToken);
}
