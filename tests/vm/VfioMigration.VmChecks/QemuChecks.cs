using System.Buffers.Binary;
using VfioMigration.Backends.Linux;
using VfioMigration.Drivers;
using VfioMigration.Protocol;
using VfioMigration.Transport;

/// <summary>
/// The QEMU inside the guest (run-guest.sh puts bookworm-backports' QEMU 10 there on mtty kernels): a smoke check
/// that it starts paused with QMP on a unix socket on an mtty mdev, sees the device, and quits leaving it free.
/// The line "qemu: ..." says whether QEMU was there (the test run's summary reports it).
/// </summary>
internal static class QemuChecks
{
    public static void Run(Action<string, Func<string?>> check, string[] mdevs)
    {
        if (InnerQemu.Binary is null)
        {
            Console.WriteLine($"qemu: none ({InnerQemu.WhyMissing})");
            return;
        }
        Console.WriteLine($"qemu: {InnerQemu.PackageVersion} at {InnerQemu.Binary}");
        if (mdevs.Length < 1) return;

        check("QEMU inside the guest starts paused on an mtty mdev with QMP on a unix socket, lists it with its config-space ids, and quits leaving it free", () =>
        {
            ushort vendor, device;
            using (var t = new LinuxBackend().Open(mdevs[0]))
            {
                var calls = new CheckedDeviceCalls(t);
                var config = calls.GetRegionInfo(VfioUapi.PciConfigRegionIndex) ?? throw new InvalidOperationException("the mdev has no config region");
                var ids = new byte[4];
                calls.ReadExact((long)config.Offset, ids, "vendor/device");
                vendor = BinaryPrimitives.ReadUInt16LittleEndian(ids);
                device = BinaryPrimitives.ReadUInt16LittleEndian(ids.AsSpan(2));
            }
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var qemu = InnerQemu.Start(TimeSpan.FromSeconds(120), InnerQemu.MttyDevice(mdevs[0], "mtty0", "4.0"));
            Console.Error.WriteLine($"time: {clock.Elapsed.TotalSeconds:F1} s for QEMU {qemu.Qmp.Version} to answer QMP");
            if (!qemu.Qmp.Version.StartsWith("10.", StringComparison.Ordinal)) return $"QEMU {qemu.Qmp.Version}, not 10.x";
            var status = qemu.Qmp.Execute("query-status");
            if (status.GetProperty("running").GetBoolean() || status.GetProperty("status").GetString() != "prelaunch")
                return $"not paused before launch: {status.GetRawText()}";
            var seen = qemu.Qmp.Execute("query-pci").EnumerateArray()
                .SelectMany(bus => bus.GetProperty("devices").EnumerateArray())
                .Where(d => d.TryGetProperty("qdev_id", out var id) && id.GetString() == "mtty0")
                .ToArray();
            if (seen.Length != 1) return $"query-pci lists {seen.Length} devices named mtty0";
            var ids2 = seen[0].GetProperty("id");
            int slot = seen[0].GetProperty("slot").GetInt32(), qv = ids2.GetProperty("vendor").GetInt32(), qd = ids2.GetProperty("device").GetInt32();
            if (slot != 4 || qv != vendor || qd != device) return $"QEMU lists mtty0 at slot {slot} as {qv:x4}:{qd:x4}; its config space reads {vendor:x4}:{device:x4}";
            int rc = qemu.Quit(TimeSpan.FromSeconds(60));
            if (rc != 0) return $"QEMU exited with {rc} after quit: {qemu.Log}";
            using var again = new LinuxBackend().Open(mdevs[0]);
            using var migration = MigrationDriverFactory.Open(again);
            var state = migration.GetState();
            return state == MigrationState.Running ? null : $"QEMU left the mdev in {state}";
        });
    }
}
