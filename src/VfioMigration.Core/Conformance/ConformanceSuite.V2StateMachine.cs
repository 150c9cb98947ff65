using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Conformance;

// v2 state machine (docs/protocol.md §8.2, and checklist 23–25 for which arcs return an fd).
public sealed partial class ConformanceSuite
{
    private const string StateEnum = "include/uapi/linux/vfio.h, enum vfio_device_mig_state";
    private const string NextState = "drivers/vfio/vfio_main.c vfio_mig_get_next_state";

    private void RunV2StateMachine()
    {
        const string area = ConformanceArea.Fsm;
        Check(12, "fsm.target-out-of-range", area, "SET to a state number of 8 or more is refused", "EINVAL, state unchanged", NextState, () =>
        {
            var (rc1, _, _) = RawSet(8);
            var (rc2, _, _) = RawSet(0xFFFF);
            var now = StateNow();
            string obs = $"SET 8: {Rc(rc1)}; SET 0xFFFF: {Rc(rc2)}; state {StateText(now)}";
            if (rc1 != -Errno.EINVAL || rc2 != -Errno.EINVAL) return Fail(obs, "states past VFIO_DEVICE_STATE_PRE_COPY_P2P must fail with EINVAL");
            return now == MigrationState.Running ? Pass(obs) : Fail(obs, "a refused SET changed the state");
        });
        foreach (var s in SupportedStates())
            Check(13, $"fsm.target-error.{s}", area, $"SET to Error from {s} is refused", $"EINVAL, state stays {s}",
                $"{StateEnum} (ERROR cannot be requested); {NextState}", () =>
                {
                    Reach(s);
                    var (rc, _, _) = RawSet((uint)MigrationState.Error);
                    var now = StateNow();
                    string obs = $"SET Error from {s}: {Rc(rc)}; state {StateText(now)}";
                    if (rc != -Errno.EINVAL) return Fail(obs, "ERROR is never a valid target");
                    return now == s ? Pass(obs) : Fail(obs, "a refused SET changed the state");
                });
        var unsupported = Enum.GetValues<MigrationState>().Where(s => s != MigrationState.Error && !TransitionPlanner.IsSupported(s, Capabilities)).ToArray();
        if (unsupported.Length == 0)
            Emit(NotApplicableResult(14, "fsm.unsupported-target", area, "SET to a state the flags do not offer is refused", "EINVAL, state unchanged", NextState,
                "the device offers every state (STOP_COPY, P2P and PRE_COPY)"));
        foreach (var s in unsupported)
            Check(14, $"fsm.unsupported-target.{s}", area, $"SET to {s}, which the flags do not offer, is refused", "EINVAL, state stays Running",
                $"{NextState} (vfio_main.c: vfio_mig_get_next_state, flag requirements)", () =>
                {
                    var (rc, _, _) = RawSet((uint)s);
                    var now = StateNow();
                    string obs = $"SET {s} from Running: {Rc(rc)}; state {StateText(now)}";
                    if (rc != -Errno.EINVAL) return Fail(obs, $"{s} needs {TransitionPlanner.RequiredCapabilities(s)}, which the device does not offer");
                    return now == MigrationState.Running ? Pass(obs) : Fail(obs, "a refused SET changed the state");
                });
        Check(16, "fsm.stopcopy-to-precopy-refused", area, "StopCopy -> PreCopy(P2P) is refused in userspace, never sent",
            "refused before any SET reaches the device; state stays StopCopy", $"{NextState} (STOP_COPY -> PRE_COPY is EINVAL; kernels before the 2026 fix lock up: docs/protocol.md §3.12)", () =>
            {
                _driver.RequestState(MigrationState.StopCopy);
                int before = _t.StateSets;
                var refusals = new List<string>();
                foreach (var target in new[] { MigrationState.PreCopy, MigrationState.PreCopyP2P })
                {
                    try
                    {
                        _driver.RequestState(target);
                        refusals.Add($"{target}: accepted");
                    }
                    catch (MigrationTransitionException e) { refusals.Add($"{target}: {e.ErrorId}"); }
                }
                int sent = _t.StateSets - before;
                var now = StateNow();
                string obs = $"{string.Join("; ", refusals)}; SETs sent {sent}; state {StateText(now)}";
                if (sent != 0 || refusals.Any(r => r.EndsWith("accepted", StringComparison.Ordinal))) return Fail(obs, "the request reached the device");
                return now == MigrationState.StopCopy ? Pass(obs) : Fail(obs, "the state changed");
            });
        foreach (var s in SupportedStates())
            Check(17, $"fsm.same-state.{s}", area, $"SET to the current state {s} is a no-op", "0, data_fd -1, state unchanged",
                $"{NextState} (the loop ends before any arc when cur == new)", () =>
                {
                    Reach(s);
                    var (rc, _, fd) = RawSet((uint)s);
                    Adopt(fd);
                    var now = StateNow();
                    string obs = $"SET {s} in {s}: {Rc(rc)}, data_fd {fd}; state {StateText(now)}";
                    if (rc != 0) return Fail(obs, "a same-state SET must succeed");
                    if (fd != -1) return Fail(obs, "a same-state SET opens no session");
                    return now == s ? Pass(obs) : Fail(obs, "the state changed");
                });
        RunV2Paths();
        Check(18, "fsm.failed-set-state", area, "After a SET that fails inside the transition the state is the old one, on the path, or Error",
            "SET fails; copied-back struct keeps the requested state and data_fd -1; GET shows Resuming, a state on the path, or Error",
            $"{Uapi}, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE (\"the device_state ... may be any state on the path, or ERROR\")", FailedSetCheck);
        Check(20, "fsm.error-exit", area, "From Error every SET fails and reset returns Running", "EINVAL for every target, state stays Error; reset -> Running",
            $"{StateEnum} (ERROR: only VFIO_DEVICE_RESET leaves it)", ErrorExitCheck);
        foreach (var s in SupportedStates())
            Check(21, $"fsm.reset.{s}", area, $"Reset from {s} returns Running", "VFIO_DEVICE_RESET 0; state Running",
                $"{StateEnum} (RUNNING after reset); drivers/vfio/pci/vfio_pci_core.c VFIO_DEVICE_RESET", () =>
                {
                    Reach(s);
                    int rc = _t.Reset();
                    var now = StateNow();
                    string obs = $"reset from {s}: {Rc(rc)}; state {StateText(now)}";
                    if (rc < 0) return Fail(obs, "the reset failed");
                    return now == MigrationState.Running ? Pass(obs) : Fail(obs, "a reset must return the device to Running");
                });
        Check(22, "fsm.no-spontaneous-change", area, "The state changes only by SET or reset (time, device activity, closing an fd)",
            "Stop stays Stop over time; StopCopy stays StopCopy after its fd is closed", $"{StateEnum} (the device never changes state on its own)", () =>
            {
                _driver.RequestState(MigrationState.Stop);
                var seen = new List<string>();
                for (int i = 0; i < 5; i++)
                {
                    Pass_Time();
                    var s = StateNow();
                    seen.Add(StateText(s));
                    if (s != MigrationState.Stop) return Fail($"Stop, then {string.Join(", ", seen)}", "the state changed with no SET");
                }
                var (rc, _, fd) = RawSet((uint)MigrationState.StopCopy);
                Adopt(fd)?.Dispose();
                var after = StateNow();
                string obs = $"Stop over time: {string.Join(", ", seen)}; StopCopy ({Rc(rc)}), fd {fd} closed: {StateText(after)}";
                return after == MigrationState.StopCopy ? Pass(obs) : Fail(obs, "closing the data fd changed the state");
            });
        if (Capabilities.HasFlag(MigrationCapabilities.P2P))
            Check(39, "fsm.p2p-quiesced", area, "RunningP2P starts no peer-to-peer DMA; Running does again", "no new P2P writes in RunningP2P",
                $"{StateEnum} (RUNNING_P2P: \"the device must not ... initiate ... DMA to another device\")", () => P2PQuiesceCheck(MigrationState.RunningP2P, () => _driver.RequestState(MigrationState.Running)));
    }

