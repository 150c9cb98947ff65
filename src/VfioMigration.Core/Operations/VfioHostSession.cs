using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using VfioMigration.Backends;
using VfioMigration.Drivers;
using VfioMigration.Images;
using VfioMigration.Logging;
using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>
/// One host's devices as a client session holds them. A device whose migration state the session has driven
/// (a state change, save, restore or reset) stays open for the life of the session, because its migration state
/// lives only while it is open (closing a real VFIO device resets it). A device opened only to be looked at is
/// closed again, so that inspecting a host never keeps a group from the VM that wants it. Every state change
/// made through the session is written to the audit log when one is configured.
/// </summary>
public sealed class VfioHostSession : IDisposable
{
    private readonly Dictionary<string, IDeviceMigration> _open = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Transport.IVfioDeviceTransport> _transports = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _held = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _restored = new(StringComparer.OrdinalIgnoreCase);
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _auditLogger;
    private readonly object _sync = new();

    /// <summary>A session whose core log goes to <paramref name="log"/> (what the module drains onto the pipeline).</summary>
    public VfioHostSession(IDeviceBackend backend, LogQueue log, AuditLog? audit)
        : this(backend, log.Loggers, audit) { }

    internal VfioHostSession(IDeviceBackend backend, ILoggerFactory? loggers = null, AuditLog? audit = null)
    {
        Backend = backend;
        _loggers = loggers ?? NullLoggerFactory.Instance;
        _auditLogger = _loggers.CreateLogger("VfioMigration.Audit");
        Audit = audit;
        ChecksumWarmup.Start(); // a session is where saves and restores begin: get XXH128 optimized before the first GiB
    }

    public IDeviceBackend Backend { get; }
    public AuditLog? Audit { get; set; }

    public IReadOnlyList<DeviceIdentity> Enumerate(bool includeCandidates = false) => Backend.Enumerate(includeCandidates);

    /// <summary>A device by address, candidates included: opening one not bound to VFIO then fails with the reason.</summary>
    public DeviceIdentity Identity(string address) =>
        Enumerate(includeCandidates: true).FirstOrDefault(d => string.Equals(d.Address, address, StringComparison.OrdinalIgnoreCase))
        ?? throw new VfioMigrationException($"No {(Backend.IsSimulated ? "simulated " : "")}VFIO device at '{address}'.", VfioErrors.DeviceNotFound, address);

    /// <summary>The device's migration driver, opening the device on first use.</summary>
    public IDeviceMigration Migration(string address)
    {
        lock (_sync)
        {
            var id = Identity(address);
            if (_open.TryGetValue(id.Address, out var driver)) return driver;
            var transport = Backend.Open(id.Address);
            try
            {
                driver = MigrationDriverFactory.Open(transport, _loggers);
            }
            catch
            {
                transport.Dispose();
                throw;
            }
            // A failed state change that leaves the device in Error may end in a reset, unless the device holds
            // state restored by this session that no save has captured (the only state of value it can hold).
            string opened = id.Address;
            driver.WhatResetLoses = () => HoldsRestoredState(opened) ? "it holds state restored earlier in this session that no save has captured" : null;
            _open[id.Address] = driver;
            _transports[id.Address] = transport;
            return driver;
        }
    }

    /// <summary>The open device's transport, for probes beyond the migration driver (the VM checks; the module has no use for it).</summary>
    internal Transport.IVfioDeviceTransport Transport(string address)
    {
        Migration(address);
        lock (_sync) return _transports[Identity(address).Address];
    }

    public bool IsOpen(string address)
    {
        lock (_sync) return _open.ContainsKey(address);
    }

    /// <summary>Whether the session keeps the device open because it drove its migration state.</summary>
    public bool IsHeld(string address)
    {
        lock (_sync) return _held.Contains(address);
    }

    /// <summary>
    /// Whether the device holds state that this session restored into it and that no save has captured since:
    /// restoring over it or resetting it loses that state. A device the session only opened holds nothing of
    /// value (on a real host no VM can have it while the session holds its group).
    /// </summary>
    public bool HoldsRestoredState(string address)
    {
        lock (_sync) return _restored.Contains(address);
    }

