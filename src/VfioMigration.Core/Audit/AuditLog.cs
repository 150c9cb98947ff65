using System.Text.Json;
using VfioMigration.Protocol;

namespace VfioMigration.Audit;

/// <summary>
/// An append-only JSON Lines file with one record per state change: time, user, device, from, to, arcs, result.
/// Created with mode 0600, since device addresses and timings are operational data.
/// </summary>
public sealed class AuditLog
{
    public const string EnvironmentVariable = "VFIO_MIGRATION_AUDIT_LOG";
    private static readonly object FileLock = new();

    public AuditLog(string path) => Path = System.IO.Path.GetFullPath(path);

    public string Path { get; }

    /// <summary>The audit log the environment asks for, or null.</summary>
    public static AuditLog? FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } p ? new AuditLog(p) : null;

    public void Record(string device, string? from, string to, IEnumerable<MigrationArc> arcs, string result, string? operation = null)
    {
        var line = JsonSerializer.Serialize(new AuditRecord(
            DateTimeOffset.UtcNow.ToString("O"), Environment.UserName, operation ?? "state-change", device, from, to,
            arcs.Select(a => a.ToString()).ToArray(), result));
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        lock (FileLock)
        {
            using var writer = new StreamWriter(new FileStream(Path, options));
            writer.WriteLine(line);
        }
    }

    private sealed record AuditRecord(string Time, string User, string Operation, string Device, string? From, string To, string[] Arcs, string Result);
}
