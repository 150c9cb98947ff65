using System.Management.Automation;
using System.Management.Automation.Runspaces;

/// <summary>The module in a PowerShell engine hosted in this process, as a user's session would have it.</summary>
internal sealed class HostedShell : IDisposable
{
    private readonly Runspace _runspace;

    public HostedShell()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(new[] { Manifest });
        _runspace = RunspaceFactory.CreateRunspace(iss);
        _runspace.Open();
    }

    public static string Manifest => Path.Combine(AppContext.BaseDirectory, "module", "VfioMigration.psd1");

    public (List<PSObject> Output, List<ErrorRecord> Errors, List<string> Warnings) Run(string script)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _runspace;
        ps.AddScript(script);
        var output = ps.Invoke().ToList();
        // Copied: disposing the shell empties its streams.
        return (output, ps.Streams.Error.ToList(), ps.Streams.Warning.Select(w => w.Message).ToList());
    }

    /// <summary>Removes and imports the module again: the session closes every device it held, as a new session would start.</summary>
    public void Reload()
    {
        var (_, errors, _) = Run($"Remove-Module VfioMigration; Import-Module '{Manifest}'");
        if (errors.Count > 0) throw new InvalidOperationException("reloading the module: " + string.Join("; ", errors));
    }

    public void Dispose() => _runspace.Dispose();
}
