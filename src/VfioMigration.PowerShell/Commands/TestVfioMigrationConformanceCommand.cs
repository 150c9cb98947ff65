using System.Management.Automation;
using VfioMigration.Conformance;
using VfioMigration.Operations;
using VfioMigration.Transport;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Driver QA: runs the migration conformance suite against a device (real or simulated, v1 or v2) and writes one
/// result per uAPI rule. Destructive: the device is reset and moved through every migration state, so it asks
/// (ConfirmImpact High) unless -Confirm:$false. The device is opened afresh for the run (a session's own handle on
/// it is closed first), a device another process holds is refused, and the device is reset and left Running at
/// the end whatever happened. The summary goes to the information stream as a host message: it shows in the
/// console like Write-Host, while the output stays pure result objects for Where-Object, Export-Csv and Pester.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "VfioMigrationConformance", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(ConformanceResult))]
public sealed class TestVfioMigrationConformanceCommand : DeviceTargetCmdlet
{
    /// <summary>
    /// The device to check: PCI address, ccw bus id or mdev UUID (wildcards allowed; several devices are checked one
    /// after another). Binds plain strings from the pipeline and the Name of a device object by property name.
    /// </summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByAddress, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(Completion.AddressCompleter))]
    [Alias("Name", "DeviceName")]
    [SupportsWildcards]
    [AllowNull, AllowEmptyString, AllowEmptyCollection]
    public override string[] Address { get => base.Address; set => base.Address = value; }

    /// <summary>
    /// A second, compatible device (same kind, vendor and device id, driver) on the same host: the round trip saves
    /// the device and restores the stream into this one, which is reset too. Without it the stream is restored into
    /// the device itself. Only with a single device.
    /// </summary>
    [Parameter(Position = 1)]
    [ArgumentCompleter(typeof(Completion.AddressCompleter))]
    [Binding.NotEmpty("a device name (PCI address, ccw bus id or mdev UUID)")]
    public string? PeerAddress { get; set; }

    /// <summary>Run only the checks of these areas (plumbing, fsm, data, resume, dma-logging, v1, ndma); all by default.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(Completion.AllowedNamesCompleter<TestVfioMigrationConformanceCommand>))]
    [Binding.OneOf(ConformanceArea.Plumbing, ConformanceArea.Fsm, ConformanceArea.Data, ConformanceArea.Resume, ConformanceArea.DmaLogging, ConformanceArea.V1, ConformanceArea.Ndma)]
    public string[]? Area { get; set; }

    protected override void EndProcessing() => RunTerminable(EndProcessingCore);

    private void EndProcessingCore()
    {
        foreach (var (session, devices) in Targets())
        {
            if (PeerAddress is not null && devices.Count > 1)
            {
                WriteVfioError(new VfioMigrationException($"-PeerAddress pairs with one device, but {devices.Count} were given ({string.Join(", ", devices.Select(d => d.Address))}).",
                    VfioErrors.PeerWithSeveralDevices, PeerAddress), PeerAddress);
                continue;
            }
            DeviceIdentity? peer = null;
            if (PeerAddress is not null)
            {
                peer = this.Resolve(session, new[] { PeerAddress }).FirstOrDefault();
                if (peer is null) continue;
                if (devices.Any(d => string.Equals(d.Address, peer.Address, StringComparison.OrdinalIgnoreCase)))
                {
                    WriteVfioError(new VfioMigrationException($"-PeerAddress {peer.Address} is the device under test; name a second device, or leave -PeerAddress out to restore into the device itself.",
                        VfioErrors.PeerIsDevice, peer.Address), peer.Address);
                    continue;
                }
            }
            foreach (var device in devices)
            {
                if (Cancellation.IsCancellationRequested) return;
                string action = "Run the migration conformance suite: reset the device and move it through every migration state; its migration state and any open session are lost"
                                + (peer is null ? "" : $"; {peer.Address} is reset and restored into as well");
                if (!this.ShouldProcessOrRefuse(device.Address, action)) continue;
                RunOne(session, device, peer);
            }
        }
    }

