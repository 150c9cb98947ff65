using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Conformance;

// v2 data sessions (docs/protocol.md §8.3): which arcs return an fd, fd directions, end of stream, "no data now",
// PRECOPY_INFO, invalidation by reset and by leaving the session, MIG_DATA_SIZE against the bytes produced.
public sealed partial class ConformanceSuite
{
    private const string DataFdSource = "include/uapi/linux/vfio.h, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE and enum vfio_device_mig_state (data_fd)";
    private const string PrecopySource = "include/uapi/linux/vfio.h, VFIO_MIG_GET_PRECOPY_INFO, struct vfio_precopy_info";

    private bool HasPreCopy => Capabilities.HasFlag(MigrationCapabilities.PreCopy);

    /// <summary>Opens a session with a single raw SET from the state before it: StopCopy/Resuming from Stop, PreCopy from Running.</summary>
    private (IMigrationDataChannel Fd, string Observed) OpenRaw(MigrationState s)
    {
        var from = s == MigrationState.PreCopy ? MigrationState.Running : MigrationState.Stop;
        Reach(from);
        var (rc, _, fd) = RawSet((uint)s);
        var c = Adopt(fd) ?? throw new InvalidOperationException($"SET {from} -> {s} returned {Rc(rc)} and data_fd {fd}: no session to check");
        return (c, $"SET {from} -> {s}: {Rc(rc)}, data_fd new");
    }

