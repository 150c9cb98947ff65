using System.Text;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// A process's /proc/PID/cmdline (arguments, each ended by NUL) and what it says about a VM: QEMU's <c>-name</c>
/// option, in its plain form (<c>-name web1</c>), with suboptions (<c>-name web1,debug-threads=on</c>) and as
/// libvirt writes it (<c>-name guest=web1,debug-threads=on</c>); a comma in the name is doubled (QemuOpts).
/// </summary>
internal static class ProcessCommandLine
{
    /// <summary>The most arguments kept; a longer command line is cut (the VM name comes early in QEMU's).</summary>
    public const int MaxArguments = 4096;

    /// <summary>The arguments; invalid UTF-8 becomes U+FFFD; an empty file (a kernel thread, a zombie) gives none.</summary>
    public static string[] Arguments(ReadOnlySpan<byte> cmdline)
    {
        var args = new List<string>();
        while (!cmdline.IsEmpty && args.Count < MaxArguments)
        {
            int end = cmdline.IndexOf((byte)0);
            var arg = end < 0 ? cmdline : cmdline[..end];
            args.Add(Encoding.UTF8.GetString(arg));
            if (end < 0) break;
            cmdline = cmdline[(end + 1)..];
        }
        return args.ToArray();
    }

    /// <summary>Whether the process is a QEMU system emulator (qemu-system-*, qemu-kvm), by its command or argv[0].</summary>
    public static bool IsQemu(string command, IReadOnlyList<string> args)
    {
        static bool Qemu(string name) => name.StartsWith("qemu-system", StringComparison.Ordinal) || name.StartsWith("qemu-kvm", StringComparison.Ordinal);
        return Qemu(command) || (args.Count > 0 && Qemu(Path.GetFileName(args[0])));
    }

    /// <summary>The VM name of a QEMU command line (<c>-name</c> or <c>--name</c>); null when there is none or it is empty.</summary>
    public static string? VmName(IReadOnlyList<string> args)
    {
        for (int i = 1; i < args.Count - 1; i++)
            if (args[i] is "-name" or "--name") return GuestName(args[i + 1]);
        return null;
    }

    /// <summary>The guest name in a -name value: the first element without '=' or the value of guest=.</summary>
    internal static string? GuestName(string value)
    {
        bool first = true;
        foreach (var element in SplitOptions(value))
        {
            if (element.StartsWith("guest=", StringComparison.Ordinal)) return Nonempty(element["guest=".Length..]);
            if (first && !element.Contains('=')) return Nonempty(element);
            first = false;
        }
        return null;
    }

    private static string? Nonempty(string s) => s.Length == 0 ? null : s;

    /// <summary>Splits QemuOpts text at single commas; ",," is a literal comma.</summary>
    private static IEnumerable<string> SplitOptions(string value)
    {
        var current = new StringBuilder();
        for (int i = 0; i < value.Length; i++)
        {
            if (value[i] != ',') { current.Append(value[i]); continue; }
            if (i + 1 < value.Length && value[i + 1] == ',') { current.Append(','); i++; continue; }
            yield return current.ToString();
            current.Clear();
        }
        yield return current.ToString();
    }
}
