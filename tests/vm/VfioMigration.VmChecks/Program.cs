using System.Buffers.Binary;
using VfioMigration;
using VfioMigration.Backends.Linux;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

// Runs inside the test guest: the project's discovery and Linux transport against the real kernel, on QEMU's
// "edu" devices (1234:11e8) bound to vfio-pci behind an emulated Intel IOMMU. Each check prints "run  <name>" as
// it starts (run-guest.sh names the running check when the guest runs out of time) and "ok   <name>" or
// "FAIL <name>: why" as it ends; the last line is "vm-checks: N passed, M failed"; the exit code is the number of
// failures. "only GROUP[,GROUP]" runs some groups: edu (with the group checks), module, mtty, holders, qemu,
// answers.
if (args is ["leave", var leaveUuid, var leaveState]) return MttyChecks.Leave(leaveUuid, leaveState);
string[] groups = ["edu", "module", "mtty", "holders", "qemu", "qemu-roundtrip", "answers"];
string[] optIn = [];
var only = args is ["only", var list] ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : groups;
if (args.Length > 0 && args is not ["only", _] || only.Except(groups).Except(optIn).Any())
{
    Console.Error.WriteLine($"usage: VfioMigration.VmChecks [only GROUP[,GROUP]] (groups: {string.Join(", ", groups)}; opt-in: {string.Join(", ", optIn)})");
    return 2;
}
bool Want(string group) => only.Contains(group);

int passed = 0, failed = 0;
var since = System.Diagnostics.Stopwatch.StartNew();
void Phase(string what) => Console.Error.WriteLine($"time: {since.Elapsed.TotalSeconds:F1} s into the checks: {what} ({(DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalSeconds:F1} s since the process started)");
Phase("start");
void Check(string name, Func<string?> body)
{
    string? problem;
    Console.WriteLine($"run  {name}");
    var clock = System.Diagnostics.Stopwatch.StartNew();
    try { problem = body(); }
    catch (Exception e) { problem = $"{e.GetType().Name}: {e.Message}"; }
    if (clock.Elapsed.TotalSeconds >= 2) Console.Error.WriteLine($"time: {clock.Elapsed.TotalSeconds:F1} s for {name}");
    if (problem is null) { passed++; Console.WriteLine($"ok   {name}"); }
    else { failed++; Console.WriteLine($"FAIL {name}: {problem}"); }
}

var discovery = new SysfsDiscovery();
var devices = discovery.Enumerate();
var allEdu = devices.Where(d => d.VendorId == "1234" && d.DeviceId == "11e8").ToArray();
// Two edu devices alone in their groups (one behind a root port, one on the root complex), and two functions of
// one multifunction device that share a group.
var pair = allEdu.Where(d => allEdu.Count(o => o.IommuGroup == d.IommuGroup) == 2).ToArray();
var edu = allEdu.Except(pair).ToArray();

Console.WriteLine($"kernel: {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, mdevs: {Environment.GetEnvironmentVariable("VFIO_VM_MDEVS")?.Trim()}");
// What the guest has, for the test run's summary (RealKernelTests reads it).
int mdevCount = Environment.GetEnvironmentVariable("VFIO_VM_MDEVS")?.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length ?? 0;
Console.WriteLine($"devices: {allEdu.Length} edu on vfio-pci, {mdevCount} mtty mdevs");

