using System.Management.Automation;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// A set cmdlet whose set may stop its devices (Set- and Save-VfioDeviceState): every member quiesces peer-to-peer
/// DMA before any stops (Operations.QuiesceRules), and -SkipQuiesceCheck goes ahead although one cannot.
/// </summary>
/// <remarks>The description of -SkipQuiesceCheck differs per cmdlet; it lives in each cmdlet's MAML help.</remarks>
public abstract class QuiescingSetCmdlet : DeviceSetCmdlet
{
    [Parameter]
    public SwitchParameter SkipQuiesceCheck { get; set; }

    protected override void Begin()
    {
        base.Begin();
        this.RequireWith(SkipQuiesceCheck, "SkipQuiesceCheck", Together, "Together");
    }
}
