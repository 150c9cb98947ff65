using VfioMigration.Backends.Simulated;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>
/// The suite has teeth: each defective driver personality fails the check aimed at it, and no check outside the
/// rule it breaks (a device is judged on one rule at a time).
/// </summary>
public sealed class ConformanceDefectTests
{
    private const MigrationCapabilities All = MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy;

    public static TheoryData<SimulatedDefect, MigrationProtocol, string, string> Cases() => new()
    {
        // defect, protocol, the aimed check, the checks it may fail (prefixes, '|'-separated)
        { SimulatedDefect.NotRunningAfterOpen, MigrationProtocol.V2, "fsm.open-state", "fsm.open-state" },
        { SimulatedDefect.NotRunningAfterOpen, MigrationProtocol.V1, "v1.open-state", "v1.open-state" },
        { SimulatedDefect.ResetKeepsState, MigrationProtocol.V2, "fsm.reset.Stop", "fsm.reset." },
        { SimulatedDefect.ResetKeepsState, MigrationProtocol.V1, "v1.reset.Stop", "v1.reset." },
        { SimulatedDefect.ResetKeepsDataFd, MigrationProtocol.V2, "data.reset-kills-fd.StopCopy", "data.reset-kills-fd." },
        { SimulatedDefect.FailedSetLeavesStrayState, MigrationProtocol.V2, "fsm.failed-set-state", "fsm.failed-set-state|resume.truncated" },
        { SimulatedDefect.PreCopyInitialBytesGrow, MigrationProtocol.V2, "data.precopy-info-initial-bytes", "data.precopy-info-initial-bytes" },
        { SimulatedDefect.PreCopyInfoOmitsQueuedData, MigrationProtocol.V2, "data.precopy-info-matches-read", "data.precopy-info-matches-read" },
        { SimulatedDefect.StopCopyEndsWithEnomsg, MigrationProtocol.V2, "data.stopcopy-eof", "data.stopcopy-eof|data.precopy-fd-continues|data.precopy-nothing-now" },
        { SimulatedDefect.AcceptsTruncatedStream, MigrationProtocol.V2, "resume.truncated", "resume.truncated|fsm.failed-set-state" },
        { SimulatedDefect.DataSizeWrong, MigrationProtocol.V2, "data.mig-data-size", "data.mig-data-size" },
        { SimulatedDefect.V1SpontaneousStateChange, MigrationProtocol.V1, "v1.no-spontaneous-change", "v1.no-spontaneous-change" },
        { SimulatedDefect.QuiesceLeaksP2P, MigrationProtocol.V2, "fsm.p2p-quiesced", "fsm.p2p-quiesced" },
        { SimulatedDefect.QuiesceLeaksP2P, MigrationProtocol.V1, "ndma.p2p-quiesced", "ndma.p2p-quiesced" },
        { SimulatedDefect.UndefinedMigrationFlags, MigrationProtocol.V2, "plumbing.migration-flags", "plumbing.migration-flags" },
        { SimulatedDefect.ProbeWritesBack, MigrationProtocol.V2, "plumbing.probe", "plumbing.probe" },
        { SimulatedDefect.SameStateSetFails, MigrationProtocol.V2, "fsm.same-state.Running", "fsm.same-state." },
        { SimulatedDefect.ArgszUnchecked, MigrationProtocol.V2, "plumbing.argsz-short", "plumbing.argsz-short" },
        { SimulatedDefect.DmaLoggingRepeatedStart, MigrationProtocol.V2, "dma-logging.start-twice", "dma-logging.start-twice" },
        { SimulatedDefect.PrecopyInfoV2ProbeRefused, MigrationProtocol.V2, "data.precopy-v2.probe", "data.precopy-v2.probe" },
        { SimulatedDefect.PrecopyFlagsEchoedAfterOptIn, MigrationProtocol.V2, "data.precopy-v2.flags-zero", "data.precopy-v2.flags-zero" },
        { SimulatedDefect.ReinitWithoutOptIn, MigrationProtocol.V2, "data.precopy-v2.no-reinit-before", "data.precopy-v2.no-reinit-before" },
        { SimulatedDefect.PrecopyOptInSurvivesClose, MigrationProtocol.V2, "data.precopy-v2.reopen", "data.precopy-v2.reopen" },
    };

