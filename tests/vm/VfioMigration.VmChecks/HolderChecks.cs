using System.Diagnostics;
using VfioMigration;

/// <summary>
/// Who holds an mdev, seen from another process through the cmdlets (issue 19 item 3): a small holder of our own
/// (a shell that opens the mdev's group node and sleeps: before 6.18 only the fd link names it), and the QEMU inside
/// the guest started as libvirt would name it (<c>-name guest=NAME,debug-threads=on</c>; on 6.18+ its device fd's
/// fdinfo names the mdev). Debian's kernels have no VFIO debugfs, so the state cannot be shown and the device
/// must say so; debugfs is mounted first, so that reason is the kernel's, not a missing mount.
/// </summary>
internal static class HolderChecks
{
    public static void Run(Action<string, Func<string?>> check, HostedShell sh, string[] mdevs)
    {
        MountDebugfs();
        string uuid = mdevs[1];
        string group = Path.GetFileName(new FileInfo($"/sys/bus/mdev/devices/{uuid}/iommu_group").LinkTarget!);

        check("a process holding an mdev's group is named by Get-VfioDevice, which says why it cannot show the mdev's state", () =>
        {
            using var holder = Process.Start(new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", $"exec 3<>/dev/vfio/{group}; exec sleep 600" } })!;
            try
            {
                if (!WaitUntilHeld(group, holder.Id)) return $"the holder (pid {holder.Id}) did not open /dev/vfio/{group}";
                var d = Device(sh, uuid, out string errors);
                if (d is null) return "Get-VfioDevice returned nothing: " + errors;
                var h = d.Holders.SingleOrDefault();
                if (h is null || h.ProcessId != holder.Id || h.Command != "sleep" || h.VmName is not null)
                    return $"holders: {d.HeldBy ?? "none"} (expected sleep, pid {holder.Id}); {d.HoldersProblem}";
                if (!h.Through.Contains($"/dev/vfio/{group}")) return $"held through {h.Through}";
                if (d.HeldState is not null || d.HeldStateProblem?.Contains("CONFIG_VFIO_DEBUGFS") != true)
                    return $"state {d.HeldState}, reason '{d.HeldStateProblem}' (Debian's kernel has no VFIO debugfs)";
                Console.WriteLine($"held: {d.Name} by {d.HeldBy} through {h.Through}; state not shown: {d.HeldStateProblem}");
                return null;
            }
            finally { holder.Kill(); holder.WaitForExit(); }
        });

        if (InnerQemu.Binary is null)
        {
            Console.WriteLine($"holders: no QEMU in this guest ({InnerQemu.WhyMissing}); the VM-name check is not run");
            return;
        }
        check("the QEMU holding an mdev is named with its VM by Get-VfioDevice and by Test-VfioMigration's in-use blocker", () =>
        {
            var args = new List<string> { "-name", "guest=holder-vm,debug-threads=on" };
            args.AddRange(InnerQemu.MttyDevice(uuid, "mtty1", "4.0"));
            using var qemu = InnerQemu.Start(TimeSpan.FromSeconds(120), args.ToArray());
            var d = Device(sh, uuid, out string errors);
            if (d is null) return "Get-VfioDevice returned nothing: " + errors;
            var h = d.Holders.FirstOrDefault(x => x.VmName is not null);
            if (h is null || h.VmName != "holder-vm" || !h.Command.StartsWith("qemu-system", StringComparison.Ordinal))
                return $"holders: {d.HeldBy ?? "none"}; {d.HoldersProblem}";
            bool fdinfo = KernelAtLeast(6, 18);
            if (fdinfo && !h.Through.Contains(uuid)) return $"on 6.18+ the device fd's fdinfo should name the mdev; held through {h.Through}";
            if (d.HeldStateProblem?.Contains("CONFIG_VFIO_DEBUGFS") != true) return $"state {d.HeldState}, reason '{d.HeldStateProblem}'";
            var (output, errs, _) = sh.Run($"Test-VfioMigration -Address '{uuid}'");
            var r = output.Select(o => o.BaseObject).OfType<VfioMigrationReadiness>().SingleOrDefault();
            var blocker = r?.Blockers.SingleOrDefault(b => b.Code == "GroupInUse");
            if (blocker is null || !blocker.Cause.Contains("VM holder-vm") || !blocker.Cause.Contains($"pid {h.ProcessId}"))
                return $"blocker: {blocker?.Cause ?? "none"} ({string.Join("; ", errs.Select(e => e.ToString()))})";
            Console.WriteLine($"held: {d.Name} by {d.HeldBy} through {h.Through}; blocker: {blocker.Cause}");
            int rc = qemu.Quit(TimeSpan.FromSeconds(60));
            return rc == 0 ? null : $"QEMU exited with {rc}: {qemu.Log}";
        });
    }

    private static VfioDevice? Device(HostedShell sh, string uuid, out string errors)
    {
        var (output, errs, _) = sh.Run($"Get-VfioDevice -Address '{uuid}'");
        errors = string.Join("; ", errs.Select(e => e.ToString()));
        return output.Select(o => o.BaseObject).OfType<VfioDevice>().SingleOrDefault();
    }

    /// <summary>Waits (up to 20 s: a shell under emulation) until the pid has the group node open.</summary>
    private static bool WaitUntilHeld(string group, int pid)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            try
            {
                if (Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Any(fd => new FileInfo(fd).LinkTarget == $"/dev/vfio/{group}")) return true;
            }
            catch (IOException) { }
            Thread.Sleep(100);
        }
        return false;
    }

    private static bool KernelAtLeast(int major, int minor)
    {
        var parts = File.ReadAllText("/proc/sys/kernel/osrelease").Trim().Split('.', '-');
        return int.Parse(parts[0]) > major || int.Parse(parts[0]) == major && int.Parse(parts[1]) >= minor;
    }

    /// <summary>Mounts debugfs when it is not (the guest's init does not), so a missing state is the kernel's doing.</summary>
    private static void MountDebugfs()
    {
        if (Directory.Exists("/sys/kernel/debug") && Directory.EnumerateFileSystemEntries("/sys/kernel/debug").Any()) return;
        using var mount = Process.Start(new ProcessStartInfo("mount") { ArgumentList = { "-t", "debugfs", "debugfs", "/sys/kernel/debug" }, RedirectStandardError = true })!;
        mount.WaitForExit();
        Console.WriteLine($"debugfs: mount exit {mount.ExitCode} {mount.StandardError.ReadToEnd().Trim()}");
    }
}