    /// <summary>The devices the session keeps open, with the state each is in now (null when it cannot be read).</summary>
    public IReadOnlyList<(string Address, MigrationState? State)> HeldDevices()
    {
        lock (_sync)
            return _held.Where(_open.ContainsKey).Select(a => (a, _open[a].Protocol == MigrationProtocol.None ? (MigrationState?)null : _open[a].TryGetState())).ToArray();
    }

    private void MarkRestored(string address, bool holds)
    {
        lock (_sync) { if (holds) _restored.Add(address); else _restored.Remove(address); }
    }

    /// <summary>Keeps devices open from now on: their migration state is ours to keep.</summary>
    public void Hold(IEnumerable<string> addresses)
    {
        lock (_sync) foreach (var a in addresses) _held.Add(Identity(a).Address);
    }

    /// <summary>Runs a look at a device, closing it afterwards unless the session holds it or had it open.</summary>
    public T Peek<T>(string address, Func<T> look)
    {
        bool wasOpen = IsOpen(address);
        try { return look(); }
        finally { if (!wasOpen && !IsHeld(address)) Close(address); }
    }

    /// <summary>Reads the device's protocol and state into a <see cref="VfioDevice"/>; problems become StateError.</summary>
    public VfioDevice Describe(DeviceIdentity id) => Peek(id.Address, () => DescribeOpen(id));

    private VfioDevice DescribeOpen(DeviceIdentity id)
    {
        IDeviceMigration? driver = null;
        MigrationState? state = null;
        uint? raw = null;
        string? error = null;
        DeviceHolding? holding = null;
        bool leftByOther = false;
        try
        {
            if (!id.IsVfioBound)
                throw new VfioMigrationException(id.Problem ?? $"bound to {id.Driver ?? "no driver"}, not to a VFIO driver", VfioErrors.DeviceNotBound, id.Address);
            driver = Migration(id.Address);
            if (driver.Protocol != MigrationProtocol.None)
            {
                raw = driver.ReadRawState();
                // A look changes nothing: a session another process left is reported, and ended only by a change.
                state = driver.ObserveState(out leftByOther);
            }
        }
        catch (VfioMigrationException e)
        {
            error = e.Message;
            // In use elsewhere: say by whom, and what the kernel shows of its state without opening it.
            if (e.Error == VfioErrors.DeviceBusy) holding = Backend.Holding(id);
        }
        return new VfioDevice(id)
        {
            // A held device's protocol and capabilities as debugfs shows them (only v2 devices have migration there).
            Protocol = driver?.Protocol ?? (holding?.State is null ? MigrationProtocol.None : MigrationProtocol.V2),
            Capabilities = driver?.Capabilities ?? holding?.Capabilities ?? MigrationCapabilities.None,
            State = state,
            RawDeviceState = raw,
            StateError = holding is { Holders.Count: > 0 } h ? $"{error} Held by {string.Join("; ", h.Holders)}." : error ?? id.Problem,
            Holders = holding?.Holders.ToArray() ?? Array.Empty<DeviceHolder>(),
            HoldersProblem = holding?.HoldersProblem,
            HeldState = holding?.State,
            HeldFeatures = holding?.Features,
            HeldStateProblem = holding?.StateProblem,
            LeftByAnotherProcess = leftByOther,
        };
    }

    public VfioDevice Describe(string address) => Describe(Identity(address));

    /// <summary>Plans a change of several devices together (quiesce all before any stops).</summary>
    public DeviceSetTransition PlanStates(IReadOnlyList<string> addresses, MigrationState target, bool force)
    {
        var set = addresses.Select(a => { var m = Migration(a); return (m, m.GetState()); }).ToArray();
        return DeviceSetTransition.Plan(set, target, force);
    }

    /// <summary>Runs a planned change, auditing every device's outcome.</summary>
    public IReadOnlyList<DeviceSetOutcome> Execute(DeviceSetTransition plan, CancellationToken cancellationToken = default, Action<DeviceSetStep>? beforeStep = null)
    {
        if (AuditProblem() is { } audit)
            return plan.Steps.Select(s => s.Device).Distinct().Select(d => new DeviceSetOutcome(d, null, Untouched(audit, d))).ToArray();
        Hold(plan.Steps.Select(s => s.Device.Address));
        var outcomes = plan.Execute(cancellationToken, beforeStep);
        foreach (var o in outcomes) Record(o.Device.Address, o.Result, o.Error, plan.Steps.LastOrDefault(s => s.Device == o.Device)?.Target);
        return outcomes;
    }

