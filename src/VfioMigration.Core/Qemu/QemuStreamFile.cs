using VfioMigration.Images;

namespace VfioMigration.Qemu;

/// <summary>A QEMU stream written straight to a file (<c>migrate file:</c>, <c>exec:cat &gt; f</c>): regular files only, read from offset 0.</summary>
internal static class QemuStreamFile
{
    /// <summary>Whether the first bytes are QEMU's magic.</summary>
    public static bool Is(ReadOnlySpan<byte> prefix) => prefix.Length >= 4 && prefix[..4].SequenceEqual("QEVM"u8);

    public static QemuStreamInput Input(string fullPath, long length) => new()
    {
        Path = fullPath,
        Open = () => ImageFile.OpenRead(fullPath, (int)Math.Clamp(length, 4096, ImageFile.ReadBufferSize)),
    };
}
