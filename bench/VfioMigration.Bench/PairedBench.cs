using System.Diagnostics;
using System.Globalization;
using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

/// <summary>
/// Save and restore against dd as whole processes, in interleaved pairs (issue 17 item 19): each pair times a save
/// process and a <c>dd conv=fsync</c> of the same number of bytes into the same directory, one after the other (the
/// order alternates between pairs, so neither always runs on a warmer machine). Each side is given two figures:
/// the whole process with its process start subtracted (for the save, a process that does everything but the save:
/// runtime start, the simulated device's memory filled; for dd, a dd that copies nothing), and, for the save, the
/// save call clocked inside its process (everything the save does, its JIT included, and nothing before it). A
/// restore is measured the same way against dd reading the image twice (a restore reads it twice: verify, then
/// load). The figures are the minimum and the median over the pairs, of each side and of the ratios taken pair by
/// pair, so one slow moment of a shared machine moves the median little and the minimum not at all. The checksum
/// warm-up the module starts on import is started by the child's session, just before its save: the case of a
/// script whose first command after Import-Module is the save.
/// <para>
/// Memory: each writer is given the pages its own previous output freed just before it (dd its deleted output; the
/// save the image deleted just before it and the pages of the setup process that exited just before), because on a
/// VM whose kernel reports free pages to the hypervisor (virtio-balloon free page reporting) the first touch of a
/// page that was reported costs several times a fresh page's (this project's VM: dd of 1 GiB 0.7 s on pages freed
/// just before, 3.8–4.1 s on pages free for 6 s). What is reported when is chance; run.sh can hold freed pages back
/// for the run (VFIO_BENCH_HOLD_FREE_PAGES_MS), which the README's figures did.
/// </para>
/// </summary>
static class PairedBench
{
    private const string Address = "0000:01:00.0";