    /// <summary>
    /// Every (current, target) pair the flags allow, as ONE SET (as QEMU sends them): the device reaches the target,
    /// returns a data fd exactly when the final arc opens a session, and — where an observer sees arcs — walks exactly
    /// the kernel's path. STOP_COPY to PRE_COPY(_P2P) is never sent (docs/protocol.md §3.12).
    /// </summary>
    private void RunV2Paths()
    {
        var states = SupportedStates().ToArray();
        foreach (var from in states)
            foreach (var to in states)
            {
                if (from == to || (from == MigrationState.StopCopy && to is MigrationState.PreCopy or MigrationState.PreCopyP2P)) continue;
                var plan = TransitionPlanner.Plan(from, to, Capabilities);
                if (plan.IsRefused) continue;
                bool fdExpected = TransitionPlanner.OpensSession(plan.Arcs[^1]);
                Check(from == MigrationState.Resuming || to == MigrationState.Resuming ? 25 : 11, $"fsm.path.{from}-{to}", ConformanceArea.Fsm,
                    $"SET {from} -> {to} in one call", $"0; state {to}; data_fd {(fdExpected ? "new fd" : "-1")}; path {plan}",
                    $"{NextState}; {Uapi}, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE (data_fd only when the final arc opens a session)", () =>
                    {
                        Reach(from, withStream: from == MigrationState.Resuming);
                        int mark = _observer?.ArcHistory?.Count ?? 0;
                        var (rc, _, fd) = RawSet((uint)to);
                        Adopt(fd);
                        var now = StateNow();
                        var walked = _observer?.ArcHistory is { } h ? h.Skip(mark).ToArray() : null;
                        string obs = $"{Rc(rc)}; state {StateText(now)}; data_fd {(fd >= 0 ? "new fd" : fd.ToString(System.Globalization.CultureInfo.InvariantCulture))}"
                                     + (walked is null ? "; path not observable" : $"; walked {(walked.Length == 0 ? "nothing" : string.Join(", ", walked))}");
                        if (rc != 0) return Fail(obs, $"the SET failed; the uAPI allows {from} -> {to} for flags {Capabilities}");
                        if (now != to) return Fail(obs, $"the SET succeeded but the device is not in {to}");
                        if (fdExpected && fd < 0) return Fail(obs, $"the final arc {plan.Arcs[^1]} opens a session and must return its fd");
                        if (!fdExpected && fd != -1) return Fail(obs, "no arc of this SET ends in a new session; data_fd must be -1");
                        if (walked is not null && !walked.SequenceEqual(plan.Arcs)) return Fail(obs, $"the device did not walk the kernel's path {plan}");
                        return Pass(obs);
                    });
            }
    }

