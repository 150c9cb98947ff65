using VfioMigration.Backends.Linux;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

/// <summary>
/// What the running kernel answers to calls the module refuses before they reach it: STOP_COPY → PRE_COPY and →
/// PRE_COPY_P2P, arcs the uAPI's state machine does not have (docs/protocol.md §3.12). 6.12.95's mtty spins
/// forever on them, so they are asked only on kernels from 7.0 on, and as the last check of a run (a lock-up then
/// panics the guest, softlockup_panic, after every other result is in). Prints "kernel answer: ..." lines.
/// </summary>
internal static class KernelAnswerChecks
{
    public static void Run(Action<string, Func<string?>> check, string mdev)
    {
        string release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var parts = release.Split('.', '-', '+');
        if (!int.TryParse(parts[0], out int major) || major < 7)
        {
            Console.WriteLine($"kernel answer: STOP_COPY -> PRE_COPY not asked on {release} (6.12.95's mtty locks up on it; the module refuses it)");
            return;
        }
        check("the kernel refuses STOP_COPY -> PRE_COPY and -> PRE_COPY_P2P asked directly (past the module's refusal), leaving the mdev in STOP_COPY", () =>
        {
            using var t = new LinuxBackend().Open(mdev);
            uint Get()
            {
                var b = DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureGet, MigrationState.Running);
                int rc = t.Feature(b);
                return rc < 0 ? throw new InvalidOperationException($"GET MIG_DEVICE_STATE: {Errno.Name(-rc)}") : DeviceFeatureBuffer.ReadDeviceState(b);
            }
            int Set(MigrationState to)
            {
                var b = DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureSet, to);
                int rc = t.Feature(b);
                if (rc >= 0 && DeviceFeatureBuffer.ReadDataFd(b) is var fd and >= 0) t.AdoptDataChannel(fd).Dispose();
                return rc;
            }
            try
            {
                foreach (var step in new[] { MigrationState.PreCopy, MigrationState.StopCopy })
                    if (Set(step) is var rc and < 0) return $"entering {step}: {Errno.Name(-rc)}";
                var answers = new List<string>();
                foreach (var target in new[] { MigrationState.PreCopy, MigrationState.PreCopyP2P })
                {
                    int rc = Set(target);
                    var now = (MigrationState)Get();
                    string answer = $"STOP_COPY -> {target}: {(rc < 0 ? Errno.Name(-rc) : "accepted")}, the device then in {now}";
                    Console.WriteLine($"kernel answer: {release} {answer}");
                    if (rc >= 0 || now != MigrationState.StopCopy) answers.Add(answer);
                }
                return answers.Count == 0 ? null : string.Join("; ", answers);
            }
            finally
            {
                // Back to Running for whatever runs next: STOP_COPY -> STOP -> RUNNING, or a reset.
                if (Set(MigrationState.Stop) < 0 || Set(MigrationState.Running) < 0) t.Reset();
            }
        });
    }
}