    private void RunV2Data()
    {
        const string area = ConformanceArea.Data;
        Check(23, "data.fd-from-stop", area, "Stop -> StopCopy returns a new data fd", "0 and data_fd >= 0", DataFdSource, () =>
        {
            _driver.RequestState(MigrationState.Stop);
            var (rc, _, fd) = RawSet((uint)MigrationState.StopCopy);
            Adopt(fd);
            string obs = $"{Rc(rc)}, data_fd {(fd >= 0 ? "new" : fd.ToString(System.Globalization.CultureInfo.InvariantCulture))}";
            return rc == 0 && fd >= 0 ? Pass(obs) : Fail(obs, "entering STOP_COPY from STOP opens the save session and returns its fd");
        });
        if (HasPreCopy)
            Check(23, "data.precopy-fd-continues", area, "PreCopy -> StopCopy returns no fd; the pre-copy fd carries on to end of stream",
                "SET 0 with data_fd -1; the pre-copy fd reads on until 0", DataFdSource, () =>
                {
                    var (pre, o) = OpenRaw(MigrationState.PreCopy);
                    var (rc, _, fd) = RawSet((uint)MigrationState.StopCopy);
                    Adopt(fd);
                    var (bytes, last) = ReadToEnd(pre);
                    string obs = $"{o}; SET StopCopy: {Rc(rc)}, data_fd {fd}; pre-copy fd then read {bytes.Length} bytes, last read {Rc(last)}";
                    if (rc != 0 || fd != -1) return Fail(obs, "PRE_COPY -> STOP_COPY continues the session: SET 0 and data_fd -1");
                    return last == 0 && bytes.Length > 0 ? Pass(obs) : Fail(obs, "the pre-copy fd must deliver the stop-copy data and end with read() = 0");
                });
        Check(24, "data.fd-directions", area, "Save fds are read-only, resume fds write-only", "write() on a save fd and read() on a resume fd fail",
            $"{DataFdSource}; drivers/vfio/pci/mlx5/main.c (save fops have no write, resume fops no read)", () =>
            {
                var (save, o1) = OpenRaw(MigrationState.StopCopy);
                int w = save.Write(new byte[16]);
                var (resume, o2) = OpenRaw(MigrationState.Resuming);
                int r = resume.Read(new byte[16]);
                string obs = $"{o1}; write on it: {Rc(w)}; {o2}; read on it: {Rc(r)}";
                if (w >= 0) return Fail(obs, "a save fd accepted a write");
                return r < 0 ? Pass(obs) : Fail(obs, "a resume fd answered a read");
            });
        Check(27, "data.stopcopy-eof", area, "In StopCopy the stream ends with read() = 0, and stays at 0", "read() 0 at the end and 0 again; never ENOMSG or another error",
            $"{Uapi}, enum vfio_device_mig_state (STOP_COPY: \"the end of the stream is read() == 0\")", () =>
            {
                var (fd, o) = OpenRaw(MigrationState.StopCopy);
                var (bytes, last) = ReadToEnd(fd);
                int again = fd.Read(new byte[4096]);
                string obs = $"{o}; {bytes.Length} bytes, then {Rc(last)}, then {Rc(again)}";
                if (last != 0) return Fail(obs, "the stop-copy stream must end with read() = 0, not an error");
                return again == 0 ? Pass(obs) : Fail(obs, "after end of stream read() must keep returning 0");
            });
        if (HasPreCopy)
        {
            Check(28, "data.precopy-nothing-now", area, "In PreCopy \"no data now\" is 0 or ENOMSG; more may follow in StopCopy",
                "pre-copy reads end with 0 or ENOMSG, no other error; after SET StopCopy the fd reads on to end of stream",
                $"{Uapi}, enum vfio_device_mig_state (PRE_COPY: ENOMSG when no data is available now)", () =>
                {
                    var (fd, o) = OpenRaw(MigrationState.PreCopy);
                    var buf = new byte[ReadChunk];
                    long got = 0;
                    int rc = 1, reads = 0;
                    for (; reads < 2048 && rc > 0; reads++)
                    {
                        rc = fd.Read(buf);
                        if (rc > 0) got += rc;
                    }
                    string idle = rc > 0 ? $"still busy after {reads} reads ({got} bytes)" : $"{got} bytes then {Rc(rc)}";
                    if (rc < 0 && rc != -Errno.ENOMSG) return Fail($"{o}; pre-copy: {idle}", "in PRE_COPY only ENOMSG (or 0) may say there is nothing now");
                    var (set, _, newFd) = RawSet((uint)MigrationState.StopCopy);
                    Adopt(newFd);
                    var (rest, last) = ReadToEnd(fd);
                    string obs = $"{o}; pre-copy: {idle}; SET StopCopy {Rc(set)}; then {rest.Length} bytes and {Rc(last)}";
                    if (set != 0) return Fail(obs, "PRE_COPY -> STOP_COPY must succeed");
                    return last == 0 ? Pass(obs) : Fail(obs, "after the pre-copy pause the fd must read on to end of stream");
                });
            Check(30, "data.precopy-info-argsz", area, "PRECOPY_INFO with argsz 23 is refused", "EINVAL", PrecopySource, () =>
            {
                var (fd, o) = OpenRaw(MigrationState.PreCopy);
                var b = PrecopyInfo.CreateRequest();
                BinaryPrimitives.WriteUInt32LittleEndian(b, 23);
                int rc = fd.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, b);
                string obs = $"{o}; argsz 23: {Rc(rc)}";
                return rc == -Errno.EINVAL ? Pass(obs) : Fail(obs, "argsz under sizeof(struct vfio_precopy_info) must fail with EINVAL");
            });
            Check(30, "data.precopy-info-outside", area, "PRECOPY_INFO outside pre-copy is refused", "EINVAL once the session is in StopCopy", PrecopySource, () =>
            {
                var (fd, o) = OpenRaw(MigrationState.PreCopy);
                var (set, _, newFd) = RawSet((uint)MigrationState.StopCopy);
                Adopt(newFd);
                int rc = fd.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, PrecopyInfo.CreateRequest());
                string obs = $"{o}; SET StopCopy {Rc(set)}; PRECOPY_INFO: {Rc(rc)}";
                return rc == -Errno.EINVAL ? Pass(obs) : Fail(obs, "PRECOPY_INFO is only valid in PRE_COPY and PRE_COPY_P2P");
            });
            Check(30, "data.precopy-info-initial-bytes", area, "PRECOPY_INFO initial_bytes never grows while the stream is read",
                "initial_bytes non-increasing as data is read (no REINIT without feature 12)", PrecopySource, () =>
                {
                    var (fd, o) = OpenRaw(MigrationState.PreCopy);
                    var seen = new List<ulong>();
                    var buf = new byte[64 * 1024];
                    for (int i = 0; i < 64; i++)
                    {
                        var b = PrecopyInfo.CreateRequest();
                        int rc = fd.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, b);
                        if (rc < 0) return Fail($"{o}; PRECOPY_INFO: {Rc(rc)}", "PRECOPY_INFO is mandatory for a device with PRE_COPY");
                        ulong initial = PrecopyInfo.Parse(b).InitialBytes;
                        seen.Add(initial);
                        if (seen.Count > 1 && initial > seen[^2])
                            return Fail($"{o}; initial_bytes {string.Join(" -> ", seen.TakeLast(6))}", "initial_bytes grew while the stream was being read");
                        if (initial == 0) break;
                        if (fd.Read(buf) <= 0) break;
                    }
                    return Pass($"{o}; initial_bytes {Summarize(seen)}");
                });
            Check(30, "data.precopy-info-matches-read", area, "PRECOPY_INFO counts the pre-copy data read() still returns",
                "while read() returns pre-copy data, initial_bytes + dirty_bytes read just before is not 0",
                $"{PrecopySource} (initial_bytes + dirty_bytes: what an immediate read() would return); Linux 4928f67bc911 (vfio/mlx5: dirty_bytes left out the data queued on the migration file)",
                () =>
                {
                    // Small reads, each after a PRECOPY_INFO: a device that reports 0/0 with data still queued tells
                    // a VMM that pre-copy is done, and it switches to STOP_COPY early (a longer downtime).
                    var (fd, o) = OpenRaw(MigrationState.PreCopy);
                    var buf = new byte[4096];
                    long read = 0;
                    for (int reads = 0; reads < 4096; reads++)
                    {
                        var b = PrecopyInfo.CreateRequest();
                        int rc = fd.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, b);
                        if (rc < 0) return Fail($"{o}; after {read} bytes PRECOPY_INFO: {Rc(rc)}", "PRECOPY_INFO is mandatory for a device with PRE_COPY");
                        var info = PrecopyInfo.Parse(b);
                        int n = fd.Read(buf);
                        if (n > 0 && info.InitialBytes == 0 && info.DirtyBytes == 0)
                            return Fail($"{o}; after {read} bytes PRECOPY_INFO said initial_bytes 0, dirty_bytes 0, then read() returned {n} bytes",
                                "PRECOPY_INFO must count the data still queued for read(); 0/0 tells a VMM to switch over while pre-copy data is left");
                        if (n <= 0)
                            return Pass($"{o}; {read} bytes in {reads} reads, each after a PRECOPY_INFO that counted it; then {Rc(n)} with initial_bytes {info.InitialBytes}, dirty_bytes {info.DirtyBytes}");
                        read += n;
                    }
                    return Pass($"{o}; {read} bytes in 4096 reads, each after a PRECOPY_INFO that counted it (the device kept producing data)");
                });
            Check(30, "data.precopy-info-wrong-ioctl", area, "Another ioctl on the data fd is refused", "ENOTTY", PrecopySource, () =>
            {
                var (fd, o) = OpenRaw(MigrationState.PreCopy);
                int rc = fd.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO + 1, PrecopyInfo.CreateRequest());
                string obs = $"{o}; ioctl 0x{VfioUapi.VFIO_MIG_GET_PRECOPY_INFO + 1:X}: {Rc(rc)}";
                return rc == -Errno.ENOTTY ? Pass(obs) : Fail(obs, "unknown ioctls on the data fd must fail with ENOTTY");
            });
        }
        else
        {
            foreach (var (n, id) in new[] { (28, "data.precopy-nothing-now"), (30, "data.precopy-info") })
                Emit(NotApplicableResult(n, id, area, "Pre-copy data rules", "-", PrecopySource, "the device has no PRE_COPY"));
        }
        foreach (var s in new[] { MigrationState.StopCopy, MigrationState.Resuming }.Concat(HasPreCopy ? new[] { MigrationState.PreCopy } : Array.Empty<MigrationState>()))
            Check(21, $"data.reset-kills-fd.{s}", area, $"Reset ends the {s} session: I/O on its fd fails", "read()/write() on the old fd fails after VFIO_DEVICE_RESET",
                $"{DataFdSource}; drivers/vfio/pci/mlx5/main.c mlx5vf_pci_reset_done (sessions are torn down on reset)", () =>
                {
                    var (fd, o) = OpenRaw(s);
                    int reset = _t.Reset();
                    int io = s == MigrationState.Resuming ? fd.Write(new byte[16]) : fd.Read(new byte[4096]);
                    string obs = $"{o}; reset {Rc(reset)}; {(s == MigrationState.Resuming ? "write" : "read")} on the old fd: {Rc(io)}";
                    return io < 0 ? Pass(obs) : Fail(obs, "the data fd still works after a reset");
                });
        Check(29, "data.fd-dead-after-session", area, "Leaving a session ends its fd: StopCopy -> Stop" + (HasPreCopy ? ", PreCopy -> Running" : ""),
            "read() on the old fd fails after the session ends", $"{DataFdSource} (the fd is no longer usable once the session ends)", () =>
            {
                var parts = new List<string>();
                var (sc, o1) = OpenRaw(MigrationState.StopCopy);
                var (rc1, _, _) = RawSet((uint)MigrationState.Stop);
                int io1 = sc.Read(new byte[4096]);
                parts.Add($"{o1}; SET Stop {Rc(rc1)}; read {Rc(io1)}");
                if (io1 >= 0) return Fail(string.Join("; ", parts), "the save fd still reads after STOP_COPY -> STOP");
                if (HasPreCopy)
                {
                    var (pc, o2) = OpenRaw(MigrationState.PreCopy);
                    var (rc2, _, _) = RawSet((uint)MigrationState.Running);
                    int io2 = pc.Read(new byte[4096]);
                    parts.Add($"{o2}; SET Running {Rc(rc2)}; read {Rc(io2)}");
                    if (io2 >= 0) return Fail(string.Join("; ", parts), "the pre-copy fd still reads after PRE_COPY -> RUNNING");
                }
                return Pass(string.Join("; ", parts));
            });
        Check(37, "data.mig-data-size", area, "MIG_DATA_SIZE estimates the bytes a StopCopy produces",
            "estimate within a factor of 2 of the bytes read (or within 64 KiB); exact on the simulator",
            $"{Uapi}, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, struct vfio_device_feature_mig_data_size", () =>
            {
                _driver.RequestState(MigrationState.Stop);
                var (rc, b) = Feature(Get | VfioUapi.FeatureMigDataSize, 8);
                if (rc == -Errno.ENOTTY) return NotApplicable("the device has no MIG_DATA_SIZE (ENOTTY; added in kernel 6.2)");
                if (rc != 0) return Fail($"GET MIG_DATA_SIZE in Stop: {Rc(rc)}", "MIG_DATA_SIZE GET must work in every state");
                ulong estimate = DeviceFeatureBuffer.ReadU64Payload(b);
                var (set, _, fd) = RawSet((uint)MigrationState.StopCopy);
                var c = Adopt(fd) ?? throw new InvalidOperationException($"SET Stop -> StopCopy returned {Rc(set)} and no fd");
                var (bytes, last) = ReadToEnd(c);
                ulong actual = (ulong)bytes.LongLength;
                ulong diff = estimate > actual ? estimate - actual : actual - estimate;
                string obs = $"estimate {estimate} bytes; StopCopy produced {actual} bytes (end {Rc(last)})";
                bool close = diff <= 64 * 1024 || (estimate <= 2 * actual && actual <= 2 * estimate);
                if (_observer is not null && diff != 0) return Fail(obs, "the simulator's estimate must be exact");
                return close ? Pass(obs) : Fail(obs, "the estimate is off by more than a factor of 2; VMMs size buffers and downtime from it");
            });
    }

    private static string Summarize(List<ulong> values) =>
        values.Count <= 6 ? string.Join(" -> ", values) : $"{values[0]} -> {values[1]} -> ... -> {values[^1]} ({values.Count} reads)";
}
