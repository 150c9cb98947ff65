using System.Collections.Concurrent;
using System.Management.Automation.Runspaces;
using VfioMigration.Backends.Linux;
using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Logging;

namespace VfioMigration.PowerShell.Session;

/// <summary>
/// What the module holds for one runspace: the simulated host (made with the default devices on first use) and
/// the devices it has open. Devices stay open for the life of the runspace, because a device's migration state
/// lives only while it is open; they are closed when the module is removed or the runspace closes.
/// </summary>
public sealed class ModuleState : IDisposable
{
    private static readonly ConcurrentDictionary<Guid, ModuleState> ByRunspace = new();
    private VfioHostSession? _simulated;
    private VfioHostSession? _real;

    private ModuleState() { }

    public LogQueue Log { get; } = new();

    public static ModuleState Current
    {
        get
        {
            var runspace = Runspace.DefaultRunspace;
            var id = runspace?.InstanceId ?? Guid.Empty;
            return ByRunspace.GetOrAdd(id, _ =>
            {
                if (runspace is not null) runspace.StateChanged += OnRunspaceStateChanged;
                return new ModuleState();
            });
        }
    }

    /// <summary>The session over the simulated host, made on first use.</summary>
    public VfioHostSession Simulated =>
        _simulated ??= new VfioHostSession(new SimulatedBackend(SimulatedHost), Log, AuditLog.FromEnvironment());

    private SimulatedHost? _simulatedHost;

    /// <summary>The simulated host itself (its devices and faults), made with the default devices on first use; kept typed so no cmdlet casts the session's backend.</summary>
    public SimulatedHost SimulatedHost => _simulatedHost ??= SimulatedHost.CreateDefault();

    /// <summary>
    /// The session over this host's real VFIO devices. The sysfs and /dev roots can be moved with
    /// VFIO_MIGRATION_SYSFS_ROOT and VFIO_MIGRATION_DEV_ROOT (for tests and for inspecting a copied tree).
    /// </summary>
    public VfioHostSession Real => _real ??= new VfioHostSession(RealBackend, Log, AuditLog.FromEnvironment());

    private LinuxBackend? _realBackend;

    private LinuxBackend RealBackend => _realBackend ??= new LinuxBackend(new SysfsDiscovery(
        Environment.GetEnvironmentVariable("VFIO_MIGRATION_SYSFS_ROOT") is { Length: > 0 } sys ? sys : "/sys",
        Environment.GetEnvironmentVariable("VFIO_MIGRATION_DEV_ROOT") is { Length: > 0 } dev ? dev : "/dev"));

    /// <summary>The real host's sysfs discovery, to ask whether it offers VFIO at all.</summary>
    public SysfsDiscovery RealDiscovery => RealBackend.Discovery;

    /// <summary>Whether the simulated host exists yet (the completer must not create it as a side effect).</summary>
    public bool HasSimulated => _simulated is not null;

    /// <summary>
    /// Closes every device this runspace's module state holds (Remove-Module, Import-Module -Force) and returns one
    /// warning per device that was left in a state other than Running, saying what closing does to it.
    /// </summary>
    public static IReadOnlyList<string> CloseForRemoval()
    {
        var id = Runspace.DefaultRunspace?.InstanceId ?? Guid.Empty;
        if (!ByRunspace.TryRemove(id, out var state)) return Array.Empty<string>();
        var warnings = new List<string>();
        foreach (var (session, simulated) in new[] { (state._simulated, true), (state._real, false) })
        {
            if (session is null) continue;
            foreach (var (address, now) in session.HeldDevices())
            {
                if (now == Protocol.MigrationState.Running) continue;
                string where = now is { } s ? $"in {s}" : "in a state that could not be read";
                warnings.Add(simulated
                    ? $"Closing simulated device {address}, left {where}: closing ends its migration session and returns it to Running."
                    : $"Closing {address}, left {where}: closing the device ends its migration session; vfio-pci based drivers reset it to Running, while drivers without an open hook (such as mtty) keep the state for the next process to find.");
            }
        }
        state.Dispose();
        return warnings;
    }

    public static void Remove(Guid runspaceId)
    {
        if (ByRunspace.TryRemove(runspaceId, out var state)) state.Dispose();
    }

    private static void OnRunspaceStateChanged(object? sender, RunspaceStateEventArgs e)
    {
        if (e.RunspaceStateInfo.State is RunspaceState.Closed or RunspaceState.Broken && sender is Runspace r)
            Remove(r.InstanceId);
    }

    public void Dispose()
    {
        _simulated?.Dispose();
        _real?.Dispose();
    }
}