    private void RunOne(VfioHostSession session, DeviceIdentity device, DeviceIdentity? peer)
    {
        // A fresh open: the session's own handle goes first, so "in use" can only mean another process, and
        // the state the device reports first is the state of a freshly opened device.
        session.Close(device.Address);
        if (peer is not null) session.Close(peer.Address);
        IVfioDeviceTransport? t = null, pt = null;
        ConformanceSuite? suite = null;
        string? outcome = null;
        try
        {
            // The run changes and resets devices like any state-changing cmdlet: not when the audit log is refused.
            try
            {
                session.EnsureAuditable(device.Address);
                if (peer is not null) session.EnsureAuditable(peer.Address);
            }
            catch (VfioMigrationException e)
            {
                this.DrainLog();
                WriteVfioError(e, device.Address);
                return;
            }
            t = Open(session, device.Address);
            if (t is null) return;
            if (peer is not null && (pt = Open(session, peer.Address)) is null) return;
            var given = t;
            suite = new ConformanceSuite(t, pt, session.Backend.Observe(device.Address),
                peer is null ? null : session.Backend.Observe(peer.Address), Module.Log)
            {
                Areas = Area,
                // The suite disposes the handle this returns; the one it was given is closed here.
                Reopen = () => { given.Dispose(); return session.Backend.Open(device.Address); },
            };
            var results = suite.Run(r => { WriteObject(r); this.DrainLog(); }, Cancellation);
            this.DrainLog();
            int passed = results.Count(r => r.Outcome == ConformanceOutcome.Passed);
            int failed = results.Count(r => r.Outcome == ConformanceOutcome.Failed);
            int na = results.Count(r => r.Outcome == ConformanceOutcome.NotApplicable);
            string left = suite.FinalState is { } s ? $"left {s}" : suite.Protocol == Protocol.MigrationProtocol.None ? "no migration state" : "state unknown";
            string summary = $"{device.Address}: {results.Count} checks, {passed} passed, {failed} failed, {na} not applicable ({suite.Protocol}, {suite.Capabilities}); {left}";
            outcome = $"ok: {results.Count} checks, {passed} passed, {failed} failed, {na} not applicable";
            WriteInformation(new HostInformationMessage { Message = summary }, new[] { "PSHOST", "VfioConformanceSummary" });
            // A device the suite brought back to Running after all is no error, only worth a word about its driver.
            if (suite.FinalProblem is { } recovered && suite.FinalState == Protocol.MigrationState.Running)
                WriteWarning($"{device.Address}: {recovered}; a state change brought it back to Running. Check the device's driver.");
            else if (suite.FinalProblem is { } problem)
                WriteVfioError(new VfioMigrationException($"{device.Address}: {problem}. Reset-VfioDevice{(session.Backend.IsSimulated ? " -Simulated" : "")} and check the device's driver.",
                    VfioErrors.DeviceLeftInState, device.Address), device.Address);
        }
        catch (OperationCanceledException)
        {
            outcome = "stopped: closing the device resets it";
            WriteWarning($"{device.Address}: the conformance run was stopped; closing the device resets it.");
            throw new PipelineStoppedException();
        }
        finally
        {
            pt?.Dispose();
            t?.Dispose();
            if (suite is not null) Audit(session, device, peer, suite, outcome ?? "failed: the run ended with an error");
        }
    }

    /// <summary>
    /// The audit records of a run that touched the device: the run (state found, how many state changes) and the
    /// final reset (state left), and for a peer that it was restored into and reset.
    /// </summary>
    private void Audit(VfioHostSession session, DeviceIdentity device, DeviceIdentity? peer, ConformanceSuite suite, string outcome)
    {
        session.AuditOperation(device.Address, "conformance", suite.InitialState, null,
            $"{outcome}; {suite.StateChanges} state changes{(peer is null ? "" : $", stream restored into {peer.Address}")}");
        if (suite.Protocol != Protocol.MigrationProtocol.None)
            session.AuditOperation(device.Address, "reset", null, suite.FinalState, suite.FinalProblem is { } p ? $"failed: {p}" : "ok: the conformance run's final VFIO_DEVICE_RESET");
        if (peer is not null)
            session.AuditOperation(peer.Address, "conformance", null, null, $"{outcome}; peer of {device.Address}: reset and restored into, then closed (which resets it)");
        this.DrainLogQuietly(); // also after Ctrl+C, when the pipeline takes no more records
    }

    private IVfioDeviceTransport? Open(VfioHostSession session, string address)
    {
        try
        {
            return session.Backend.Open(address);
        }
        catch (VfioMigrationException e) when (e.Error == VfioErrors.DeviceBusy || e.Error == VfioErrors.DeviceInUse)
        {
            WriteVfioError(new VfioMigrationException(
                $"{address} is open in another process (its group is held, e.g. by a running VM); the conformance suite needs the device to itself and never forces it.",
                VfioErrors.DeviceInUse, address, e), address);
            return null;
        }
        catch (VfioMigrationException e)
        {
            WriteVfioError(e, address);
            return null;
        }
    }
}
