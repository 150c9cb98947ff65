using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace VfioMigration.Logging;

/// <summary>
/// The core's log, queued for a reader on another thread (the module drains it on the pipeline thread, where
/// Write* works; the core may log from any thread). Bounded at 10,000 entries: a runaway producer must not grow
/// memory while nothing drains it. Its public surface uses only the core's own types, so the module never binds
/// to Microsoft.Extensions.Logging itself: those assemblies stay in the core's load context (src/VfioMigration.Loader).
/// </summary>
public sealed class LogQueue
{
    private const int Capacity = 10_000;
    private readonly ConcurrentQueue<LogEntry> _queue = new();

    public LogQueue() => Loggers = new QueueLoggerFactory(this);

    /// <summary>The factory the core's operations log through.</summary>
    internal ILoggerFactory Loggers { get; }

    /// <summary>The oldest entry not yet read, if any.</summary>
    public bool TryDequeue(out LogEntry entry) => _queue.TryDequeue(out entry!);

    private void Add(LogLevel level, string? eventName, string message)
    {
        if (_queue.Count < Capacity) _queue.Enqueue(new LogEntry(SeverityOf(level), eventName, message));
    }

    private static LogSeverity SeverityOf(LogLevel level) => level switch
    {
        LogLevel.Trace => LogSeverity.Trace,
        LogLevel.Debug => LogSeverity.Debug,
        LogLevel.Information => LogSeverity.Information,
        LogLevel.Warning => LogSeverity.Warning,
        LogLevel.Error => LogSeverity.Error,
        _ => LogSeverity.Critical,
    };

    private sealed class QueueLoggerFactory(LogQueue queue) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(queue);
        public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("The log queue has no providers.");
        public void Dispose() { }
    }

    private sealed class QueueLogger(LogQueue queue) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel != LogLevel.None) queue.Add(logLevel, eventId.Name, formatter(state, exception));
        }
    }
}