    /// <summary>A device with every capability, linked peer-to-peer to a healthy twin, playing <paramref name="defects"/>.</summary>
    internal static (SimulatedHost Host, string Address) Defective(MigrationProtocol protocol, params SimulatedDefect[] defects)
    {
        var host = new SimulatedHost();
        SimulatedDeviceOptions Options(string address, IReadOnlyList<SimulatedDefect> d) => new()
        {
            Address = address,
            Protocol = protocol,
            Capabilities = protocol == MigrationProtocol.V2 ? All : MigrationCapabilities.Ndma,
            DmaLogging = protocol == MigrationProtocol.V2,
            MemorySize = 64 * 1024,
            Seed = 21,
            Defects = d,
        };
        host.Add(Options("0000:07:00.1", Array.Empty<SimulatedDefect>()));
        host.Add(Options("0000:07:00.0", defects), "0000:07:00.1");
        return (host, "0000:07:00.0");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_defect_fails_its_aimed_check_and_no_unrelated_one(SimulatedDefect defect, MigrationProtocol protocol, string aimed, string allowed)
    {
        var (host, address) = Defective(protocol, defect);
        var (results, _) = ConformanceSuiteTests.Run(host, address);
        var failed = results.Where(r => r.Outcome == ConformanceOutcome.Failed).ToArray();
        Assert.True(failed.Any(r => r.Check == aimed), $"{aimed} did not fail: " + string.Join("; ", results.Where(r => r.Check == aimed).Select(r => $"{r.Outcome} {r.Reason} {r.Observed}")));
        var prefixes = allowed.Split('|');
        var unrelated = failed.Where(r => !prefixes.Any(p => r.Check.StartsWith(p, StringComparison.Ordinal))).Select(r => $"{r.Check}: {r.Reason} | {r.Observed}").ToArray();
        Assert.True(unrelated.Length == 0, string.Join("\n", unrelated));
        var evidence = failed.Single(r => r.Check == aimed);
        Assert.False(string.IsNullOrWhiteSpace(evidence.Observed));
        Assert.False(string.IsNullOrWhiteSpace(evidence.Reason));
    }

    [Fact]
    public void The_same_devices_without_defects_pass()
    {
        foreach (var protocol in new[] { MigrationProtocol.V2, MigrationProtocol.V1 })
        {
            var (host, address) = Defective(protocol);
            var (results, suite) = ConformanceSuiteTests.Run(host, address);
            Assert.DoesNotContain(results, r => r.Outcome == ConformanceOutcome.Failed);
            Assert.Equal(MigrationState.Running, suite.FinalState);
            // With a peer link and an observer, the quiesce check is decided, not skipped.
            Assert.Contains(results, r => r.Check.EndsWith(".p2p-quiesced", StringComparison.Ordinal) && r.Outcome == ConformanceOutcome.Passed);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void C79_the_opt_in_without_pre_copy_is_caught(bool defective)
    {
        var host = new SimulatedHost();
        host.Add(new SimulatedDeviceOptions
        {
            Address = "0000:07:00.0",
            Capabilities = MigrationCapabilities.StopCopy | MigrationCapabilities.P2P,
            Defects = defective ? new[] { SimulatedDefect.PrecopyInfoV2WithoutPreCopy } : Array.Empty<SimulatedDefect>(),
        });
        var (results, _) = ConformanceSuiteTests.Run(host, "0000:07:00.0");
        var failed = results.Where(r => r.Outcome == ConformanceOutcome.Failed).Select(r => r.Check).ToArray();
        Assert.Equal(defective ? new[] { "data.precopy-v2.needs-precopy" } : Array.Empty<string>(), failed);
        Assert.Equal(ConformanceOutcome.NotApplicable, results.Single(r => r.Check == "data.precopy-v2.flags-zero").Outcome);
    }

    [Fact]
    public void C80_a_kernel_before_7_3_makes_the_opt_in_checks_not_applicable()
    {
        var host = new SimulatedHost();
        host.Add(new SimulatedDeviceOptions { Address = "0000:07:00.0", Capabilities = All, PrecopyInfoV2 = false });
        var (results, _) = ConformanceSuiteTests.Run(host, "0000:07:00.0");
        Assert.DoesNotContain(results, r => r.Outcome == ConformanceOutcome.Failed);
        Assert.Equal(ConformanceOutcome.Passed, results.Single(r => r.Check == "data.precopy-v2.no-reinit-before").Outcome);
        foreach (var id in new[] { "data.precopy-v2.probe", "data.precopy-v2.flags-zero", "data.precopy-v2.reopen" })
            Assert.Contains("7.3", results.Single(r => r.Check == id && r.Outcome == ConformanceOutcome.NotApplicable).Reason);
    }

    [Fact]
    public void C83_without_a_way_to_reopen_the_reopen_check_is_not_applicable()
    {
        var (host, address) = Defective(MigrationProtocol.V2, SimulatedDefect.PrecopyOptInSurvivesClose);
        using var t = host[address].Open();
        var results = new Conformance.ConformanceSuite(t).Run();
        Assert.Equal(ConformanceOutcome.NotApplicable, results.Single(r => r.Check == "data.precopy-v2.reopen").Outcome);
    }

    [Fact]
    public void At_least_ten_distinct_defects_exist() => Assert.True(Enum.GetValues<SimulatedDefect>().Length >= 10);

    [Theory]
    [InlineData(SimulatedDefect.V1SpontaneousStateChange, MigrationProtocol.V2)]
    [InlineData(SimulatedDefect.StopCopyEndsWithEnomsg, MigrationProtocol.V1)]
    public void A_defect_the_device_cannot_play_is_refused_with_the_reason(SimulatedDefect defect, MigrationProtocol protocol)
    {
        var e = Assert.Throws<VfioMigrationException>(() => Defective(protocol, defect));
        Assert.Equal("InvalidSimulatedDevice", e.ErrorId);
        Assert.Contains(defect.ToString(), e.Message);
    }
}
