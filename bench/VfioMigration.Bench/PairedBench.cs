using System.Diagnostics;
using System.Globalization;
using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

/// <summary>
/// Save and restore against dd as whole processes, in interleaved pairs (issue 17 item 19): each pair times a save
/// process and a <c>dd conv=fsync</c> of the same number of bytes into the same directory, one after the other (the
/// order alternates between pairs, so neither always runs on a warmer machine). From each side its process start is
/// subtracted: for the save, a process that does everything but the save (runtime start, JIT, the simulated
/// device's memory filled), timed just before it; for dd, a dd that copies nothing. A restore is measured the same
/// way against dd reading the image twice (a restore reads it twice: verify, then load). The figures are the
/// minimum and the median over the pairs, of each side and of the ratios taken pair by pair, so one slow moment of a
/// shared machine moves the median little and the minimum not at all.
/// </summary>
static class PairedBench
{
    private const string Address = "0000:01:00.0";

    /// <summary>The parent: <c>--pairs dir MiB [pairs] [QEMU stream]</c>; with a QEMU stream, its listing (the VFIO sections, as Get-VfioStateImage lists them) against dd reading it once.</summary>
    public static void Run(string dir, long mib, int pairs, string? qemuStream = null)
    {
        string image = Path.Combine(dir, "pair.vfiostate"), dd = Path.Combine(dir, "pair-dd.bin");
        Console.WriteLine($"# save and restore against dd, whole processes, {pairs} interleaved pairs, {mib} MiB device, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {dir}");
        Console.WriteLine($"# command: bench/run.sh {dir} --pairs {mib} {pairs}");
        // One of each first, so no pair pays for a cold disk or a cold runtime; the save leaves the image the restores read.
        Delete(image, dd);
        Child("save", image, mib);
        long bytes = new FileInfo(image).Length;
        DdWrite(dd, bytes);
        var save = new List<(double Tool, double Dd)>();
        var restore = new List<(double Tool, double Dd)>();
        for (int i = 0; i < pairs; i++)
        {
            Func<double> tool = () => { Delete(image); double start = Child("setup", image, mib); return Child("save", image, mib) - start; };
            Func<double> ddSide = () => { Delete(dd); double start = DdStart(dir); return DdWrite(dd, bytes) - start; };
            save.Add(i % 2 == 0 ? (tool(), ddSide()) : Swap(ddSide(), tool()));
            Func<double> restoreSide = () => { double start = Child("setup", image, mib); return Child("restore", image, mib) - start; };
            Func<double> ddRead = () => { double start = DdStart(dir); return DdRead(image) - start + DdRead(image) - start; };
            restore.Add(i % 2 == 0 ? (restoreSide(), ddRead()) : Swap(ddRead(), restoreSide()));
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
        Row("save vs dd conv=fsync (write)", save);
        Row("restore vs dd (read twice)", restore);
        if (qemuStream is not null) Row($"QEMU stream listing ({new FileInfo(qemuStream).Length >> 20} MiB, {Path.GetFileName(qemuStream)}) vs dd (read once)", listing);
    }

    private static (double, double) Swap(double dd, double tool) => (tool, dd);

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
    private static double Child(string mode, string image, long mib)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") psi.ArgumentList.Add(typeof(PairedBench).Assembly.Location);
        foreach (var a in new[] { "--child", mode, image, mib.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        return Time(psi, $"{mode} child");
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

    private static double Time(ProcessStartInfo psi, string what)
    {
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
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
        using var session = new VfioHostSession(new SimulatedBackend(host));
        var migration = session.Migration(Address);
        var description = session.Describe(Address);
        var outcome = mode switch
        {
            "save" => session.Save(new[] { new SaveTarget(migration, description, image) }, new SaveOptions(), true, false)[0],
            "restore" => session.Restore(new[] { new RestoreTarget(migration, description, image) }, MigrationState.Stop, RestoreOverrides.None)[0],
            _ => null,
        };
        if (outcome is { Succeeded: false }) { Console.Error.WriteLine(outcome.Error!.Message); return 1; }
        return 0;
    }
}
