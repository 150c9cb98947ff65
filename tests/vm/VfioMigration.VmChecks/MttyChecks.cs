using System.Diagnostics;
using VfioMigration;
using VfioMigration.Backends.Linux;
using VfioMigration.Drivers;
using VfioMigration.Protocol;

/// <summary>
/// mtty mdevs (kernel samples/vfio-mdev/mtty.c, v2 migration since 6.7) on the backports kernel: discovery and
/// opening of an emulated-IOMMU group, then real migration through the drivers and the cmdlets.
/// </summary>
internal static class MttyChecks
{
    public static void Run(Action<string, Func<string?>> check, HostedShell shell, string[] mdevs)
    {
        var discovery = new SysfsDiscovery();
        var found = discovery.Enumerate().Where(d => mdevs.Contains(d.Address, StringComparer.OrdinalIgnoreCase)).ToArray();

        check("discovery lists the mtty mdevs with their emulated-IOMMU group's plain node", () =>
        {
            if (found.Length != mdevs.Length) return $"found {found.Length} of {mdevs.Length}";
            foreach (var d in found)
            {
                string group = Path.GetFileName(new FileInfo($"/sys/bus/mdev/devices/{d.Address}/iommu_group").LinkTarget!);
                string name = File.ReadAllText($"/sys/kernel/iommu_groups/{group}/name").Trim();
                if (name != "vfio-noiommu") return $"{d.Address}: group {group} is named '{name}' (the kernel names emulated-IOMMU groups vfio-noiommu)";
                if (d.Kind != VfioDeviceKind.Mdev || d.Driver != "mtty" || d.DeviceId != "mtty-1" || !d.IsVfioBound) return $"{d.Address}: {d.Kind} {d.Driver} {d.DeviceId} bound {d.IsVfioBound}";
                if (d.GroupNode != $"/dev/vfio/{group}" || d.NoIommu || d.IommuGroup?.ToString() != group) return $"{d.Address}: node {d.GroupNode}, no-IOMMU {d.NoIommu}, group {d.IommuGroup}";
            }
            return null;
        });

        var backend = new LinuxBackend(discovery);
        check("an mdev opens through a TYPE1v2 container and reports v2 with StopCopy, P2P and PreCopy", () =>
        {
            foreach (var d in found)
            {
                using var t = backend.Open(d.Address);
                using var m = MigrationDriverFactory.Open(t);
                if (m.Protocol != MigrationProtocol.V2 || m.Capabilities != (MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy))
                    return $"{d.Address}: {m.Protocol} {m.Capabilities}";
            }
            return null;
        });

        if (found.Length < 2) return;
        CmdletChecks(check, shell, found[0].Address, found[1].Address);
    }

    private const MigrationCapabilities All = MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy;

