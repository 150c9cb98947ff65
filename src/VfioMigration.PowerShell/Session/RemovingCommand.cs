using System.Management.Automation;
using System.Reflection;

namespace VfioMigration.PowerShell.Session;

/// <summary>
/// The command whose run removes the module (Remove-Module, Import-Module -Force), for the module's OnRemove hook
/// (VfioMigration.psm1) to write its warnings through: that command's -WarningAction and -WarningVariable then
/// apply, as users expect of `Remove-Module VfioMigration -WarningAction SilentlyContinue`. PowerShell runs the hook
/// inside that command without a pipeline or preference of its own, and offers no public way to reach it, so this
/// reads the engine's current command processor by reflection; where that fails (another PowerShell version), it
/// returns null and the hook warns as before.
/// </summary>
public static class RemovingCommand
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    /// <summary>The cmdlet running now in the engine of <paramref name="engine"/> ($ExecutionContext), or null.</summary>
    public static Cmdlet? Of(EngineIntrinsics engine)
    {
        try
        {
            var context = engine.GetType().GetField("_context", Instance)?.GetValue(engine);
            var processor = context?.GetType().GetProperty("CurrentCommandProcessor", Instance)?.GetValue(context);
            return processor?.GetType().GetProperty("Command", Instance)?.GetValue(processor) as Cmdlet;
        }
        catch (Exception e) when (e is TargetInvocationException or MemberAccessException or AmbiguousMatchException)
        {
            return null;
        }
    }
}
