using System.Management.Automation;

namespace VfioMigration.PowerShell.Commands;

/// <summary>Disarms every fault on simulated devices.</summary>
[Cmdlet(VerbsCommon.Clear, "VfioSimulatedFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = ByAddress)]
[OutputType(typeof(void))]
public sealed class ClearVfioSimulatedFaultCommand : DeviceTargetCmdlet
{
    protected override void Begin() => Simulated = true;

    protected override void EndProcessing()
    {
        foreach (var (_, devices) in Targets())
            foreach (var id in devices)
            {
                if (!this.ShouldProcessOrRefuse(id.Address, "Clear armed faults")) continue;
                var device = Module.SimulatedHost[id.Address];
                lock (device.SyncRoot)
                {
                    device.Faults.Clear();
                    if (device.Ccw is { } ccw) ccw.NextProgramHangs = false;
                }
            }
    }
}