    private Verdict FailedSetCheck()
    {
        var stream = SavedStream();
        Fresh();
        _driver.RequestState(MigrationState.Resuming);
        string wrote;
        try { _driver.WriteResumeData(stream.AsSpan(0, stream.Length / 2)); wrote = $"{stream.Length / 2} of {stream.Length} bytes written"; }
        catch (VfioMigrationException e) { wrote = $"writing half the stream failed ({e.Message})"; }
        var plan = TransitionPlanner.Plan(MigrationState.Resuming, MigrationState.Running, Capabilities);
        var (rc, state, fd) = RawSet((uint)MigrationState.Running);
        Adopt(fd);
        var now = StateNow();
        var allowed = plan.Path.Take(plan.Path.Count - 1).Append(MigrationState.Error).ToHashSet();
        string obs = $"{wrote}; SET Running: {Rc(rc)}, struct state {state}, data_fd {fd}; GET {StateText(now)} (path {plan})";
        if (rc == 0) return Fail(obs, "loading half a stream must fail (see resume.truncated)");
        if (state != (uint)MigrationState.Running || fd != -1) return Fail(obs, "the copied-back struct must keep the requested state and data_fd -1");
        return now is { } n && allowed.Contains(n) ? Pass(obs) : Fail(obs, $"after a failed SET the state must be one of {string.Join(", ", allowed)}");
    }