    /// <summary>Real migration through the cmdlets, in the PowerShell engine hosted here.</summary>
    private static void CmdletChecks(Action<string, Func<string?>> check, HostedShell sh, string a, string b)
    {
        string dir = Directory.CreateTempSubdirectory("mtty-images-").FullName;
        string Errors(List<System.Management.Automation.ErrorRecord> errors) => string.Join("; ", errors.Select(e => $"{e.FullyQualifiedErrorId}: {e.Exception.Message}"));
        VfioDevice? Device(string address) => sh.Run($"Get-VfioDevice -Address '{address}'").Output.Select(o => o.BaseObject).OfType<VfioDevice>().SingleOrDefault();

        check("Get-VfioDevice lists the mtty mdevs as Mdev, V2, StopCopy+P2P+PreCopy with group and node", () =>
        {
            var (output, errors, _) = sh.Run($"Get-VfioDevice -Address '{a}','{b}'");
            var devices = output.Select(o => o.BaseObject).OfType<VfioDevice>().ToArray();
            if (errors.Count > 0 || devices.Length != 2) return $"{devices.Length} devices; {Errors(errors)}";
            foreach (var d in devices)
                if (d.Kind != VfioDeviceKind.Mdev || d.Protocol != MigrationProtocol.V2 || d.Capabilities != All || d.Driver != "mtty"
                    || d.IommuGroup is not { } g || d.GroupNode != $"/dev/vfio/{g}" || d.NoIommu || d.State is null)
                    return $"{d.Name}: {d.Kind} {d.Protocol} {d.Capabilities} {d.Driver} group {d.IommuGroup} node {d.GroupNode} state {d.State} {d.StateError}";
            return null;
        });

        check("Test-VfioMigration says both mdevs can migrate, live, together", () =>
        {
            var (output, errors, _) = sh.Run($"Test-VfioMigration -Address '{a}','{b}' -Together");
            var r = output.Select(o => o.BaseObject).OfType<VfioMigrationReadiness>().ToArray();
            return errors.Count == 0 && r.Length == 2 && r.All(x => x.CanMigrate && x.CanMigrateLive && x.Capabilities == All && x.Blockers.All(bl => bl.Severity == BlockerSeverity.Warning))
                ? null : $"{Errors(errors)} {string.Join(" | ", r.Select(x => $"{x.Name} {x.CanMigrate}/{x.CanMigrateLive} {string.Join(",", x.Blockers.Select(bl => bl.Code))}"))}";
        });

        check("Set-VfioDeviceState reaches every state the flags allow (Resuming left by Reset-VfioDevice)", () =>
        {
            var walk = new[] { MigrationState.PreCopy, MigrationState.PreCopyP2P, MigrationState.StopCopy, MigrationState.Stop, MigrationState.RunningP2P,
                MigrationState.Running, MigrationState.PreCopy, MigrationState.Running, MigrationState.Stop, MigrationState.Resuming };
            foreach (var state in walk)
            {
                var (output, errors, _) = sh.Run($"Set-VfioDeviceState -Address '{a}' -State {state} -PassThru -Confirm:$false");
                var d = output.Select(o => o.BaseObject).OfType<VfioDevice>().SingleOrDefault();
                if (errors.Count > 0 || d?.State != state) return $"-> {state}: now {d?.State}; {Errors(errors)}";
            }
            // mtty refuses RESUMING -> STOP without a whole stream (EINVAL, stays in Resuming): reset is the way out.
            var (_, resetErrors, _) = sh.Run($"Reset-VfioDevice -Address '{a}' -Force -Confirm:$false");
            var now = Device(a)?.State;
            return resetErrors.Count == 0 && now == MigrationState.Running ? null : $"after reset: {now}; {Errors(resetErrors)}";
        });

        check("StopCopy -> PreCopy and -> PreCopyP2P are refused without reaching the kernel (6.12 mtty would lock up)", () =>
        {
            var (_, errors, _) = sh.Run($"Set-VfioDeviceState -Address '{a}' -State StopCopy -Confirm:$false");
            if (errors.Count > 0) return "entering StopCopy: " + Errors(errors);
            foreach (var target in new[] { "PreCopy", "PreCopyP2P" })
            {
                var (_, refused, _) = sh.Run($"Set-VfioDeviceState -Address '{a}' -State {target} -Confirm:$false");
                var e = refused.SingleOrDefault();
                if (e is null || !e.FullyQualifiedErrorId.StartsWith("TransitionRefused,", StringComparison.Ordinal)) return $"StopCopy -> {target}: {Errors(refused)}";
                if (Device(a)?.State != MigrationState.StopCopy) return $"after the refusal of {target}: {Device(a)?.State}";
            }
            var (_, back, _) = sh.Run($"Set-VfioDeviceState -Address '{a}' -State Running -Confirm:$false");
            return back.Count == 0 ? null : Errors(back);
        });

        // Save and restore: registers and FIFO written through BAR0 before the save read back equal after.
        var s1 = new Uart(0x5a, 0x03, "ABC");
        check("a stop-copy save of one mdev restores onto the other: scratch, LCR and FIFO read back equal", () =>
        {
            sh.Reload();
            s1.LoadInto(a);
            new Uart(0x11, 0x1b, "zz").LoadInto(b);
            string image = Path.Combine(dir, "a1.vfiostate");
            var (saved, e1, _) = sh.Run($"Save-VfioDeviceState -Address '{a}' -Path '{image}' -PassThru -Confirm:$false");
            var img = saved.Select(o => o.BaseObject).OfType<VfioStateImage>().SingleOrDefault();
            if (e1.Count > 0 || img is null) return "save: " + Errors(e1);
            if (Device(a)?.State != MigrationState.Stop) return $"the source is in {Device(a)?.State} after a stop-copy save, not Stop";
            var (_, e2, _) = sh.Run($"Set-VfioDeviceState -Address '{b}' -State Stop -Confirm:$false; Restore-VfioDeviceState -Address '{b}' -Path '{image}' -Start -Confirm:$false");
            if (e2.Count > 0) return "restore: " + Errors(e2);
            if (Device(b)?.State != MigrationState.Running) return $"the target is in {Device(b)?.State} after -Start";
            sh.Reload();
            var got = Uart.ReadFrom(b);
            var source = Uart.ReadFrom(a);
            return got == s1 && source == s1 ? null : $"target {got}, source {source}, written {s1} ({img.DataBytes} bytes saved)";
        });

        var s2 = new Uart(0xa5, 0x1b, "XYZW");
        check("a live save with -KeepRunning leaves the source running and restores onto the other", () =>
        {
            sh.Run($"Set-VfioDeviceState -Address '{a}' -State Running -Confirm:$false");
            sh.Reload();
            s2.LoadInto(a);
            string image = Path.Combine(dir, "a2.vfiostate");
            var (saved, e1, _) = sh.Run($"Save-VfioDeviceState -Address '{a}' -Path '{image}' -Live -KeepRunning -PassThru -Confirm:$false");
            var img = saved.Select(o => o.BaseObject).OfType<VfioStateImage>().SingleOrDefault();
            if (e1.Count > 0 || img is null) return "save: " + Errors(e1);
            if (img.SaveMode != "live" || img.PreCopyRounds < 1 || img.PreCopyBytes <= 0) return $"mode {img.SaveMode}, {img.PreCopyRounds} rounds, {img.PreCopyBytes} pre-copy bytes";
            Console.WriteLine($"     live save of {a}: {img.PreCopyRounds} pre-copy round(s), {img.PreCopyBytes} of {img.DataBytes} bytes before stop-copy, downtime {img.Downtime!.Value.TotalMilliseconds:F1} ms");
            if (Device(a)?.State != MigrationState.Running) return $"the source is in {Device(a)?.State} after -KeepRunning";
            var (_, e2, _) = sh.Run($"Set-VfioDeviceState -Address '{b}' -State Stop -Confirm:$false; Restore-VfioDeviceState -Address '{b}' -Path '{image}' -Start -Confirm:$false");
            if (e2.Count > 0) return "restore: " + Errors(e2);
            sh.Reload();
            var got = Uart.ReadFrom(b);
            return got == s2 ? null : $"target {got}, written {s2} ({img.PreCopyRounds} rounds, {img.PreCopyBytes} pre-copy bytes of {img.DataBytes})";
        });

        var s3 = new Uart(0x33, 0x03, "set-A");
        var s4 = new Uart(0x44, 0x1b, "set-B");
        string pa = Path.Combine(dir, "set-a.vfiostate"), pb = Path.Combine(dir, "set-b.vfiostate");
        check("a two-device set saved -Together restores crosswise only with -SkipSetCheck: each mdev gets the other's state", () =>
        {
            sh.Reload();
            s3.LoadInto(a);
            s4.LoadInto(b);
            var (saved, e1, _) = sh.Run($"Save-VfioDeviceState -Address '{a}','{b}' -Path '{pa}','{pb}' -Together -PassThru -Confirm:$false");
            var imgs = saved.Select(o => o.BaseObject).OfType<VfioStateImage>().ToArray();
            if (e1.Count > 0 || imgs.Length != 2 || imgs.Any(i => i.SetMembers?.Length != 2 || i.SetId is null) || imgs[0].SetId != imgs[1].SetId) return "save: " + Errors(e1);
            // Onto the same two devices in the other order: refused as a swapped set, nothing touched...
            var (_, refused, _) = sh.Run($"Set-VfioDeviceState -Address '{a}','{b}' -State Stop -Together -Confirm:$false; Restore-VfioDeviceState -Address '{b}','{a}' -Path '{pa}','{pb}' -Start -Confirm:$false");
            if (!refused.Any(r => r.FullyQualifiedErrorId.StartsWith("ImageSetOrder,", StringComparison.Ordinal))) return "a swapped set was not refused: " + Errors(refused);
            // ...and done when asked for by name.
            var (_, e2, _) = sh.Run($"Restore-VfioDeviceState -Address '{b}','{a}' -Path '{pa}','{pb}' -Start -SkipSetCheck -Confirm:$false");
            if (e2.Count > 0) return "restore: " + Errors(e2);
            sh.Reload();
            var gotA = Uart.ReadFrom(a);
            var gotB = Uart.ReadFrom(b);
            return gotA == s4 && gotB == s3 ? null : $"a {gotA} (want {s4}), b {gotB} (want {s3})";
        });

        check("damaged images are refused before the device is touched", () =>
        {
            var bytes = File.ReadAllBytes(pa);
            string flipped = Path.Combine(dir, "flipped.vfiostate"), cut = Path.Combine(dir, "cut.vfiostate");
            var damaged = (byte[])bytes.Clone();
            damaged[damaged.Length / 2] ^= 0x40;
            File.WriteAllBytes(flipped, damaged);
            File.WriteAllBytes(cut, bytes[..(bytes.Length * 2 / 3)]);
            // Stopped first: a restore that touched the device would leave it reset to Running.
            var (_, e0, _) = sh.Run($"Set-VfioDeviceState -Address '{b}' -State Stop -Confirm:$false");
            if (e0.Count > 0) return "stopping: " + Errors(e0);
            foreach (var image in new[] { flipped, cut })
            {
                var (_, errors, _) = sh.Run($"Restore-VfioDeviceState -Address '{b}' -Path '{image}' -Start -Confirm:$false");
                if (errors.Count != 1) return $"{Path.GetFileName(image)}: {errors.Count} errors: {Errors(errors)}";
                if (Device(b)?.State != MigrationState.Stop) return $"{Path.GetFileName(image)}: the device is in {Device(b)?.State}: it was touched ({Errors(errors)})";
            }
            var (_, e3, _) = sh.Run($"Set-VfioDeviceState -Address '{b}' -State Running -Confirm:$false");
            return e3.Count == 0 ? null : Errors(e3);
        });

        // A device left in each session state by one process: a look reports it as found and changes nothing
        // (issue 17 item 6); the next state-changing cmdlet takes it over (a resume by reset) and saves it.
        var defined = new Dictionary<MigrationState, MigrationState>
        {
            [MigrationState.StopCopy] = MigrationState.Stop,
            [MigrationState.PreCopy] = MigrationState.Running,
            [MigrationState.PreCopyP2P] = MigrationState.RunningP2P,
            [MigrationState.Resuming] = MigrationState.Running,
        };
        foreach (var (left, taken) in defined)
        {
            check($"an mdev another process left in {left} is reported as found by a look, then taken over ({taken}) and saved", () =>
            {
                sh.Reload();
                string? child = LeaveIn(a, left);
                if (child is not null) return child;
                var (output, errors, warnings) = sh.Run($"Get-VfioDevice -Address '{a}'");
                var d = output.Select(o => o.BaseObject).OfType<VfioDevice>().SingleOrDefault();
                if (errors.Count > 0 || d?.State != left || d?.LeftByAnotherProcess != true)
                    return $"a look found {d?.State} (left by another process: {d?.LeftByAnotherProcess}; {d?.StateError}); {Errors(errors)}";
                if (!warnings.Any(w => w.Contains($"is in {left}, a migration session another process left", StringComparison.Ordinal))) return $"no warning about {left}: {string.Join(" | ", warnings)}";
                var (again, _, _) = sh.Run($"Get-VfioDevice -Address '{a}'");
                if (again.Select(o => o.BaseObject).OfType<VfioDevice>().SingleOrDefault()?.State != left) return "a second look did not find the device as it was left";
                var (_, e2, _) = sh.Run($"Save-VfioDeviceState -Address '{a}' -Path '{Path.Combine(dir, $"left-{left}.vfiostate")}' -KeepRunning -Confirm:$false");
                if (e2.Count > 0) return "save afterwards: " + Errors(e2);
                return Device(a)?.State == MigrationState.Running ? null : $"after the save: {Device(a)?.State}";
            });
        }
        // The driver-QA suite against the kernel's own sample driver: every check's verdict is printed (the README
        // shows them); the check itself asks that the suite ran whole, read no failure of ours, and left mtty Running.
        check("the conformance suite runs against an mtty mdev (with the other as peer) and leaves it reset and Running", () =>
        {
            sh.Reload();
            var (output, errors, _) = sh.Run($"Test-VfioMigrationConformance -Address '{a}' -PeerAddress '{b}' -Confirm:$false");
            var results = output.Select(o => o.BaseObject).OfType<ConformanceResult>().ToArray();
            foreach (var r in results)
                Console.WriteLine($"conformance: {r.Number,2} {r.Check} {r.Outcome}{(r.Reason is null ? "" : " - " + r.Reason)}");
            if (errors.Count > 0) return "errors: " + Errors(errors);
            if (results.Length < 20) return $"only {results.Length} results";
            if (Device(a)?.State != MigrationState.Running) return $"left in {Device(a)?.State}";
            Console.WriteLine($"conformance: mtty {results.Count(r => r.Outcome == ConformanceOutcome.Passed)} passed, " +
                $"{results.Count(r => r.Outcome == ConformanceOutcome.Failed)} failed, " +
                $"{results.Count(r => r.Outcome == ConformanceOutcome.NotApplicable)} not applicable");
            return null;
        });
        sh.Reload();
    }

    /// <summary>Another process opens the mdev, takes it to <paramref name="state"/> and exits (see Program.cs).</summary>
    private static string? LeaveIn(string uuid, MigrationState state)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!, new[] { typeof(MttyChecks).Assembly.Location, "leave", uuid, state.ToString() })
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 && output.Trim() == $"left in {state}" ? null : $"the other process failed (exit {p.ExitCode}): {output.Trim()}";
    }

    /// <summary>The other process: opens the mdev, enters <paramref name="state"/> (writing part of a stream when
    /// resuming, as a restore that died half-way would have), and exits with its data fd still open.</summary>
    public static int Leave(string uuid, string state)
    {
        var target = Enum.Parse<MigrationState>(state);
        var t = new LinuxBackend().Open(uuid);
        var m = MigrationDriverFactory.Open(t);
        m.RequestState(target);
        if (target == MigrationState.Resuming) m.WriteResumeData(new byte[10]);
        Console.WriteLine($"left in {m.GetState()}");
        return 0; // no Dispose: the process exits holding its fds, and the kernel closes them
    }
}
