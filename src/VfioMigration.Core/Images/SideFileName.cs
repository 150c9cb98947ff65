using System.IO.Hashing;
using System.Text;

namespace VfioMigration.Images;

/// <summary>
/// Names of the files a save keeps beside its image (the temporary <c>.&lt;name&gt;.&lt;32 hex&gt;.partial</c>, the
/// lock <c>.&lt;name&gt;.lock</c>) within the kernel's limit for one path component, NAME_MAX = 255 bytes
/// (include/uapi/linux/limits.h). An image name that leaves no room for the extra bytes is shortened in those
/// names only: its first bytes (cut at a whole character) and <c>~</c> with the XXH64 of the whole name, so two
/// long names that share a beginning still get their own lock. The image itself keeps the name it was given.
/// </summary>
internal static class SideFileName
{
    public const int NameMax = 255;

    /// <summary>The part of the side file's name that stands for <paramref name="name"/>, when a leading dot and <paramref name="suffixBytes"/> more bytes follow.</summary>
    public static string Stem(string name, int suffixBytes)
    {
        int budget = NameMax - 1 - suffixBytes;
        if (Encoding.UTF8.GetByteCount(name) <= budget) return name;
        string tag = "~" + XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(name)).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        int keep = budget - tag.Length, used = 0;
        var stem = new StringBuilder();
        foreach (var rune in name.EnumerateRunes())
        {
            if (used + rune.Utf8SequenceLength > keep) break;
            stem.Append(rune.ToString());
            used += rune.Utf8SequenceLength;
        }
        return stem.Append(tag).ToString();
    }
}