    /// <summary>Saves devices to image files (a consistent set when several), auditing each outcome.</summary>
    public IReadOnlyList<DeviceOutcome> Save(IReadOnlyList<SaveTarget> targets, SaveOptions options, bool overwrite, bool forceQuiesce,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (AuditProblem() is { } audit)
            return targets.Select(t => new DeviceOutcome(t.Device.Address, null, Untouched(audit, t.Device), t.Device.TryGetState())).ToArray();
        Hold(targets.Select(t => t.Device.Address));
        if (targets.Count > 1 && forceQuiesce)
        {
            // Say what the override lets through, as a state change of the set would (DeviceSetTransition.Plan).
            var log = _loggers.CreateLogger("VfioMigration.Save");
            try
            {
                var set = targets.Select(t => (t.Device, t.Device.GetState())).ToArray();
                foreach (var w in DeviceSetTransition.Plan(set, MigrationState.StopCopy, force: true).Warnings) Logging.CoreLog.QuiesceOverridden(log, w);
            }
            catch (VfioMigrationException) { /* the save itself reports a device it cannot read */ }
        }
        var outcomes = DeviceSetSaver.Save(targets, options, overwrite, forceQuiesce, progress, cancellationToken);
        foreach (var o in outcomes.Where(o => o.Error is null)) MarkRestored(o.Address, false);
        foreach (var o in outcomes)
            foreach (var w in o.Warnings ?? Array.Empty<string>()) Logging.CoreLog.SaveWarning(_auditLogger, w);
        foreach (var o in outcomes)
            AuditRecord(o.Address, null, o.StateNow?.ToString() ?? "unknown", Array.Empty<MigrationArc>(),
                o.Error is null ? $"ok: {o.Image!.Path} ({o.Image.DataBytes} bytes, xxh128 {o.Image.Checksum})" : $"{o.Error.ErrorId}: {o.Error.Message}", "save");
        return outcomes;
    }

    /// <summary>
    /// The restore's pre-flight: every check that needs no device call (images, identities, a set's completeness and
    /// mapping), every problem at once. Touches no device and writes no audit record; <see cref="Restore"/> runs it again.
    /// </summary>
    public RestorePreflight CheckRestore(IReadOnlyList<RestoreTarget> targets, RestoreOverrides overrides, CancellationToken cancellationToken = default) =>
        RestorePreflight.Run(targets, overrides, cancellationToken);

    /// <summary>Restores images onto devices, auditing each outcome.</summary>
    public IReadOnlyList<DeviceOutcome> Restore(IReadOnlyList<RestoreTarget> targets, MigrationState finalState, RestoreOverrides overrides,
        IProgress<SaveProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (AuditProblem() is { } audit)
            return targets.Select(t => new DeviceOutcome(t.Device.Address, null, Untouched(audit, t.Device), t.Device.TryGetState())).ToArray();
        Hold(targets.Select(t => t.Device.Address));
        var outcomes = DeviceSetRestorer.Restore(targets, finalState, overrides, progress, cancellationToken);
        foreach (var o in outcomes) MarkRestored(o.Address, o.Error is null);
        foreach (var o in outcomes)
            AuditRecord(o.Address, null, o.StateNow?.ToString() ?? "unknown", Array.Empty<MigrationArc>(),
                o.Error is null ? $"ok: {o.Image!.Path}" : $"{o.Error.ErrorId}: {o.Error.Message}", "restore");
        return outcomes;
    }

