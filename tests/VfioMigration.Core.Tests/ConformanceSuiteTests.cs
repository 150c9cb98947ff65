using VfioMigration.Backends.Simulated;
using VfioMigration.Conformance;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>The driver-QA conformance suite against the default simulated host: every applicable check passes.</summary>
public sealed class ConformanceSuiteTests
{
    public static TheoryData<string, string?> DefaultDevices() => new()
    {
        { "0000:3b:00.2", "0000:3b:00.3" }, { "0000:3b:00.3", null }, { "0000:5e:00.1", null }, { "0000:af:00.1", null },
        { "0000:af:00.2", null }, { "0000:d8:00.0", null }, { "0.0.0100", "0.0.0101" }, { "0.0.0101", null },
    };

    internal static (IReadOnlyList<ConformanceResult> Results, ConformanceSuite Suite) Run(SimulatedHost host, string address, string? peer = null)
    {
        var device = host[address];
        using var t = device.Open();
        var p = peer is null ? null : host[peer];
        using var pt = p?.Open();
        var current = t;
        var suite = new ConformanceSuite(t, pt, new SimulatedConformanceObserver(device), p is null ? null : new SimulatedConformanceObserver(p))
        {
            Reopen = () => { current.Dispose(); return current = device.Open(); },
        };
        return (suite.Run(), suite);
    }

    [Theory]
    [MemberData(nameof(DefaultDevices))]
    public void Every_device_of_the_default_host_passes_every_applicable_check(string address, string? peer)
    {
        var host = SimulatedHost.CreateDefault();
        var (results, suite) = Run(host, address, peer);
        Assert.NotEmpty(results);
        var failed = results.Where(r => r.Outcome == ConformanceOutcome.Failed).Select(r => $"{r.Check}: {r.Reason} | {r.Observed}").ToArray();
        Assert.True(failed.Length == 0, string.Join("\n", failed));
        Assert.Equal(results.Count, results.Select(r => r.Check).Distinct().Count());
        if (suite.Protocol != MigrationProtocol.None)
        {
            Assert.Equal(MigrationState.Running, suite.FinalState);
            Assert.Equal(MigrationState.Running, host[address].MigrationState);
            Assert.Null(suite.FinalProblem);
            Assert.Contains(results, r => r.Outcome == ConformanceOutcome.Passed && r.Area == ConformanceArea.Resume);
        }
        Assert.All(results, r => Assert.Contains(r.Area, ConformanceArea.All));
    }
}
