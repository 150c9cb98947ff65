using System.IO.Hashing;

namespace VfioMigration.Images;

/// <summary>
/// Gets the image checksum's code (System.IO.Hashing's XXH128) optimized before a process's first large save,
/// restore or listing needs it. Its vector loops cannot be precompiled (ReadyToRun leaves them to the JIT), so a
/// process starts them at tier 0, and the runtime promotes a method only after it has been called about 30 times
/// (twice over with tiered PGO) counting from when the process has JIT-compiled nothing new for 100 ms (tiered
/// compilation's call-counting delay, which every new method a save compiles starts again). Until then a first save
/// hashed its first few hundred MiB at about a third of the optimized speed: perf of a 1 GiB save, 0.15–0.2 s of
/// it in tier-0 XxHashShared.Accumulate256; with the delay set to 0 (DOTNET_TC_CallCountingDelayMs, a diagnostic
/// knob) that time was gone and the save took 0.68 s instead of 0.89 s (bench/, README "Benchmarks").
/// The module starts it on import (before a user's first command), a session and every opened source start it too
/// (for programs that use Core without the module); <see cref="Start"/> runs it once per process, on a background
/// thread that never delays exit: one 64 KiB hash a millisecond, the calls the writer and reader make, until the
/// hash runs several times faster than at first (the optimized code is in) or <see cref="MaxMilliseconds"/> have
/// passed. It costs a few percent of one core while it
/// runs, and the promotion then happens during the first megabytes of a save instead of its first few hundred.
/// </summary>
public static class ChecksumWarmup
{
    /// <summary>The longest a warm-up runs: well past the call-counting delay of a process that is still starting.</summary>
    private const int MaxMilliseconds = 3000;
    private const int InputSize = 64 * 1024;
    /// <summary>The optimized code hashes 3–4 times as fast as tier 0; a round twice as fast as the first ones counts as optimized.</summary>
    private const int Speedup = 2, BaselineRounds = 8, FastRoundsToStop = 3;
    private static int _started;

    /// <summary>The warm-up thread's name (15 characters: all of it is the Linux thread's comm).</summary>
    internal const string ThreadName = "vfio-xxh-warmup";

    /// <summary>Whether this process has started its warm-up.</summary>
    internal static bool Started => Volatile.Read(ref _started) != 0;

    /// <summary>Starts the warm-up unless this process already has. Never throws, never waits.</summary>
    public static void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        try
        {
            new Thread(() => Run(MaxMilliseconds)) { IsBackground = true, Name = ThreadName }.Start();
        }
        catch (OutOfMemoryException) { /* no thread to spare: the first save just runs at tier 0 for a while */ }
    }

    /// <summary>
    /// The same calls the image writer and reader make (Append, then the digest), one round a millisecond, until
    /// <see cref="FastRoundsToStop"/> rounds in a row take under 1/<see cref="Speedup"/> of the fastest of the first
    /// <see cref="BaselineRounds"/>, or <paramref name="maxMilliseconds"/> pass. Returns the rounds run.
    /// </summary>
    internal static int Run(int maxMilliseconds)
    {
        var input = new byte[InputSize];
        var hash = new XxHash128();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long baseline = long.MaxValue;
        int fast = 0, round = 0;
        while (clock.ElapsedMilliseconds < maxMilliseconds)
        {
            input[0] = (byte)round;
            long start = clock.ElapsedTicks;
            hash.Append(input);
            _ = hash.GetHashAndReset();
            long took = clock.ElapsedTicks - start;
            if (round++ < BaselineRounds) baseline = Math.Min(baseline, took);
            else if (took * Speedup < baseline) { if (++fast == FastRoundsToStop) break; }
            else fast = 0;
            Thread.Sleep(1);
        }
        return round;
    }
}
