using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

#pragma warning disable CA1416 // Linux only, as the module

namespace VfioMigration.Tests;

/// <summary>The audit log never changes an outcome, never follows a link, and is private.</summary>
public class AuditLogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vfio-audit-").FullName;
    private readonly SimulatedHost _host = new();
    private readonly SimulatedDevice _device;

    public AuditLogTests() => _device = _host.Add(Sim.V2(memory: 64 * 1024));

    private VfioHostSession Session(string log) => new(new SimulatedBackend(_host), audit: new AuditLog(log));

    private string P(string name) => Path.Combine(_dir, name);

    public static TheoryData<string, string> BadLogs => new()
    {
        { "missing-directory", "AuditLogUnavailable" },
        { "directory", "AuditLogUnavailable" },
        { "dev-full", "AuditLogUnavailable" },
        { "fifo", "AuditLogUnavailable" },
        { "symlink", "AuditLogUnsafe" },
        { "mode-0644", "AuditLogUnsafe" },
        { "other-owner", "AuditLogUnsafe" },
    };

    private string Prepare(string kind)
    {
        var log = P("audit.jsonl");
        switch (kind)
        {
            case "missing-directory": return P("no/such/dir/audit.jsonl");
            case "directory": Directory.CreateDirectory(log); break;
            case "dev-full": return "/dev/full";
            case "fifo": Assert.Equal(0, Tmpfs.Run("mkfifo", log).Rc); break;
            case "symlink": File.WriteAllText(P("victim"), "untouched"); File.CreateSymbolicLink(log, P("victim")); break;
            case "mode-0644": File.WriteAllText(log, ""); File.SetUnixFileMode(log, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead); break;
            case "other-owner":
                File.WriteAllText(log, "");
                File.SetUnixFileMode(log, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                Assert.Equal(0, Tmpfs.Run("chown", "65534", log).Rc);
                break;
        }
        return log;
    }

    [SkippableTheory]
    [MemberData(nameof(BadLogs))]
    public void AnUnwritableOrUnsafeLogIsAClearErrorBeforeAnyDeviceIsTouched(string kind, string errorId)
    {
        Skip.If(kind == "other-owner" && Environment.UserName != "root", "chown needs root");
        using var session = Session(Prepare(kind));
        var save = Assert.Single(session.Save(new[] { new SaveTarget(session.Migration(_device.Address), session.Describe(_device.Address), P("a.vfiostate")) }, new SaveOptions(), false, false));
        Assert.Equal(errorId, save.Error!.ErrorId);
        Assert.Contains("was not touched and is in Running", save.Error.Message);
        Assert.False(File.Exists(P("a.vfiostate")));
        var change = Assert.Single(session.Execute(session.PlanStates(new[] { _device.Address }, MigrationState.Stop, false)));
        Assert.Equal(errorId, change.Error!.ErrorId);
        Assert.Equal(errorId, Assert.Throws<VfioMigrationException>(() => session.Reset(_device.Address)).ErrorId);
        Assert.Empty(_device.ArcHistory);
        Assert.Equal(MigrationState.Running, _device.MigrationState);
        if (kind == "symlink") Assert.Equal("untouched", File.ReadAllText(P("victim")));
    }

    [Fact]
    public void ALineKeepsPlusAndTextReadableAndEveryControlOrBidiCharacterEscaped()
    {
        // The default encoder wrote a time's '+00:00' as '\u002B00:00', so grep '+00:00' found nothing.
        var log = P("audit.jsonl");
        string device = "0000:3b:00.2 \u001B[31mred\u0007 \u007F\u0085 \u202Eevil\u2066 \u2028é";
        string result = "failed: <a> & 'b' + \"c\" \\ \t\r\n";
        Assert.Null(new AuditLog(log).Record(device, true, "Running", "Stop", [new MigrationArc(MigrationState.Running, MigrationState.Stop)], result));
        string text = File.ReadAllText(log);
        Assert.Matches(@"""Time"":""[0-9T:.-]+\+00:00""", text);
        Assert.Contains("<a> & 'b' + ", text);
        Assert.Contains("é", text);
        Assert.EndsWith("}\n", text);
        var line = text[..^1];
        Assert.DoesNotContain(line, DisplayText.NeedsEscape);
        Assert.DoesNotContain(line, c => c is '\u2028' or '\u2029');
        foreach (var escaped in new[] { @"\u001B", @"\u0007", @"\u007F", @"\u0085", @"\u202E", @"\u2066", @"\u2028", @"\t", @"\r", @"\n" })
            Assert.Contains(escaped, line);
        using var json = System.Text.Json.JsonDocument.Parse(line);
        Assert.Equal(device, json.RootElement.GetProperty("Device").GetString());
        Assert.Equal(result, json.RootElement.GetProperty("Result").GetString());
    }

    [Fact]
    public void ANewLogIsPrivateAndGetsOneLinePerOperation()
    {
        using var session = Session(P("audit.jsonl"));
        Assert.All(session.Execute(session.PlanStates(new[] { _device.Address }, MigrationState.Stop, false)), o => Assert.Null(o.Error));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("audit.jsonl")));
        Assert.Single(File.ReadAllLines(P("audit.jsonl")));
    }

    [SkippableFact]
    public void ALogThatCannotBeWrittenAfterTheOperationIsAWarningAndTheOutcomeStands()
    {
        using var fs = Tmpfs.Mount("size=64k", out var why);
        Skip.If(fs is null, why);
        var log = Path.Combine(fs!.Path, "audit.jsonl");
        File.WriteAllText(log, "");
        File.SetUnixFileMode(log, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try { File.WriteAllBytes(Path.Combine(fs.Path, "filler"), new byte[128 * 1024]); } catch (IOException) { /* the disk is now full */ }
        var logs = new CapturingLoggers();
        using var session = new VfioHostSession(new SimulatedBackend(_host), logs, new AuditLog(log));
        var save = Assert.Single(session.Save(new[] { new SaveTarget(session.Migration(_device.Address), session.Describe(_device.Address), P("a.vfiostate")) }, new SaveOptions(), false, false));
        Assert.True(save.Succeeded, save.Error?.Message);
        Assert.True(File.Exists(P("a.vfiostate")));
        Assert.Contains(logs.Warnings, w => w.Contains("not recorded in the audit log", StringComparison.Ordinal) && w.Contains("ENOSPC", StringComparison.Ordinal));
    }

    [Fact]
    public void EachRecordSaysWhetherTheDeviceWasSimulatedAndWhichProcessChangedIt()
    {
        using (var session = Session(P("audit.jsonl")))
            Assert.All(session.Execute(session.PlanStates(new[] { _device.Address }, MigrationState.Stop, false)), o => Assert.Null(o.Error));
        using var record = System.Text.Json.JsonDocument.Parse(Assert.Single(File.ReadAllLines(P("audit.jsonl"))));
        var root = record.RootElement;
        Assert.True(root.GetProperty("Simulated").GetBoolean());
        var process = root.GetProperty("Process");
        Assert.Equal(Environment.ProcessId, process.GetProperty("Pid").GetInt32());
        string command = process.GetProperty("Command").GetString()!;
        Assert.Contains(Path.GetFileName(Environment.GetCommandLineArgs()[0]), command, StringComparison.Ordinal);
        Assert.InRange(command.Length, 1, 512);
    }

    public void Dispose()
    {
        Directory.Delete(_dir, recursive: true);
        GC.SuppressFinalize(this);
    }

    private sealed class CapturingLoggers : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Warnings { get; } = new();
        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider) { }
        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;
        public void Dispose() { }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == Microsoft.Extensions.Logging.LogLevel.Warning) lock (Warnings) Warnings.Add(formatter(state, exception));
        }
    }
}
