namespace VfioMigration.Logging;

/// <summary>How severe a log line is; the levels of Microsoft.Extensions.Logging, named in the core's own type (see <see cref="LogQueue"/>).</summary>
public enum LogSeverity
{
    Trace,
    Debug,
    Information,
    Warning,
    Error,
    Critical,
}