if (Want("edu"))
{
    Check("discovery lists the edu devices bound to vfio-pci", () =>
        allEdu.Length == 4 && edu.Length == 2 && pair.Length == 2 && allEdu.All(d => d.Driver == "vfio-pci" && d.IsVfioBound && d.Kind == VfioDeviceKind.Pci)
            ? null : $"found {string.Join(", ", devices.Select(d => $"{d.Address} {d.VendorId}:{d.DeviceId} {d.Driver} group {d.IommuGroup}"))}");

    Check("discovery reads each group from the iommu_group link and finds its node", () =>
    {
        foreach (var d in edu)
        {
            var link = new FileInfo($"/sys/bus/pci/devices/{d.Address}/iommu_group").LinkTarget;
            if (d.IommuGroup?.ToString() != Path.GetFileName(link)) return $"{d.Address}: group {d.IommuGroup}, link {link}";
            if (d.GroupNode != $"/dev/vfio/{d.IommuGroup}" || !File.Exists(d.GroupNode)) return $"{d.Address}: group node {d.GroupNode}";
            if (d.NoIommu) return $"{d.Address}: reported as no-IOMMU";
        }
        return null;
    });

    Check("-All adds the other PCI functions as candidates", () =>
    {
        var all = discovery.Enumerate(includeUnbound: true);
        return all.Count > edu.Length && all.Any(d => !d.IsVfioBound) ? null : $"{all.Count} devices, none unbound";
    });

    var backend = new LinuxBackend(discovery);
    foreach (var d in edu)
    {
        using var t = backend.Open(d.Address);
        var calls = new CheckedDeviceCalls(t);

        Check($"{d.Address}: VFIO_DEVICE_GET_INFO reports a PCI device with its regions", () =>
        {
            var info = calls.GetDeviceInfo();
            return info.IsPci && info.NumRegions >= VfioUapi.PciNumRegions && info.NumIrqs >= 1 ? null : $"flags 0x{info.Flags:x}, {info.NumRegions} regions, {info.NumIrqs} irqs";
        });

        Check($"{d.Address}: config space reads 1234:11e8 through pread at the config region's offset", () =>
        {
            var config = calls.GetRegionInfo(VfioUapi.PciConfigRegionIndex) ?? throw new InvalidOperationException("no config region");
            var ids = new byte[4];
            calls.ReadExact((long)config.Offset, ids, "vendor/device");
            uint v = BinaryPrimitives.ReadUInt16LittleEndian(ids), dev = BinaryPrimitives.ReadUInt16LittleEndian(ids.AsSpan(2));
            return v == 0x1234 && dev == 0x11e8 && config.Size >= 256 && config.CanRead && config.CanWrite ? null : $"{v:x4}:{dev:x4}, size {config.Size}, flags 0x{config.Flags:x}";
        });

        Check($"{d.Address}: BAR0 region info is right and its identification register reads", () =>
        {
            var bar0 = calls.GetRegionInfo(0) ?? throw new InvalidOperationException("no BAR0");
            var id = new byte[4];
            calls.ReadExact((long)bar0.Offset, id, "edu identification");
            uint value = BinaryPrimitives.ReadUInt32LittleEndian(id);
            return bar0.Size == 1 << 20 && bar0.CanRead && bar0.Offset == 0 && (value & 0xff) == 0xed ? null : $"size {bar0.Size}, offset 0x{bar0.Offset:x}, id 0x{value:x8}";
        });

        Check($"{d.Address}: the VGA region index is refused (not a VGA device)", () =>
            calls.GetRegionInfo(8) is null ? null : "region 8 answered");

        Check($"{d.Address}: PROBE of the MIGRATION feature answers ENOTTY", () =>
        {
            var probe = DeviceFeatureBuffer.Create(VfioUapi.FeatureMigration, VfioUapi.FeatureProbe | VfioUapi.FeatureGet, 0);
            int rc = t.Feature(probe);
            var shortArg = DeviceFeatureBuffer.Create(VfioUapi.FeatureMigration, VfioUapi.FeatureGet, 0);
            BinaryPrimitives.WriteUInt32LittleEndian(shortArg, 4);
            int rcShort = t.Feature(shortArg);
            return rc == -Errno.ENOTTY && rcShort == -Errno.EINVAL ? null : $"probe {rc}, argsz 4 {rcShort}";
        });

        var migration = MigrationDriverFactory.Open(t);
        Check($"{d.Address}: the migration probe reports no migration", () =>
            migration.Protocol == MigrationProtocol.None ? null : $"protocol {migration.Protocol}");

        Check($"{d.Address}: a state change fails with the clear error", () =>
        {
            try { migration.RequestState(MigrationState.Stop); return "the state change succeeded"; }
            catch (VfioMigrationException e) { return e.ErrorId == "MigrationNotSupported" && e.Message.Contains("does not support migration") ? null : $"{e.ErrorId}: {e.Message}"; }
        });

        var info = calls.GetDeviceInfo();
        Check($"{d.Address}: reset {(info.CanReset ? "succeeds" : "fails clearly")} (VFIO_DEVICE_FLAGS_RESET = {info.CanReset})", () =>
        {
            try
            {
                migration.Reset();
                return info.CanReset ? null : "reset succeeded on a device without reset support";
            }
            catch (VfioCallException e)
            {
                return !info.CanReset && e.Errno == Errno.EINVAL && e.Message.Contains("VFIO_DEVICE_RESET") ? null : $"{e.ErrorId}: {e.Message}";
            }
        });

        Check($"{d.Address}: a second open of the group is reported as in use", () =>
        {
            try { using var again = new LinuxBackend().Open(d.Address); return "the second open succeeded"; } // another opener: as a second process
            catch (VfioMigrationException e) { return e.ErrorId == "DeviceBusy" && e.Message.Contains("in use by another process") ? null : $"{e.ErrorId}: {e.Message}"; }
        });
    }

    Check("the resettable device is the one behind the root port", () =>
    {
        var resettable = edu.Where(d => { using var t = backend.Open(d.Address); return new CheckedDeviceCalls(t).GetDeviceInfo().CanReset; }).Select(d => d.Address).ToArray();
        return resettable.Length == 1 && !resettable[0].StartsWith("0000:00:", StringComparison.Ordinal) ? null : $"resettable: {string.Join(", ", resettable)}";
    });

    Check("Test-VfioMigration's analysis names plain vfio-pci as the blocker", () =>
    {
        using var session = new VfioHostSession(backend);
        var r = MigrationReadinessCheck.Check(session, new[] { edu[0] })[0];
        return !r.CanMigrate && r.Blockers.Any(b => b.Code == "PlainVfioPci") ? null : string.Join("; ", r.Blockers.Select(b => b.Code));
    });

    Check("the host session describes a real device with its state unreadable only for want of migration", () =>
    {
        using var session = new VfioHostSession(backend);
        var d = session.Describe(edu[0].Address);
        return d.Protocol == MigrationProtocol.None && d.State is null && !d.IsSimulated && d.IommuGroup == edu[0].IommuGroup ? null : $"{d.Protocol} {d.State} {d.StateError}";
    });
}

