using System.Diagnostics;
using System.Globalization;
using VfioMigration;
using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

// Save and restore throughput against dd on the same bytes in the same directory, peak memory beyond the
// device memory, and live against stop-copy downtime. Usage: VfioMigration.Bench <work-dir> [sizes in MiB...]
// With --precopy [runs]: pre-copy convergence (rounds, bytes per round, downtime) against the dirty rate.
// With --pairs [MiB] [pairs]: save and restore against dd as whole processes in interleaved pairs (PairedBench).
if (args.Length > 0 && args[0] == "--child") return PairedBench.Child(args);
var dir = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "vfio-bench");
Directory.CreateDirectory(dir);
if (args.Length > 1 && args[1] == "--precopy")
{
    PreCopyBench.Run(dir, args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5);
    return 0;
}
if (args.Length > 1 && args[1] == "--pairs")
{
    PairedBench.Run(dir, args.Length > 2 ? long.Parse(args[2], CultureInfo.InvariantCulture) : 1024, args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 7,
        args.Length > 4 ? args[4] : null);
    return 0;
}
var sizes = args.Length > 1 ? args.Skip(1).Select(a => long.Parse(a, CultureInfo.InvariantCulture)).ToArray() : new long[] { 256, 1024 };
Console.WriteLine($"# VfioMigration benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {dir}");
Console.WriteLine();
Console.WriteLine("| state | save | dd write | save / dd | restore | dd read | restore / dd | save peak beyond device | restore peak beyond device |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (var mib in sizes)
{
    long bytes = mib << 20;
    var host = new SimulatedHost();
    var source = host.Add(new SimulatedDeviceOptions { Address = "0000:01:00.0", Capabilities = MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy, MemorySize = bytes, Seed = 1, StepsPerAccess = 0 });
    var target = host.Add(new SimulatedDeviceOptions { Address = "0000:01:00.1", Capabilities = MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy, MemorySize = bytes, Seed = 2, StepsPerAccess = 0 });
    // Both devices' memory exists before the clock starts, as a real device's does; first-touching 1 GiB
    // of fresh memory would otherwise be timed as if it were restore work.
    DeviceMemory.Fill(source.Model.Memory);
    DeviceMemory.Fill(target.Model.Memory);
    using var session = new VfioHostSession(new SimulatedBackend(host));
    string image = Path.Combine(dir, "bench.vfiostate");
    File.Delete(image);

    Rss.ResetPeak();
    long before = Rss.Current();
    var clock = Stopwatch.StartNew();
    var saved = session.Save(new[] { new SaveTarget(session.Migration(source.Address), session.Describe(source.Address), image) }, new SaveOptions(), false, false)[0];
    double saveSeconds = clock.Elapsed.TotalSeconds;
    if (!saved.Succeeded) throw saved.Error!;
    long savePeak = Rss.Peak() - before;
    long imageBytes = new FileInfo(image).Length;

    double ddWrite = Dd($"if=/dev/zero of={Path.Combine(dir, "dd.bin")} bs=1M count={imageBytes >> 20} conv=fsync");
    Rss.DropCaches();
    Rss.ResetPeak();
    before = Rss.Current();
    clock.Restart();
    var restored = session.Restore(new[] { new RestoreTarget(session.Migration(target.Address), session.Describe(target.Address), image) }, MigrationState.Stop, RestoreOverrides.None)[0];
    double restoreSeconds = clock.Elapsed.TotalSeconds;
    if (!restored.Succeeded) throw restored.Error!;
    long restorePeak = Rss.Peak() - before;
    Rss.DropCaches();
    double ddRead = Dd($"if={Path.Combine(dir, "dd.bin")} of=/dev/null bs=1M");
    File.Delete(Path.Combine(dir, "dd.bin"));
    File.Delete(image);
    // A restore reads the image twice (verify, then load), so dd reads it twice too for the ratio.
    Console.WriteLine($"| {mib} MiB | {Rate(imageBytes, saveSeconds)} | {Rate(imageBytes, ddWrite)} | {saveSeconds / ddWrite:0.00} | {Rate(imageBytes, restoreSeconds)} | {Rate(imageBytes, ddRead)} | {restoreSeconds / (2 * ddRead):0.00} (image read twice) | {Mib(savePeak)} | {Mib(restorePeak)} |");
}

Console.WriteLine();
Console.WriteLine("| downtime, 256 MiB busy device | stop-copy save | live save | live / stop-copy | pre-copy rounds |");
Console.WriteLine("|---|---:|---:|---:|---:|");
{
    var host = new SimulatedHost();
    var a = host.Add(new SimulatedDeviceOptions { Address = "0000:02:00.0", Capabilities = MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy, MemorySize = 256L << 20, Seed = 3, StepsPerAccess = 4 });
    DeviceMemory.Fill(a.Model.Memory);
    using var session = new VfioHostSession(new SimulatedBackend(host));
    var stopCopy = SaveOnce(session, a, live: false);
    var live = SaveOnce(session, a, live: true);
    Console.WriteLine($"| | {stopCopy.Downtime!.Value.TotalMilliseconds:0.0} ms | {live.Downtime!.Value.TotalMilliseconds:0.0} ms | {live.Downtime!.Value.TotalMilliseconds / stopCopy.Downtime!.Value.TotalMilliseconds:0.000} | {live.PreCopyRounds} |");
}

return 0;

VfioStateImage SaveOnce(VfioHostSession session, SimulatedDevice device, bool live)
{
    string path = Path.Combine(dir, $"downtime-{live}.vfiostate");
    var o = session.Save(new[] { new SaveTarget(session.Migration(device.Address), session.Describe(device.Address), path) }, new SaveOptions { Live = live, FinalState = MigrationState.Running }, true, false)[0];
    File.Delete(path);
    return o.Image ?? throw o.Error!;
}

static double Dd(string arguments)
{
    var clock = Stopwatch.StartNew();
    using var p = Process.Start(new ProcessStartInfo("dd", arguments + " status=none") { RedirectStandardError = true })!;
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"dd {arguments}: {p.StandardError.ReadToEnd()}");
    return clock.Elapsed.TotalSeconds;
}

static string Rate(long bytes, double seconds) => $"{bytes / seconds / (1 << 20):0} MiB/s";
static string Mib(long bytes) => $"{Math.Max(0, bytes) / (double)(1 << 20):0.0} MiB";

/// <summary>Resident memory from /proc/self: current, and the peak since the last reset.</summary>
static class Rss
{
    public static long Current() => Read("VmRSS:");
    public static long Peak() => Read("VmHWM:");

    public static void ResetPeak()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Both sides read from disk rather than the page cache, where the machine lets us say so.</summary>
    public static void DropCaches()
    {
        try { File.WriteAllText("/proc/sys/vm/drop_caches", "3"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static long Read(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }
}
