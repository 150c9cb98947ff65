using System.Text;
using VfioMigration.Protocol;

namespace VfioMigration.Backends.Linux;

/// <summary>
/// VFIO's debugfs (drivers/vfio/debugfs.c): <c>vfio/DEVICE/migration/state</c> (6.8+: one line, RUNNING, STOP,
/// STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P, ERROR or Invalid; reading fails when the driver cannot
/// say) and <c>migration/features</c> (6.18+: a line each of stop-copy, p2p, pre-copy, dirty-tracking). DEVICE is
/// the parent device's name (a PCI address, an mdev UUID). Read without opening the device, so also while a VM
/// holds it; debugfs is root-only and Debian builds its kernels without CONFIG_VFIO_DEBUGFS.
/// </summary>
internal sealed class VfioDebugfs
{
    public const int MaxFileBytes = 256;
    private readonly string _root;

    public VfioDebugfs(string debugfsRoot = "/sys/kernel/debug") => _root = debugfsRoot;

    /// <summary>The state and features of a device, or why they cannot be read (one reason).</summary>
    public (MigrationState? State, string? Features, string? Problem) Read(string device)
    {
        if (device.Length == 0 || device.Contains('/') || device is "." or "..")
            return (null, null, $"'{device}' is not a device name debugfs could have");
        try
        {
            if (!Directory.Exists(_root) || !Directory.EnumerateFileSystemEntries(_root).Any())
                return (null, null, $"debugfs is not mounted at {_root}");
            string vfio = Path.Combine(_root, "vfio");
            if (!Directory.Exists(vfio))
                return (null, null, "the kernel has no VFIO debugfs (CONFIG_VFIO_DEBUGFS is not set, as in Debian's kernels; it came in 6.8)");
            string dir = Path.Combine(vfio, device);
            if (!Directory.Exists(dir)) return (null, null, $"VFIO's debugfs has no entry for {device}");
            string migration = Path.Combine(dir, "migration");
            if (!Directory.Exists(migration)) return (null, null, "VFIO's debugfs shows no migration for the device (its driver has none)");
            var (state, stateProblem) = ParseState(BoundedFile.Read(Path.Combine(migration, "state"), MaxFileBytes).Bytes);
            string? features = null;
            string featuresFile = Path.Combine(migration, "features");
            if (File.Exists(featuresFile)) features = ParseFeatures(BoundedFile.Read(featuresFile, MaxFileBytes).Bytes);
            return (state, features, stateProblem);
        }
        catch (UnauthorizedAccessException)
        {
            return (null, null, $"{_root} may not be read (debugfs is root-only)");
        }
        catch (IOException e)
        {
            return (null, null, $"reading VFIO's debugfs failed: {e.Message}");
        }
    }

    /// <summary>The state a <c>migration/state</c> text names, or why it names none.</summary>
    internal static (MigrationState? State, string? Problem) ParseState(ReadOnlySpan<byte> text)
    {
        string s = Encoding.UTF8.GetString(text).TrimEnd('\n');
        MigrationState? state = s switch
        {
            "ERROR" => MigrationState.Error,
            "STOP" => MigrationState.Stop,
            "RUNNING" => MigrationState.Running,
            "STOP_COPY" => MigrationState.StopCopy,
            "RESUMING" => MigrationState.Resuming,
            "RUNNING_P2P" => MigrationState.RunningP2P,
            "PRE_COPY" => MigrationState.PreCopy,
            "PRE_COPY_P2P" => MigrationState.PreCopyP2P,
            _ => null,
        };
        if (state is not null) return (state, null);
        string shown = s.Length > 32 ? s[..32] + "…" : s;
        return (null, s == "Invalid" ? "the driver reported a state debugfs does not know (Invalid)" : $"VFIO's debugfs shows '{Printable(shown)}', not a migration state");
    }

    /// <summary>The known feature words of a <c>migration/features</c> text, comma-separated; unknown lines are kept, quoted.</summary>
    internal static string ParseFeatures(ReadOnlySpan<byte> text)
    {
        var words = Encoding.UTF8.GetString(text).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Take(8).Select(w => w is "stop-copy" or "p2p" or "pre-copy" or "dirty-tracking" ? w : $"'{Printable(w.Length > 32 ? w[..32] : w)}'");
        return string.Join(", ", words);
    }

    /// <summary>The capabilities a features text names; debugfs has a migration/ directory only for v2 devices.</summary>
    internal static MigrationCapabilities CapabilitiesOf(string features)
    {
        var c = MigrationCapabilities.None;
        foreach (var w in features.Split(", "))
            c |= w switch { "stop-copy" => MigrationCapabilities.StopCopy, "p2p" => MigrationCapabilities.P2P, "pre-copy" => MigrationCapabilities.PreCopy, _ => MigrationCapabilities.None };
        return c;
    }

    private static string Printable(string s) => new(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