    /// <summary>VFIO_DEVICE_RESET: the way out of Error.</summary>
    public void Reset(string address)
    {
        if (AuditProblem() is { } audit) throw audit;
        Hold(new[] { address });
        var driver = Migration(address);
        string? before = null;
        if (driver.Protocol != MigrationProtocol.None)
        {
            try { before = driver.GetState().ToString(); } catch (VfioMigrationException) { }
        }
        try
        {
            driver.Reset();
            MarkRestored(driver.Address, false);
            AuditRecord(driver.Address, before, MigrationState.Running.ToString(), Array.Empty<MigrationArc>(), "ok", "reset");
        }
        catch (VfioMigrationException e)
        {
            AuditRecord(driver.Address, before, MigrationState.Running.ToString(), Array.Empty<MigrationArc>(), "failed: " + e.Message, "reset");
            // Say why a reset can fail and where the device is: the caller may be trying to leave Error.
            string now = driver.Protocol == MigrationProtocol.None ? "" : driver.TryGetState() is { } s ? $" It is still in {s}." : " Its state could not be read.";
            string cause = e is Transport.VfioCallException { Errno: Protocol.Errno.EINVAL or Protocol.Errno.ENOTTY }
                ? " The device has no reset method the kernel can use (no FLR, PM reset or bus reset; VFIO_DEVICE_INFO does not set VFIO_DEVICE_FLAGS_RESET)."
                : "";
            // Another reset is not the advice after a failed one: say what is left.
            throw new VfioMigrationException($"{e.Message}{cause}{now} No VFIO reset is possible now; {DeviceReset.WhatIsLeft}.", e.Error, driver.Address, e, ErrorRemedy.ReleaseDevice);
        }
    }

    /// <summary>
    /// For an operation that drives a device itself (the conformance suite): throws the audit log's refusal
    /// (<c>AuditLogUnavailable</c>, <c>AuditLogUnsafe</c>) before <paramref name="address"/> is touched, as every
    /// state-changing operation of the session does.
    /// </summary>
    public void EnsureAuditable(string address)
    {
        if (AuditProblem() is { } audit)
            throw new VfioMigrationException($"{audit.Message} {address} was not touched.", audit.Error, address, audit, audit.Remedy);
    }

    /// <summary>
    /// One audit record of an operation that drove a device itself: <paramref name="operation"/> ("conformance",
    /// "reset"), the state found and the state left (null: unknown), and the result. A record that cannot be written
    /// is a warning on the log, as for every other record.
    /// </summary>
    public void AuditOperation(string address, string operation, MigrationState? from, MigrationState? to, string result) =>
        AuditRecord(address, from?.ToString(), to?.ToString() ?? "unknown", Array.Empty<MigrationArc>(), result, operation);

    /// <summary>Why the configured audit log cannot be written, asked before any device is touched; null if it can (or there is none).</summary>
    private VfioMigrationException? AuditProblem()
    {
        try { Audit?.EnsureWritable(); return null; }
        catch (VfioMigrationException e) { return e; }
    }

    private static VfioMigrationException Untouched(VfioMigrationException audit, IDeviceMigration device)
    {
        string where = device.TryGetState() is { } s ? $"{device.Address} was not touched and is in {s}." : $"{device.Address} was not touched.";
        return new VfioMigrationException($"{audit.Message} {where}", audit.Error, device.Address, audit, audit.Remedy);
    }

    /// <summary>One audit record; a failure to write it is a warning on the log, never a change of the outcome.</summary>
    private void AuditRecord(string device, string? from, string to, IEnumerable<MigrationArc> arcs, string result, string? operation = null)
    {
        if (Audit?.Record(device, Backend.IsSimulated, from, to, arcs, result, operation) is { } problem) Logging.CoreLog.AuditNotRecorded(_auditLogger, problem);
    }

    private void Record(string device, TransitionResult? result, VfioMigrationException? error, MigrationState? target)
    {
        if (Audit is null) return;
        if (result is not null)
            AuditRecord(device, result.From.ToString(), result.To.ToString(), result.Arcs, "ok");
        else if (error is not null)
            AuditRecord(device, (error as MigrationTransitionException)?.From?.ToString(), (error as MigrationTransitionException)?.Requested.ToString() ?? target?.ToString() ?? "?",
                (error as MigrationTransitionException)?.ArcsDone ?? Array.Empty<MigrationArc>(), $"{error.ErrorId}: {error.Message}");
    }

    /// <summary>Closes one device (a real device resets on close) and forgets it.</summary>
    public void Close(string address)
    {
        lock (_sync)
        {
            if (_open.Remove(address, out var driver)) driver.Dispose();
            if (_transports.Remove(address, out var t)) t.Dispose();
            _held.Remove(address);
            _restored.Remove(address);
        }
    }

    public void Dispose()
    {
        lock (_sync)
        {
            foreach (var d in _open.Values) d.Dispose();
            foreach (var t in _transports.Values) t.Dispose();
            _open.Clear();
            _transports.Clear();
            _held.Clear();
            _restored.Clear();
        }
    }
}
