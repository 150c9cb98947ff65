using System.Management.Automation;
using VfioMigration.Inventory;

namespace VfioMigration.PowerShell.Commands;

/// <summary>VFIO_DEVICE_RESET: the way out of the Error state. Discards the device's migration state and session.</summary>
[Cmdlet(VerbsCommon.Reset, "VfioDevice", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(VfioDevice))]
public sealed class ResetVfioDeviceCommand : DeviceTargetCmdlet
{
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void EndProcessing()
    {
        foreach (var (session, devices) in Targets())
        foreach (var device in devices)
        {
            if (Cancellation.IsCancellationRequested) return;
            if (!ShouldProcess(device.Address, "Reset device (VFIO_DEVICE_RESET): back to Running, any migration session discarded")) continue;
            if (!Force && !ShouldContinue($"Resetting {device.Address} discards its migration state and any save or restore in progress. Continue?", "Reset VFIO device")) continue;
            try
            {
                session.Reset(device.Address);
                DrainLog();
                if (PassThru) WriteObject(session.Describe(device));
            }
            catch (VfioMigrationException e)
            {
                DrainLog();
                WriteVfioError(e, device.Address);
            }
        }
    }
}
