using System.Management.Automation;
using VfioMigration.PowerShell.Errors;

namespace VfioMigration.PowerShell.Commands;

/// <summary>Removes devices from the session's simulated host (closing them first, which resets them).</summary>
[Cmdlet(VerbsCommon.Remove, "VfioSimulatedDevice", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(void))]
public sealed class RemoveVfioSimulatedDeviceCommand : DeviceTargetCmdlet
{
    protected override void Begin() => Simulated = true;

    protected override void EndProcessing()
    {
        foreach (var (session, devices) in Targets())
        {
            if (!session.Backend.IsSimulated)
            {
                this.Terminate(ErrorRecords.For(new VfioMigrationException("Remove-VfioSimulatedDevice removes simulated devices only.", VfioErrors.NotSimulated), null));
            }
            foreach (var device in devices)
            {
                if (!this.ShouldProcessOrRefuse(device.Address, "Remove simulated device")) continue;
                try
                {
                    session.Close(device.Address);
                    Module.SimulatedHost.Remove(device.Address);
                }
                catch (VfioMigrationException e)
                {
                    WriteVfioError(e, device.Address);
                }
            }
        }
    }
}
