using System.Globalization;
using System.Text;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// Who holds VFIO devices, read from /proc without opening any device: every process's fd links to
/// <c>/dev/vfio/N</c> (a group), <c>/dev/vfio/devices/vfioN</c> (a cdev) or a VFIO device fd, and for those the
/// <c>vfio-device-syspath</c> line of <c>/proc/PID/fdinfo/FD</c> (kernel 6.18+; drivers/vfio/vfio_main.c
/// vfio_device_show_fdinfo). Every read is bounded; a process that vanishes or whose fds may not be read (another
/// user's, without root) is skipped and counted.
/// </summary>
internal sealed class ProcessHolders
{
    public const int MaxProcesses = 1 << 16;
    public const int MaxFdsPerProcess = 1 << 16;
    public const int MaxFdinfoBytes = 4096;
    public const int MaxCmdlineBytes = 128 * 1024;
    public const int MaxCommBytes = 64;
    private const string SyspathKey = "vfio-device-syspath:";

    private readonly string _proc;

    public ProcessHolders(string procRoot = "/proc") => _proc = procRoot;

    /// <summary>One fd of a process that is a VFIO group, cdev or device fd.</summary>
    internal sealed record HeldFd(int Pid, string Link, int? Group, string? Cdev, string? SysPath);

    /// <summary>A process's VFIO fds, its command and VM name.</summary>
    internal sealed record Process(int Pid, string Command, string? VmName, IReadOnlyList<HeldFd> Fds);

    /// <summary>Every process holding VFIO fds, and how many processes could not be read.</summary>
    public (IReadOnlyList<Process> Processes, int Unreadable) Scan()
    {
        var found = new List<Process>();
        int unreadable = 0, seen = 0;
        string[] dirs;
        // Listed at once: processes come and go while they are read.
        try { dirs = Directory.GetDirectories(_proc); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return (found, 1); }
        foreach (var dir in dirs)
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            if (++seen > MaxProcesses) break;
            try
            {
                var fds = VfioFds(dir, pid);
                if (fds.Count == 0) continue;
                string command = Comm(dir);
                var args = ProcessCommandLine.Arguments(ReadOrEmpty(Path.Combine(dir, "cmdline"), MaxCmdlineBytes));
                string? vm = ProcessCommandLine.IsQemu(command, args) ? ProcessCommandLine.VmName(args) : null;
                // Any user names their own process (prctl PR_SET_NAME) and VM: text for root's terminal, escaped.
                found.Add(new Process(pid, DisplayText.Escape(command), vm is null ? null : DisplayText.Escape(vm), fds));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                unreadable++; // gone meanwhile, or not ours to read
            }
        }
        return (found, unreadable);
    }

    private List<HeldFd> VfioFds(string dir, int pid)
    {
        var held = new List<HeldFd>();
        int n = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(dir, "fd")))
        {
            if (++n > MaxFdsPerProcess) break;
            string? link;
            try { link = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; }
            if (link is null) continue;
            var (group, cdev, deviceFd) = Classify(link);
            if (group is null && cdev is null && !deviceFd) continue;
            string? sysPath = null;
            try { sysPath = SysPath(BoundedFile.Read(Path.Combine(dir, "fdinfo", Path.GetFileName(fd)), MaxFdinfoBytes).Bytes); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* fdinfo is optional evidence */ }
            held.Add(new HeldFd(pid, link, group, cdev, sysPath));
        }
        return held;
    }

    /// <summary>What an fd link names: a group node (its number), a device cdev (vfioN), or a VFIO device fd.</summary>
    internal static (int? Group, string? Cdev, bool DeviceFd) Classify(string link)
    {
        const string groups = "/dev/vfio/", cdevs = "/dev/vfio/devices/";
        if (link == "anon_inode:[vfio-device]") return (null, null, true);
        if (link.StartsWith(cdevs, StringComparison.Ordinal))
        {
            string name = link[cdevs.Length..];
            return name.StartsWith("vfio", StringComparison.Ordinal) && IsNumber(name.AsSpan(4)) ? (null, name, false) : (null, null, false);
        }
        if (link.StartsWith(groups, StringComparison.Ordinal))
        {
            var name = link.AsSpan(groups.Length);
            if (name.StartsWith("noiommu-")) name = name["noiommu-".Length..];
            if (IsNumber(name) && int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int g)) return (g, null, false);
        }
        return (null, null, false);
    }

    private static bool IsNumber(ReadOnlySpan<char> s) => s.Length is > 0 and <= 9 && !s.ContainsAnyExceptInRange('0', '9');

    /// <summary>
    /// The <c>vfio-device-syspath</c> of an fdinfo text; null when there is none, it is not a /sys path, or its line
    /// is not ended (cut by the read bound: a cut path would name another device).
    /// </summary>
    internal static string? SysPath(ReadOnlySpan<byte> fdinfo)
    {
        var lines = Encoding.UTF8.GetString(fdinfo).Split('\n');
        foreach (var line in lines.AsSpan(0, lines.Length - 1))
        {
            if (!line.StartsWith(SyspathKey, StringComparison.Ordinal)) continue;
            string path = line[SyspathKey.Length..].Trim();
            return path.StartsWith("/sys/", StringComparison.Ordinal) && !path.Contains('\0') ? path.TrimEnd('/') : null;
        }
        return null;
    }

    /// <summary>The device name a syspath ends in (a PCI address, an mdev UUID).</summary>
    internal static string DeviceName(string sysPath) => sysPath[(sysPath.LastIndexOf('/') + 1)..];

    private static string Comm(string dir)
    {
        var bytes = ReadOrEmpty(Path.Combine(dir, "comm"), MaxCommBytes);
        string comm = Encoding.UTF8.GetString(bytes).TrimEnd('\n', '\0');
        return comm.Length == 0 ? "?" : comm;
    }

    private static byte[] ReadOrEmpty(string path, int limit)
    {
        try { return BoundedFile.Read(path, limit).Bytes; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Array.Empty<byte>(); }
    }
}
