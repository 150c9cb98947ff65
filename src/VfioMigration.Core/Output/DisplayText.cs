using System.Globalization;
using System.Text;

namespace VfioMigration;

/// <summary>
/// Text from outside (an image's header, a device name as typed) made safe to show on a terminal: every control
/// character (C0, DEL, C1: the bytes that start terminal escape sequences, move the cursor or end a line) and every
/// bidirectional formatting character (which reorders what the reader sees) becomes a visible <c>\u001B</c>-style
/// escape, so a crafted image cannot clear the screen, rewrite earlier lines or disguise a name. Other text is
/// returned as it is.
/// </summary>
public static class DisplayText
{
    /// <summary>Whether <paramref name="c"/> is escaped by <see cref="Escape"/>.</summary>
    public static bool NeedsEscape(char c) =>
        char.IsControl(c) || c is '\u061C' or '\u200E' or '\u200F' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');

    /// <summary><paramref name="text"/> with every character <see cref="NeedsEscape"/> names written as <c>\uXXXX</c>.</summary>
    public static string Escape(string text)
    {
        if (!text.Any(NeedsEscape)) return text;
        var sb = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (NeedsEscape(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