if (Want("edu"))
{
    Phase("edu checks done");
    GroupChecks.Run(Check, pair);
}
var mdevs = Environment.GetEnvironmentVariable("VFIO_VM_MDEVS")?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
// One PowerShell engine for all cmdlet checks: starting one under emulation takes tens of seconds.
if (Want("module") || (Want("mtty") || Want("holders")) && mdevs.Length >= 2)
{
    using var shell = new HostedShell();
    Phase("PowerShell engine started");
    if (Want("module"))
    {
        ModuleChecks.Run(Check, shell, edu.Select(d => d.Address).ToArray(), allEdu.Length);
        Phase("module checks done");
        shell.Reload();
    }
    if (Want("mtty") && mdevs.Length >= 2)
    {
        MttyChecks.Run(Check, shell, mdevs);
        Phase("mtty checks done");
    }
    if (Want("holders") && mdevs.Length >= 2)
    {
        HolderChecks.Run(Check, shell, mdevs);
        Phase("holder checks done");
    }
}
// After the mtty checks, which leave both mdevs Running and free. Says whether QEMU is here in every guest.
if (Want("qemu"))
{
    QemuChecks.Run(Check, mdevs);
    Phase("QEMU checks done");
}
// QEMU 10 and the module on the same mdevs: the damaged stream always, the round trips when asked for.
if (Want("qemu") || Want("qemu-roundtrip"))
{
    QemuRoundTripChecks.Run(Check, mdevs, roundTrips: Want("qemu-roundtrip"));
    Phase("QEMU round-trip checks done");
}

// Last: calls the module refuses, asked of the kernel directly (a kernel that locks up panics after every result is in).
if (Want("answers") && mdevs.Length >= 1)
    KernelAnswerChecks.Run(Check, mdevs[0]);

Phase("all done");
Console.WriteLine($"vm-checks: {passed} passed, {failed} failed");
return failed;
