using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace VfioMigration.PowerShell.Logging;

/// <summary>
/// The core's log, queued for the pipeline thread: Write* works only there, and the core may log from any thread.
/// Cmdlets drain it after each step (Information → Verbose, Debug/Trace → Debug, Warning and above → Warning).
/// </summary>
public sealed class PipelineLog : ILoggerFactory
{
    private readonly ConcurrentQueue<(LogLevel Level, string? EventName, string Message)> _queue = new();

    public ILogger CreateLogger(string categoryName) => new QueueLogger(this);
    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("The pipeline log has no providers.");
    public void Dispose() { }

    public bool TryDequeue(out (LogLevel Level, string? EventName, string Message) entry) => _queue.TryDequeue(out entry);

    private sealed class QueueLogger : ILogger
    {
        private readonly PipelineLog _log;
        public QueueLogger(PipelineLog log) => _log = log;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Bound the queue: a runaway producer must not grow memory while nothing drains it.
            if (_log._queue.Count < 10_000) _log._queue.Enqueue((logLevel, eventId.Name, formatter(state, exception)));
        }
    }
}
