using System.Globalization;
using System.Management.Automation;
using VfioMigration.Backends.Simulated;
using VfioMigration.PowerShell.Errors;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Arms a fault on simulated devices, so a runbook's failure paths can be rehearsed: the n-th region access,
/// feature call, stream read or write, or transition fails (optionally into Error); a save stream is cut short
/// or corrupted; a ccw channel program never completes.
/// </summary>
[Cmdlet(VerbsCommon.Add, "VfioSimulatedFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(FaultRule))]
public sealed class AddVfioSimulatedFaultCommand : DeviceTargetCmdlet
{
    [Parameter]
    [Binding.OneName(typeof(FaultPoint))]
    public FaultPoint Point { get; set; } = FaultPoint.Transition;

    [Parameter]
    [Binding.InRange(1, int.MaxValue)]
    public int Nth { get; set; } = 1;

    /// <summary>An errno name (EIO, EINVAL, ...) or number.</summary>
    [Parameter]
    [Binding.NotEmpty("an errno name (EIO, EINVAL, ...) or a positive number")]
    public string Errno { get; set; } = "EIO";

    [Parameter]
    [Binding.OneName(typeof(MigrationState))]
    public MigrationState? ArcFrom { get; set; }

    [Parameter]
    [Binding.OneName(typeof(MigrationState))]
    public MigrationState? ArcTo { get; set; }

    [Parameter]
    public SwitchParameter EnterError { get; set; }

    [Parameter]
    [Binding.InRange(0, long.MaxValue)]
    public long? TruncateSaveStreamAt { get; set; }

    [Parameter]
    [Binding.InRange(0, long.MaxValue)]
    public long? CorruptSaveStreamAt { get; set; }

    [Parameter]
    public SwitchParameter HangNextChannelProgram { get; set; }

    protected override void Begin() => Simulated = true;

    protected override void EndProcessing()
    {
        int errno = ParseErrno(Errno);
        if (errno <= 0)
        {
            this.Terminate(ErrorRecords.For(new VfioMigrationException(
                $"'{Errno}' is not an errno; use a name such as EIO, EINVAL, ENODEV, ETIMEDOUT, or a positive number.", VfioErrors.InvalidFault), Errno));
        }
        bool streamOrCcw = TruncateSaveStreamAt is not null || CorruptSaveStreamAt is not null || HangNextChannelProgram;
        foreach (var (_, devices) in Targets())
            foreach (var id in devices)
            {
                var device = Module.SimulatedHost[id.Address];
                if (HangNextChannelProgram && device.Ccw is null)
                {
                    WriteVfioError(new VfioMigrationException($"{id.Address} is not a ccw device; -HangNextChannelProgram applies to ccw subchannels.", VfioErrors.InvalidFault, id.Address), id.Address);
                    continue;
                }
                var rule = new FaultRule(Point, Nth, errno) { ArcFrom = ArcFrom, ArcTo = ArcTo, EnterError = EnterError };
                string what = streamOrCcw ? "Arm stream/channel fault" : $"Arm fault {rule}";
                if (!this.ShouldProcessOrRefuse(id.Address, what)) continue;
                lock (device.SyncRoot)
                {
                    if (TruncateSaveStreamAt is { } cut) device.Faults.TruncateSaveStreamAt = cut;
                    if (CorruptSaveStreamAt is { } at) device.Faults.CorruptSaveStreamAt = at;
                    if (HangNextChannelProgram && device.Ccw is { } ccw) ccw.NextProgramHangs = true;
                    if (!streamOrCcw || MyInvocation.BoundParameters.ContainsKey(nameof(Point)))
                    {
                        device.Faults.Arm(rule);
                        WriteObject(rule);
                    }
                }
            }
    }

    private static int ParseErrno(string s)
    {
        if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)) return n;
        var field = typeof(Protocol.Errno).GetField(s.Trim().ToUpperInvariant());
        return field?.GetValue(null) is int v ? v : -1;
    }
}