    /// <summary>The parent: <c>--pairs dir MiB [pairs] [QEMU stream]</c>; with a QEMU stream, its listing (the VFIO sections, as Get-VfioStateImage lists them) against dd reading it once.</summary>
    public static void Run(string dir, long mib, int pairs, string? qemuStream = null)
    {
        string image = Path.Combine(dir, "pair.vfiostate"), dd = Path.Combine(dir, "pair-dd.bin");
        Console.WriteLine($"# save and restore against dd, whole processes, {pairs} interleaved pairs, {mib} MiB device, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {dir}");
        Console.WriteLine($"# free page reporting: {FreePageReporting()}");
        string hold = Environment.GetEnvironmentVariable("VFIO_BENCH_HOLD_FREE_PAGES_MS") is { Length: > 0 } ms ? $"VFIO_BENCH_HOLD_FREE_PAGES_MS={ms} " : "";
        Console.WriteLine($"# command: {hold}bench/run.sh {dir} --pairs {mib} {pairs}{(qemuStream is null ? "" : " " + qemuStream)}");
        // One of each first, so no pair pays for a cold disk or a cold runtime; the save leaves the image the restores read.
        Delete(image, dd);
        Child("save", image, mib);
        long bytes = new FileInfo(image).Length;
        DdWrite(dd, bytes);
        var save = new List<(double Tool, double Dd)>();
        var saveClocked = new List<(double Tool, double Dd)>();
        var restore = new List<(double Tool, double Dd)>();
        var restoreClocked = new List<(double Tool, double Dd)>();
        for (int i = 0; i < pairs; i++)
        {
            // Each writer gets the pages its own previous output freed just before it (see the type's summary):
            // the save child holds the device's memory and the image's page cache, the pages of the setup child
            // that exited just before and of the image deleted just before; dd the pages of its deleted output.
            (double Whole, double Clocked) tool() => Timed("save", image, mib, deleteImage: true);
            double ddSide() { Delete(dd); double start = DdStart(dir); return DdWrite(dd, bytes) - start; }
            var (s, d) = i % 2 == 0 ? (tool(), ddSide()) : Swap(ddSide(), tool());
            save.Add((s.Whole, d));
            saveClocked.Add((s.Clocked, d));
            (double Whole, double Clocked) restoreSide() => Timed("restore", image, mib, deleteImage: false);
            double ddRead() { double start = DdStart(dir); return DdRead(image) - start + DdRead(image) - start; }
            var (r, dr) = i % 2 == 0 ? (restoreSide(), ddRead()) : Swap(ddRead(), restoreSide());
            restore.Add((r.Whole, dr));
            restoreClocked.Add((r.Clocked, dr));
        }
        // The first save in a process against a second one in the same process: what its JIT and tier-up cost.
        var twice = new List<(double First, double Second)>();
        for (int i = 0; i < pairs; i++)
        {
            Child("setup", image, mib);
            Delete(image);
            Child("save-twice", image, mib, out double[] both);
            twice.Add((both[0], both[1]));
        }
        Delete(image, dd);
        var listing = new List<(double Tool, double Dd)>();
        if (qemuStream is not null)
        {
            qemuStream = Path.GetFullPath(qemuStream);
            if (!File.Exists(qemuStream)) Child("make-qemu", qemuStream, mib);
            Child("list", qemuStream, 0);
            for (int i = 0; i < pairs; i++)
            {
                Func<double> list = () => { double start = Child("start", qemuStream, 0); return Child("list", qemuStream, 0) - start; };
                Func<double> ddRead = () => { double start = DdStart(dir); return DdRead(qemuStream) - start; };
                listing.Add(i % 2 == 0 ? (list(), ddRead()) : Swap(ddRead(), list()));
            }
        }
        Console.WriteLine();
        Console.WriteLine($"| {mib} MiB, {pairs} pairs | tool min | tool median | dd min | dd median | ratio min | ratio median |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Row("save vs dd conv=fsync (write), whole process", save);
        Row("save vs dd conv=fsync (write), save call clocked", saveClocked);
        Row("restore vs dd (read twice), whole process", restore);
        Row("restore vs dd (read twice), restore call clocked", restoreClocked);
        Console.WriteLine($"| first save in a process vs a second one in it (clocked) | {S(Min(twice.Select(p => p.First)))} | {S(Median(twice.Select(p => p.First)))} | {S(Min(twice.Select(p => p.Second)))} (second) | {S(Median(twice.Select(p => p.Second)))} (second) | {Min(twice.Select(p => p.First / p.Second)):0.00} | {Median(twice.Select(p => p.First / p.Second)):0.00} |");
        if (qemuStream is not null) Row($"QEMU stream listing ({new FileInfo(qemuStream).Length >> 20} MiB, {Path.GetFileName(qemuStream)}) vs dd (read once)", listing);
        Delete(Path.Combine(dir, "pair-dd-empty.bin"));
    }

    /// <summary>
    /// A save or restore child timed both ways: its whole process less a setup process timed just before it, and
    /// the call as it clocked itself. An untimed setup process runs first and the image (for a save) is deleted last,
    /// so the timed setup and the child each get the pages the process before them freed (see the type's summary).
    /// </summary>
    private static (double Whole, double Clocked) Timed(string mode, string image, long mib, bool deleteImage)
    {
        Child("setup", image, mib);
        double start = Child("setup", image, mib);
        if (deleteImage) Delete(image);
        double whole = Child(mode, image, mib, out double clocked);
        return (whole - start, clocked);
    }

    /// <summary>This VM's free page reporting setting, as the run met it (a module parameter; absent on most kernels).</summary>
    private static string FreePageReporting()
    {
        const string setting = "/sys/module/page_reporting/parameters/min_free_ms";
        try { return File.Exists(setting) ? $"min_free_ms {File.ReadAllText(setting).Trim()} ({setting})" : "no min_free_ms setting on this kernel"; }
        catch (IOException e) { return $"{setting} unreadable: {e.Message}"; }
    }

    private static (T, double) Swap<T>(double dd, T tool) => (tool, dd);

    private static void Row(string what, List<(double Tool, double Dd)> pairs)
    {
        var ratios = pairs.Select(p => p.Tool / p.Dd).ToList();
        Console.WriteLine($"| {what} | {S(Min(pairs.Select(p => p.Tool)))} | {S(Median(pairs.Select(p => p.Tool)))} | {S(Min(pairs.Select(p => p.Dd)))} | {S(Median(pairs.Select(p => p.Dd)))} | {Min(ratios):0.00} | {Median(ratios):0.00} |");
    }

    private static double Min(IEnumerable<double> v) => v.Min();

    private static double Median(IEnumerable<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static string S(double seconds) => $"{seconds:0.000} s";

    private static void Delete(params string[] files)
    {
        foreach (var f in files) File.Delete(f);
    }

    /// <summary>Runs this program as a child in <paramref name="mode"/>; its wall-clock seconds, start to exit.</summary>
    private static double Child(string mode, string image, long mib) => Child(mode, image, mib, out double[] _);

    /// <summary>As above; <paramref name="clocked"/> is what the child printed: the seconds of its save or restore call alone (0 if none).</summary>
    private static double Child(string mode, string image, long mib, out double clocked)
    {
        double seconds = Child(mode, image, mib, out double[] printed);
        clocked = printed.Length > 0 ? printed[0] : 0;
        return seconds;
    }

    /// <summary>As above; <paramref name="clocked"/> is every number the child printed (seconds of its save or restore calls).</summary>
    private static double Child(string mode, string image, long mib, out double[] clocked)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardError = true, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(typeof(PairedBench).Assembly.Location);
        foreach (var a in new[] { "--child", mode, image, mib.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        double seconds = Time(psi, $"{mode} child", out string output);
        // The child's last line holds its figures; anything the runtime printed before it is not ours to parse.
        string last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        clocked = last.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(x => double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN).Where(double.IsFinite).ToArray();
        return seconds;
    }

    private static double DdStart(string dir) => Dd("if=/dev/zero", $"of={Path.Combine(dir, "pair-dd-empty.bin")}", "count=0");

    private static double DdWrite(string file, long bytes) => Dd("if=/dev/zero", $"of={file}", "bs=1M", $"count={bytes}", "iflag=count_bytes", "conv=fsync");

    private static double DdRead(string file) => Dd($"if={file}", "of=/dev/null", "bs=1M");

    private static double Dd(params string[] args)
    {
        var psi = new ProcessStartInfo("dd") { RedirectStandardError = true };
        foreach (var a in args.Append("status=none")) psi.ArgumentList.Add(a);
        return Time(psi, "dd " + string.Join(' ', args));
    }

    private static double Time(ProcessStartInfo psi, string what) => Time(psi, what, out _);

    private static double Time(ProcessStartInfo psi, string what, out string output)
    {
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = psi.RedirectStandardOutput ? p.StandardOutput.ReadToEndAsync() : Task.FromResult("");
        string err = p.StandardError.ReadToEnd();
        output = stdout.Result;
        p.WaitForExit();
        double seconds = clock.Elapsed.TotalSeconds;
        if (p.ExitCode != 0) throw new InvalidOperationException($"{what} exited {p.ExitCode}: {err}");
        return seconds;
    }

    /// <summary>
    /// The child: <c>--child setup|save|restore image MiB</c>, <c>--child start|list stream 0</c>. Setup alone is
    /// the save's and the restore's process start; start (the runtime and nothing else) the listing's;
    /// <c>--child make-qemu stream MiB</c> writes a QEMU stream with that much VFIO device data.
    /// </summary>
    public static int Child(string[] args)
    {
        string mode = args[1], image = args[2];
        if (mode == "start") return 0;
        if (mode == "make-qemu")
        {
            // A stream laid out as QEMU 10.0 writes one mtty-like device, its pre-copy data in 1 MiB chunks (QEMU's
            // VFIO buffer), built by the tests' QemuStreamBuilder.
            var chunk = new byte[1 << 20];
            new Random(1).NextBytes(chunk);
            var b = new VfioMigration.Tests.QemuStreamBuilder();
            b.VfioStart(2, "0000:00:04.0/vfio");
            b.Ram(3);
            b.VfioData(2, false, VfioMigration.Tests.QemuStreamBuilder.InitDataSent, Enumerable.Repeat(chunk, (int)long.Parse(args[3], CultureInfo.InvariantCulture)).ToArray());
            b.VfioData(2, false);
            b.Command(0x0b);
            b.VfioData(2, true, new byte[] { 1, 2, 3 });
            b.Described(4, "timer");
            b.VfioConfig(2, "0000:00:04.0/vfio", 0x4348, 0x3253);
            File.WriteAllBytes(image, b.Finish());
            return 0;
        }
        if (mode == "list")
        {
            var sections = VfioMigration.Sources.DeviceStateSources.Inspect(image, out var damage);
            if (damage is not null || sections.Count == 0) { Console.Error.WriteLine(damage?.Message ?? "no VFIO section"); return 1; }
            return 0;
        }
        long bytes = long.Parse(args[3], CultureInfo.InvariantCulture) << 20;
        var host = new SimulatedHost();
        var device = host.Add(new SimulatedDeviceOptions { Address = Address, Capabilities = MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy, MemorySize = bytes, Seed = 1, StepsPerAccess = 0 });
        DeviceMemory.Fill(device.Model.Memory);
        // The session starts the checksum warm-up (Images/ChecksumWarmup) just before the save, as for a script
        // whose first command after Import-Module is the save; a user who imports first gives it more time.
        using var session = new VfioHostSession(new SimulatedBackend(host));
        var migration = session.Migration(Address);
        var description = session.Describe(Address);
        if (mode == "save-twice")
        {
            // The same save twice in one process, the first image removed before the second: what the first save's
            // JIT and tier-up cost, as the difference between the two.
            var calls = new double[2];
            for (int k = 0; k < 2; k++)
            {
                File.Delete(image);
                var c = Stopwatch.StartNew();
                // Left running, so the second save starts where the first did.
                var o = session.Save(new[] { new SaveTarget(migration, description, image) }, new SaveOptions { FinalState = MigrationState.Running }, true, false)[0];
                calls[k] = c.Elapsed.TotalSeconds;
                if (!o.Succeeded) { Console.Error.WriteLine(o.Error!.Message); return 1; }
            }
            Console.WriteLine(string.Join(' ', calls.Select(x => x.ToString("R", CultureInfo.InvariantCulture))));
            return 0;
        }
        var clock = Stopwatch.StartNew();
        var outcome = mode switch
        {
            "save" => session.Save(new[] { new SaveTarget(migration, description, image) }, new SaveOptions(), true, false)[0],
            "restore" => session.Restore(new[] { new RestoreTarget(migration, description, image) }, MigrationState.Stop, RestoreOverrides.None)[0],
            _ => null,
        };
        double seconds = clock.Elapsed.TotalSeconds;
        if (outcome is { Succeeded: false }) { Console.Error.WriteLine(outcome.Error!.Message); return 1; }
        if (outcome is not null) Console.WriteLine(seconds.ToString("R", CultureInfo.InvariantCulture));
        return 0;
    }
}
