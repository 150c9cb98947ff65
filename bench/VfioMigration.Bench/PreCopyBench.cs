using System.Globalization;
using VfioMigration.Backends.Simulated;
using VfioMigration.Operations;
using VfioMigration.Protocol;

/// <summary>
/// Pre-copy convergence against the dirty rate: a 256 MiB simulated device saved live (8 rounds at most, no downtime
/// limit), each dirty rate several times on a fresh device. The dirty rate is the simulator's: workload steps per
/// uAPI call while the device runs, each step dirtying one 4 KiB page, so N steps per 1 MiB read dirty N/256 of
/// what the read moves. Rounds and bytes per round come from the median run (by downtime); downtime as min/median.
/// </summary>
static class PreCopyBench
{
    private const long DeviceBytes = 256L << 20;
    private static readonly int[] StepsPerCall = { 0, 16, 64, 128, 256, 512 };

    public static void Run(string dir, int runs)
    {
        Console.WriteLine($"# VfioMigration pre-copy benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {runs} runs per rate, {DeviceBytes >> 20} MiB device");
        Console.WriteLine();
        Console.WriteLine("| dirty rate (pages per call) | dirtied / read | rounds | MiB per round | pre-copy MiB | stop-copy MiB | downtime min | downtime median |");
        Console.WriteLine("|---:|---:|---:|---|---:|---:|---:|---:|");
        foreach (int steps in StepsPerCall)
        {
            var results = Enumerable.Range(0, runs).Select(i => SaveOnce(dir, steps, (ulong)(i + 1))).OrderBy(r => r.Downtime).ToArray();
            var median = results[results.Length / 2];
            string perRound = string.Join(", ", median.Rounds.Select(b => Mib(b)));
            Console.WriteLine($"| {steps} | {steps / 256.0:0.00} | {median.Rounds.Count} | {perRound} | {Mib(median.PreCopyBytes)} | {Mib(median.Bytes - median.PreCopyBytes)} | {Ms(results[0].Downtime)} | {Ms(median.Downtime)} |");
        }
    }

    private sealed record Result(IReadOnlyList<long> Rounds, long PreCopyBytes, long Bytes, TimeSpan Downtime);

    private static Result SaveOnce(string dir, int steps, ulong seed)
    {
        var host = new SimulatedHost();
        var device = host.Add(new SimulatedDeviceOptions { Address = "0000:03:00.0", Capabilities = MigrationCapabilities.StopCopy | MigrationCapabilities.PreCopy, MemorySize = DeviceBytes, Seed = seed, StepsPerAccess = steps });
        DeviceMemory.Fill(device.Model.Memory);
        using var session = new VfioHostSession(new SimulatedBackend(host));
        string path = Path.Combine(dir, "precopy.vfiostate");
        var rounds = new RoundCounter();
        var o = session.Save(new[] { new SaveTarget(session.Migration(device.Address), session.Describe(device.Address), path) },
            new SaveOptions { Live = true, FinalState = MigrationState.Running }, true, false, rounds)[0];
        File.Delete(path);
        var image = o.Image ?? throw o.Error!;
        var perRound = rounds.PerRound();
        if (perRound.Count != image.PreCopyRounds || perRound.Sum() != image.PreCopyBytes)
            throw new InvalidOperationException($"progress saw {perRound.Count} rounds and {perRound.Sum()} bytes, the image says {image.PreCopyRounds} and {image.PreCopyBytes}");
        return new Result(perRound, image.PreCopyBytes!.Value, image.DataBytes!.Value, image.Downtime!.Value); // a just-written image has them all
    }

    /// <summary>Bytes moved in each pre-copy round, from the saver's progress reports (synchronous, unlike Progress&lt;T&gt;).</summary>
    private sealed class RoundCounter : IProgress<SaveProgress>
    {
        private readonly SortedDictionary<int, long> _last = new();
        public void Report(SaveProgress value)
        {
            if (value.Phase == "pre-copy") _last[value.Round] = value.Bytes;
        }

        public IReadOnlyList<long> PerRound()
        {
            var list = new List<long>();
            long before = 0;
            foreach (var cumulative in _last.Values) { list.Add(cumulative - before); before = cumulative; }
            return list;
        }
    }

    private static string Mib(long bytes) => (bytes / (double)(1 << 20)).ToString("0.00", CultureInfo.InvariantCulture);
    private static string Ms(TimeSpan t) => $"{t.TotalMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)} ms";
}
