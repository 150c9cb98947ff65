using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace VfioMigration.PowerShell.Session;

/// <summary>Remove-Module closes every device the module opened in this runspace.</summary>
public sealed class ModuleLifetime : IModuleAssemblyCleanup
{
    public void OnRemove(PSModuleInfo psModuleInfo) => ModuleState.Remove(Runspace.DefaultRunspace?.InstanceId ?? Guid.Empty);
}
