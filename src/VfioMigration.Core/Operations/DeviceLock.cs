using System.Runtime.CompilerServices;
using VfioMigration.Drivers;

namespace VfioMigration.Operations;

/// <summary>
/// One operation per device at a time: a save, restore or state change holds its devices from start to end, and
/// another caller gets <c>DeviceBusy</c> instead of interleaving its calls with ours (two saves of one device
/// would split one stream between two images). Keyed on the device's driver object, which a
/// <see cref="VfioHostSession"/> hands out once per device; re-entrant on the holding thread, since a save
/// runs a state change inside itself. Another process cannot open a VFIO device a session holds (the group or
/// cdev is exclusive), and each PowerShell runspace has its own simulated host.
/// </summary>
public static class DeviceLock
{
    private sealed class Gate
    {
        public int Owner;
        public int Depth;
        public string? Operation;
    }

    private static readonly ConditionalWeakTable<IDeviceMigration, Gate> Gates = new();

    /// <summary>Takes every device's lock, or none: <c>DeviceBusy</c> names the first device another operation holds.</summary>
    public static IDisposable Acquire(IEnumerable<IDeviceMigration> devices, string operation)
    {
        var taken = new List<Gate>();
        int me = Environment.CurrentManagedThreadId;
        foreach (var device in devices.Distinct())
        {
            var gate = Gates.GetValue(device, _ => new Gate());
            lock (gate)
            {
                if (gate.Depth > 0 && gate.Owner != me)
                {
                    Release(taken);
                    throw new VfioMigrationException(
                        $"{device.Address}: the device is busy: a {gate.Operation} of it is in progress in this process; try again when it has finished.",
                        VfioErrors.DeviceBusy, device.Address);
                }
                gate.Owner = me;
                if (gate.Depth++ == 0) gate.Operation = operation;
            }
            taken.Add(gate);
        }
        return new Holder(taken);
    }

    private static void Release(List<Gate> gates)
    {
        foreach (var gate in gates)
            lock (gate)
                if (--gate.Depth == 0) gate.Operation = null;
        gates.Clear();
    }

    private sealed class Holder(List<Gate> gates) : IDisposable
    {
        public void Dispose() => Release(gates);
    }
}
