namespace VfioMigration.Logging;

/// <summary>One line of the core's log: its severity, its event's name (a <see cref="CoreLog"/> method's, or null), and its text.</summary>
public readonly record struct LogEntry(LogSeverity Severity, string? EventName, string Message);
