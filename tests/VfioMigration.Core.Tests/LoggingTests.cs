using Microsoft.Extensions.Logging;
using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Logging;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>Every state change is logged with device, from, to, arcs and result, under stable event names.</summary>
public class LoggingTests
{
    private sealed class Collector : ILoggerProvider, ILogger
    {
        public List<(EventId Id, LogLevel Level, string Text)> Lines { get; } = new();
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((eventId, logLevel, formatter(state, exception)));
        public void Dispose() { }
    }

    private sealed class Factory : ILoggerFactory
    {
        public Collector C { get; } = new();
        public void AddProvider(ILoggerProvider provider) { }
        public ILogger CreateLogger(string categoryName) => C;
        public void Dispose() { }
    }

    [Fact]
    public void StateChangesFailuresRefusalsAndResetsAreLogged()
    {
        var (_, d) = Sim.One(Sim.V2());
        var f = new Factory();
        using var t = d.Open();
        using var driver = MigrationDriverFactory.Open(t, f);
        driver.RequestState(MigrationState.StopCopy);
        var done = Assert.Single(f.C.Lines, l => l.Id.Name == nameof(CoreLog.TransitionCompleted));
        Assert.Equal(LogLevel.Information, done.Level);
        Assert.Contains("0000:01:00.0", done.Text);
        Assert.Contains("Running -> StopCopy", done.Text);
        Assert.Contains("RunningP2P -> Stop", done.Text);
        Assert.Contains("ok", done.Text);

        Assert.Throws<MigrationTransitionException>(() => driver.RequestState(MigrationState.PreCopy));
        Assert.Contains(f.C.Lines, l => l.Id.Name == nameof(CoreLog.TransitionRefused) && l.Level == LogLevel.Warning && l.Text.Contains("PreCopy"));

        d.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO));
        Assert.Throws<MigrationTransitionException>(() => driver.RequestState(MigrationState.Stop));
        Assert.Contains(f.C.Lines, l => l.Id.Name == nameof(CoreLog.TransitionFailed) && l.Text.Contains("EIO") && l.Text.Contains("now StopCopy"));

        driver.Reset();
        Assert.Contains(f.C.Lines, l => l.Id.Name == nameof(CoreLog.DeviceReset) && l.Text.Contains("StopCopy"));
    }
}
