using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VfioMigration.Protocol;

namespace VfioMigration.Conformance;

// Device DMA logging, features 6–8 (docs/protocol.md §8.5). Range arrays and report bitmaps are user pointers, as the
// kernel reads them with copy_from_user; the suite passes native memory it frees itself.
public sealed partial class ConformanceSuite
{
    private const string LoggingSource = "include/uapi/linux/vfio.h, VFIO_DEVICE_FEATURE_DMA_LOGGING_START/STOP/REPORT; drivers/vfio/vfio_main.c vfio_ioctl_device_feature_logging_start";
    // vfio_main.c passes a second START to the driver; the uAPI forbids it and each driver's log_start refuses it.
    private const string StartTwiceSource = "include/uapi/linux/vfio.h, struct vfio_device_feature_dma_logging_control (\"another start is not allowed in the meantime\"); not checked by drivers/vfio/vfio_main.c, refused by each driver's log_ops->log_start (drivers/vfio/pci/mlx5/cmd.c mlx5vf_start_page_tracker: EINVAL)";
    private const ulong LogPage = 4096;

    private void RunDmaLogging()
    {
        const string area = ConformanceArea.DmaLogging;
        var (probe, _) = Feature(Probe | Set | VfioUapi.FeatureDmaLoggingStart, 0);
        bool offered = probe == 0;
        Check(45, "dma-logging.probe", area, "PROBE of DMA_LOGGING_START tells logging devices apart",
            "PROBE 0 with logging; without it ENOTTY, and ENOTTY for features 6, 7 and 8", LoggingSource, () =>
            {
                if (offered) return Pass($"PROBE|SET feature 6: {Rc(probe)} (logging offered)");
                var (s6, _) = Feature(Set | VfioUapi.FeatureDmaLoggingStart, 24);
                var (s7, _) = Feature(Set | VfioUapi.FeatureDmaLoggingStop, 0);
                var (g8, _) = Feature(Get | VfioUapi.FeatureDmaLoggingReport, 32);
                string obs = $"PROBE: {Rc(probe)}; START {Rc(s6)}; STOP {Rc(s7)}; REPORT {Rc(g8)}";
                return probe == -Errno.ENOTTY && s6 == -Errno.ENOTTY && s7 == -Errno.ENOTTY && g8 == -Errno.ENOTTY
                    ? Pass(obs) : Fail(obs, "a device without DMA logging answers ENOTTY to features 6-8 and to their PROBE");
            });
        if (!offered)
        {
            Emit(NotApplicableResult(42, "dma-logging.rules", area, "DMA logging START/REPORT rules", "-", LoggingSource, "the device offers no DMA logging (PROBE ENOTTY)"));
            return;
        }
        LoggingCheck(42, "dma-logging.start-no-ranges", "START with num_ranges 0 is refused", "EINVAL", l => Expect(l.Start(LogPage, Array.Empty<(ulong, ulong)>(), count: 0), Errno.EINVAL, "num_ranges 0"));
        LoggingCheck(42, "dma-logging.start-too-many", "START with more ranges than fit a page is refused", "E2BIG",
            l => Expect(l.Start(LogPage, Enumerable.Range(0, 257).Select(i => ((ulong)i * 2 * LogPage, LogPage)).ToArray()), Errno.E2BIG, "257 ranges"));
        LoggingCheck(42, "dma-logging.start-misaligned", "START with a range not aligned to page_size is refused", "EINVAL",
            l => Expect(l.Start(LogPage, new[] { (100UL, LogPage) }), Errno.EINVAL, "iova 100"));
        LoggingCheck(42, "dma-logging.start-overlap", "START with overlapping ranges is refused", "EINVAL",
            l => Expect(l.Start(LogPage, new[] { (0UL, 4 * LogPage), (2 * LogPage, 4 * LogPage) }), Errno.EINVAL, "overlapping ranges"));
        LoggingCheck(42, "dma-logging.start-twice", "A second START without STOP is refused", "the second START fails",
            l =>
            {
                int first = l.Start(LogPage, new[] { (0UL, 16 * LogPage) });
                int second = l.Start(LogPage, new[] { (0UL, 16 * LogPage) });
                string obs = $"first START {Rc(first)}; second START {Rc(second)}";
                if (first != 0) return Fail(obs, "a valid START must succeed");
                return second < 0 ? Pass(obs) : Fail(obs, "only one START is allowed until STOP");
            }, StartTwiceSource);
        LoggingCheck(43, "dma-logging.report-page-size", "REPORT with page_size under 4096 or not a power of two is refused", "EINVAL for 2048 and 6144",
            l =>
            {
                int start = l.Start(LogPage, new[] { (0UL, 16 * LogPage) });
                int a = l.Report(0, 16 * LogPage, 2048);
                int b = l.Report(0, 16 * LogPage, 6144);
                string obs = $"START {Rc(start)}; REPORT page 2048: {Rc(a)}; page 6144: {Rc(b)}";
                return a == -Errno.EINVAL && b == -Errno.EINVAL ? Pass(obs) : Fail(obs, "the report page size must be a power of two of at least 4096");
            });
        LoggingCheck(43, "dma-logging.report-before-start", "REPORT before START is refused", "an error",
            l =>
            {
                int rc = l.Report(0, 16 * LogPage, LogPage);
                return rc < 0 ? Pass($"REPORT: {Rc(rc)}") : Fail($"REPORT: {Rc(rc)}", "there is no log to report before START");
            });
    }

