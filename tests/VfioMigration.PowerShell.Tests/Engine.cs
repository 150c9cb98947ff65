using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;

namespace VfioMigration.PowerShell.Tests;

/// <summary>
/// The real PowerShell engine in the test process, with the built module imported from its manifest and nothing
/// from the machine's module path. One runspace per test class instance, so each test starts with a fresh
/// simulated host.
/// </summary>
public sealed class Engine : IDisposable
{
    public static string ModuleDirectory { get; } = Path.GetFullPath(Metadata("ModuleDirectory"));
    public static string RepositoryRoot { get; } = Path.GetFullPath(Metadata("RepositoryRoot"));
    public static string Manifest => Path.Combine(ModuleDirectory, "VfioMigration.psd1");

    private readonly Runspace _runspace;

    public Engine(TestHost? host = null)
    {
        Environment.SetEnvironmentVariable("PSModulePath", ModuleDirectory);
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(new[] { Manifest });
        iss.Variables.Add(new SessionStateVariableEntry("PSModuleAutoloadingPreference", "None", ""));
        Host = host ?? new TestHost();
        _runspace = RunspaceFactory.CreateRunspace(Host, iss);
        _runspace.Open();
    }

    public TestHost Host { get; }
    public Runspace Runspace => _runspace;

    /// <summary>Runs a script; returns the output and the PowerShell object for its streams.</summary>
    public (Collection<PSObject> Output, System.Management.Automation.PowerShell Shell) Run(string script)
    {
        var ps = System.Management.Automation.PowerShell.Create();
        ps.Runspace = _runspace;
        ps.AddScript(script);
        var output = ps.Invoke();
        return (output, ps);
    }

    /// <summary>Runs a script that must not write errors; returns its output.</summary>
    public Collection<PSObject> Ok(string script)
    {
        var (output, ps) = Run(script);
        Assert.True(ps.Streams.Error.Count == 0, string.Join("\n", ps.Streams.Error.Select(e => $"{e.FullyQualifiedErrorId}: {e}")));
        return output;
    }

    /// <summary>A script's single error record.</summary>
    public ErrorRecord OneError(string script)
    {
        var (_, ps) = Run(script);
        return Assert.Single(ps.Streams.Error);
    }

    public T Value<T>(string script) => (T)Ok(script).Single().BaseObject;

    private static string Metadata(string key) =>
        typeof(Engine).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    public void Dispose()
    {
        _runspace.Dispose();
    }
}
