using System.Management.Automation;

namespace VfioMigration.PowerShell.Commands;

/// <summary>VFIO_DEVICE_RESET: the way out of the Error state. Discards the device's migration state and session.</summary>
[Cmdlet(VerbsCommon.Reset, "VfioDevice", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioDevice))]
public sealed class ResetVfioDeviceCommand : DeviceTargetCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Reset a device that holds state restored earlier in this session without asking.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing() => RunTerminable(EndProcessingCore);

    private void EndProcessingCore()
    {
        bool yesToAll = false, noToAll = false;
        foreach (var (session, devices) in Targets())
            foreach (var device in devices)
            {
                if (Cancellation.IsCancellationRequested) return;
                bool holds = session.HoldsRestoredState(device.Address);
                if (!this.ShouldProcessOrRefuse(device.Address, $"Reset device (VFIO_DEVICE_RESET): back to Running, any migration session discarded{(holds ? "; it holds state restored earlier that no save has captured" : "")}")) continue;
                // Only state this session restored, and nobody saved since, is worth a second question.
                if (holds && !this.ConfirmLoss(Force, device.Address, $"{device.Address} holds state restored earlier that no save has captured; a reset may discard it.",
                        "Reset VFIO device", ref yesToAll, ref noToAll))
                    continue;
                try
                {
                    session.Reset(device.Address);
                    this.DrainLog();
                    if (PassThru) WriteObject(session.Describe(device));
                }
                catch (VfioMigrationException e)
                {
                    this.DrainLog();
                    WriteVfioError(e, device.Address);
                }
            }
    }
}