    private static Verdict Expect(int rc, int errno, string what) =>
        rc == -errno ? Pass($"{what}: {Rc(rc)}") : Fail($"{what}: {Rc(rc)}", $"must fail with {Errno.Name(errno)}");

    private void LoggingCheck(int number, string id, string name, string required, Func<LoggingCalls, Verdict> body, string source = LoggingSource) =>
        Check(number, id, ConformanceArea.DmaLogging, name, required, source, () =>
        {
            using var l = new LoggingCalls(this);
            try { return body(l); }
            finally { Feature(Set | VfioUapi.FeatureDmaLoggingStop, 0); }
        });

    /// <summary>DMA logging calls with their user-pointer buffers.</summary>
    private sealed class LoggingCalls : IDisposable
    {
        private readonly ConformanceSuite _suite;
        private readonly List<IntPtr> _native = new();
        public LoggingCalls(ConformanceSuite suite) => _suite = suite;

        private IntPtr Native(byte[] bytes)
        {
            var p = Marshal.AllocHGlobal(Math.Max(bytes.Length, 8));
            Marshal.Copy(bytes, 0, p, bytes.Length);
            _native.Add(p);
            return p;
        }

        public int Start(ulong pageSize, (ulong Iova, ulong Length)[] ranges, uint? count = null)
        {
            var raw = new byte[Math.Max(1, ranges.Length) * 16];
            for (int i = 0; i < ranges.Length; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(i * 16), ranges[i].Iova);
                BinaryPrimitives.WriteUInt64LittleEndian(raw.AsSpan(i * 16 + 8), ranges[i].Length);
            }
            var ptr = Native(raw);
            return _suite.Feature(Set | VfioUapi.FeatureDmaLoggingStart, 24, fill: b =>
            {
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), pageSize);
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), count ?? (uint)ranges.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), (ulong)ptr);
            }).Rc;
        }

        public int Report(ulong iova, ulong length, ulong pageSize)
        {
            var ptr = Native(new byte[Math.Max(8, (int)((length / 1024 + 63) / 64 * 8))]);
            return _suite.Feature(Get | VfioUapi.FeatureDmaLoggingReport, 32, fill: b =>
            {
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), iova);
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), length);
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), pageSize);
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32), (ulong)ptr);
            }).Rc;
        }

        public void Dispose()
        {
            foreach (var p in _native) Marshal.FreeHGlobal(p);
        }
    }
}