    private Verdict ErrorExitCheck()
    {
        // The only Error a suite can cause on any device is a failed load; many drivers stay in RESUMING instead.
        var stream = SavedStream();
        Fresh();
        _driver.RequestState(MigrationState.Resuming);
        try { _driver.WriteResumeData(stream.AsSpan(0, stream.Length / 2)); } catch (VfioMigrationException) { }
        RawSet((uint)MigrationState.Stop);
        if (StateNow() != MigrationState.Error)
            return NotApplicable($"the device did not enter Error on a failed load (it reports {StateText(StateNow())}), so there is no Error to leave");
        var tries = new List<string>();
        foreach (var s in SupportedStates())
        {
            var (rc, _, fd) = RawSet((uint)s);
            Adopt(fd);
            var now = StateNow();
            tries.Add($"{s}: {Rc(rc)}");
            if (rc == 0 || now != MigrationState.Error) return Fail(string.Join("; ", tries) + $"; state {StateText(now)}", "only a reset leaves Error");
        }
        int reset = _t.Reset();
        var after = StateNow();
        string obs = string.Join("; ", tries) + $"; reset {Rc(reset)}, state {StateText(after)}";
        return after == MigrationState.Running ? Pass(obs) : Fail(obs, "a reset must leave Error for Running");
    }

    /// <summary>In a quiesced state the device must start no P2P writes (observer needed); after waking it does again.</summary>
    private Verdict P2PQuiesceCheck(MigrationState quiesced, Action wake)
    {
        if (_observer?.PeerWritesSent is null) return NotApplicable("no peer-to-peer traffic can be observed on this device (no peer, or a real device)");
        _observer.Advance(20);
        ulong running0 = _observer.PeerWritesSent!.Value;
        _observer.Advance(50);
        ulong running1 = _observer.PeerWritesSent!.Value;
        if (running1 == running0) return NotApplicable("the device writes nothing peer-to-peer even while Running, so a quiesce cannot be seen");
        _driver.RequestState(quiesced);
        ulong q0 = _observer.PeerWritesSent!.Value;
        _observer.Advance(50);
        ulong q1 = _observer.PeerWritesSent!.Value;
        wake();
        _observer.Advance(50);
        ulong w1 = _observer.PeerWritesSent!.Value;
        string obs = $"Running: +{running1 - running0} P2P writes in 50 steps; {quiesced}: +{q1 - q0}; awake again: +{w1 - q1}";
        if (q1 != q0) return Fail(obs, $"the device kept writing peer-to-peer in {quiesced}");
        return w1 > q1 ? Pass(obs) : Fail(obs, "the device did not resume peer-to-peer writes after waking");
    }

    /// <summary>Lets time pass for the device: the observer's steps where there is one, a short sleep otherwise.</summary>
    private void Pass_Time()
    {
        if (_observer is not null) _observer.Advance(20);
        else Thread.Sleep(20);
    }

    private ConformanceResult NotApplicableResult(int number, string id, string area, string name, string required, string source, string reason) => new()
    {
        Device = Address,
        Number = number,
        Check = id,
        Name = name,
        Area = area,
        Outcome = ConformanceOutcome.NotApplicable,
        Observed = "",
        Required = required,
        Source = source,
        Reason = reason,
    };
}
