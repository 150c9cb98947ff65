using System.Management.Automation;
using System.Reflection;

namespace VfioMigration.PowerShell.Tests;

/// <summary>
/// SIGTERM and SIGHUP clean up like Ctrl+C only inside <c>VfioCmdlet.RunTerminable</c>; outside it .NET ends the
/// process at once, leaving a half-written file and its lock, or a device mid-sequence (attack finding 1: Export
/// wrote gigabytes and left them). Every cmdlet that changes something (SupportsShouldProcess) must run its work
/// there, but those that change only this process's simulator.
/// </summary>
public sealed class SignalCoverageTests
{
    /// <summary>The simulator's cmdlets change only state that ends with the process itself.</summary>
    private static readonly string[] ProcessLocalOnly =
        ["New-VfioSimulatedDevice", "Remove-VfioSimulatedDevice", "Add-VfioSimulatedFault", "Clear-VfioSimulatedFault"];

    [Fact]
    public void EveryCmdletThatChangesSomethingRunsItsWorkWhereSignalsCleanUp()
    {
        var module = Assembly.LoadFrom(Path.Combine(Engine.ModuleDirectory, "VfioMigration.PowerShell.dll"));
        var runTerminable = module.GetType("VfioMigration.PowerShell.Commands.VfioCmdlet", throwOnError: true)!
            .GetMethod("RunTerminable", BindingFlags.Instance | BindingFlags.NonPublic)!;
        var acting = module.GetTypes()
            .Where(t => !t.IsAbstract && t.GetCustomAttribute<CmdletAttribute>() is { SupportsShouldProcess: true })
            .ToArray();
        Assert.Contains(acting, t => t.Name == "ExportVfioQemuStreamCommand");
        var missing = acting
            .Where(t => !ProcessLocalOnly.Contains($"{t.GetCustomAttribute<CmdletAttribute>()!.VerbName}-{t.GetCustomAttribute<CmdletAttribute>()!.NounName}"))
            .Where(t => !Calls(t, runTerminable))
            .Select(t => t.Name).Order().ToArray();
        Assert.True(missing.Length == 0, "cmdlets that change something outside RunTerminable: " + string.Join(", ", missing));
    }

    /// <summary>Whether a method the type declares calls <paramref name="target"/> (call or callvirt in its IL).</summary>
    private static bool Calls(Type type, MethodInfo target)
    {
        const BindingFlags declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        foreach (var method in type.GetMethods(declared))
        {
            var il = method.GetMethodBody()?.GetILAsByteArray();
            if (il is null) continue;
            for (int i = 0; i + 4 < il.Length; i++)
            {
                if (il[i] != 0x28 && il[i] != 0x6F) continue; // call, callvirt
                int token = BitConverter.ToInt32(il, i + 1);
                try
                {
                    if (type.Module.ResolveMethod(token) is MethodInfo m && m == target) return true;
                }
                catch (Exception e) when (e is ArgumentException or BadImageFormatException) { }
            }
        }
        return false;
    }
}
