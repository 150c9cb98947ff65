using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using VfioMigration.Images;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// An append-only JSON Lines file with one record per state change, save, restore and reset: time, user, the
/// process (pid, command line), operation, device, whether it is simulated, from, to, arcs, result. The log never changes an outcome: <see cref="EnsureWritable"/> is asked before
/// any device is touched (errors <c>AuditLogUnavailable</c>, <c>AuditLogUnsafe</c>), and a record that cannot be
/// written afterwards is returned as a warning. The file is opened with O_NOFOLLOW | O_APPEND (a symlink is
/// refused, not followed), created with mode 0600, and an existing file must be a regular file of the caller's
/// with no group or other permission bits, since device addresses and timings are operational data.
/// </summary>
public sealed class AuditLog
{
    public const string EnvironmentVariable = "VFIO_MIGRATION_AUDIT_LOG";
    private static readonly object FileLock = new();

    public AuditLog(string path) => Path = path.Contains('\0') ? path : System.IO.Path.GetFullPath(path);

    public string Path { get; }

    /// <summary>The audit log the environment asks for, or null.</summary>
    public static AuditLog? FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } p ? new AuditLog(p) : null;

    /// <summary>Opens (creating) the log and checks it, then closes it; throws what a record would hit.</summary>
    public void EnsureWritable()
    {
        lock (FileLock) PosixFile.CloseQuietly(OpenChecked());
    }

    /// <summary>The longest command line a record keeps (characters); a longer one is cut and ends in "…".</summary>
    public const int MaxCommandLength = 256;

    // Which process changed the device: its id, and its command line (for pwsh, the script or command it ran).
    private static readonly AuditProcess ThisProcess = new(Environment.ProcessId, CommandLine());

    private static string CommandLine()
    {
        string line = string.Join(' ', Environment.GetCommandLineArgs());
        return line.Length <= MaxCommandLength ? line : line[..(MaxCommandLength - 1)] + "…";
    }

    /// <summary>
    /// Appends one record; null, or why it could not be written (a warning: the operation itself stands).
    /// <paramref name="simulated"/>: whether the device is one of the simulator's (a record of a real device and
    /// one of a simulated device with the same address must not be confused).
    /// </summary>
    public string? Record(string device, bool simulated, string? from, string to, IEnumerable<MigrationArc> arcs, string result, string? operation = null)
    {
        var line = DisplayText.Escape(JsonSerializer.Serialize(new AuditRecord(
            DateTimeOffset.UtcNow.ToString("O"), Environment.UserName, ThisProcess, operation ?? "state-change", device, simulated, from, to,
            arcs.Select(a => a.ToString()).ToArray(), result), LineOptions)) + "\n";
        lock (FileLock)
        {
            int fd = -1;
            try
            {
                fd = OpenChecked();
                int rc = PosixFile.WriteAll(fd, Encoding.UTF8.GetBytes(line), 0 /* O_APPEND: at the end whatever the offset */);
                if (rc != 0) throw FileSystemError.From(rc, Path, "appending to the audit log", writing: true);
                return null;
            }
            catch (VfioMigrationException e)
            {
                return $"{device}: the {operation ?? "state-change"} was not recorded in the audit log: {e.Message}";
            }
            finally
            {
                PosixFile.CloseQuietly(fd);
            }
        }
    }

    private int OpenChecked()
    {
        if (Path.Contains('\0'))
            throw new VfioMigrationException($"The audit log path {EnvironmentVariable}='{Path.Replace("\0", "\\0", StringComparison.Ordinal)}' contains a NUL character.", VfioErrors.AuditLogUnavailable);
        int fd = PosixFile.Open(Path, PosixFile.OWrOnly | PosixFile.OAppend | PosixFile.OCreat | PosixFile.ONoFollow | PosixFile.ONonBlock | PosixFile.ONoCtty, 0x180 /* 0600 */);
        if (fd < 0)
        {
            int errno = -fd;
            string why = errno == PosixFile.ELOOP ? "it is a symbolic link, which the audit log never follows" : $"{System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)} ({FileSystemError.Name(errno)})";
            throw new VfioMigrationException($"The audit log {Path} ({EnvironmentVariable}) cannot be written: {why}. Nothing was changed; fix or unset {EnvironmentVariable}.",
                errno == PosixFile.ELOOP ? VfioErrors.AuditLogUnsafe : VfioErrors.AuditLogUnavailable);
        }
        int rc = PosixFile.Fstat(fd, out var st);
        string? problem = rc != 0 ? $"it cannot be examined ({FileSystemError.Name(rc)})"
            : st.Type != PosixFile.FileType.Regular ? $"it is {PosixFile.Describe(st.Type)}, not a regular file"
            : st.Uid != PosixFile.EffectiveUid ? $"it belongs to uid {st.Uid}, not to this user (uid {PosixFile.EffectiveUid})"
            : (st.Mode & 0x3F) != 0 ? $"its mode is {Convert.ToString(st.Mode & 0x1FF, 8).PadLeft(4, '0')}; group and others must have no access (chmod 600)"
            : null;
        if (problem is null) return fd;
        PosixFile.CloseQuietly(fd);
        throw new VfioMigrationException($"The audit log {Path} ({EnvironmentVariable}) is refused: {problem}. Nothing was changed.",
            st.Type != PosixFile.FileType.Regular && rc == 0 ? VfioErrors.AuditLogUnavailable : VfioErrors.AuditLogUnsafe);
    }

    /// <summary>
    /// A line people grep: '+' of a time zone, '&lt;', '&amp;', non-ASCII as they are (the default encoder wrote
    /// <c>\u002B</c>). The relaxed encoder still escapes every control character (C0, DEL, C1) and U+2028/2029;
    /// the bidirectional formatting characters it lets through are escaped after it (DisplayText.Escape: JSON's
    /// structure is ASCII, so they can only stand inside strings, where <c>\uXXXX</c> means the same).
    /// </summary>
    private static readonly JsonSerializerOptions LineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private sealed record AuditRecord(string Time, string User, AuditProcess Process, string Operation, string Device, bool Simulated, string? From, string To, string[] Arcs, string Result);

    private sealed record AuditProcess(int Pid, string Command);
}
