using System.Buffers.Binary;
using VfioMigration.Drivers;
using VfioMigration.Protocol;

using L = VfioMigration.Protocol.MigrationRegionLayout;

namespace VfioMigration.Conformance;

// v1 migration region (docs/protocol.md §8.6) and the RFC's NDMA bit (docs/protocol.md §8.7), through raw region reads and writes at the
// offsets the region info reports.
public sealed partial class ConformanceSuite
{
    private const string V1Source = "include/uapi/linux/vfio.h (v5.8-v5.17), struct vfio_device_migration_info";
    private const string NdmaSource = "RFC \"vfio: Update/Clarify migration uAPI, add NDMA state\" (Dec 2021) NDMA bit (VFIO_REGION_INFO_CAP_MIG_NDMA, id 6); docs/protocol.md §2.1";

    private long V1Base => (long)((V1MigrationDriver)_driver).Region.Offset;
    private bool V1Ndma => ((V1MigrationDriver)_driver).NdmaCapable;

    private (int Rc, uint Value) V1Read32(int field)
    {
        Span<byte> b = stackalloc byte[4];
        int rc = _t.Read(V1Base + field, b);
        return (rc, BinaryPrimitives.ReadUInt32LittleEndian(b));
    }

    private (int Rc, ulong Value) V1Read64(int field)
    {
        Span<byte> b = stackalloc byte[8];
        int rc = _t.Read(V1Base + field, b);
        return (rc, BinaryPrimitives.ReadUInt64LittleEndian(b));
    }

    private int V1WriteState(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        int rc = _t.Write(V1Base + L.DeviceStateOffset, b);
        return rc < 0 ? rc : 0;
    }

    private uint? V1State() => V1Read32(L.DeviceStateOffset) is (4, var v) ? v : null;
    private static string Hex(uint? v) => v is { } x ? $"0x{x:X}" : "unreadable";

    private void RunV1()
    {
        const string area = ConformanceArea.V1;
        var open = V1State();
        Check(49, "v1.open-state", area, "device_state is RUNNING (0x1) after open", "0x1", $"{V1Source} (default state RUNNING)",
            () => open == 0x1 ? Pass($"device_state {Hex(open)}") : Fail($"device_state {Hex(open)}", "a freshly opened device must read exactly 0x1"), prepare: false);
        Check(46, "v1.region", area, "The migration region is type 3 / subtype 1, readable, writable, with capabilities, larger than 32 bytes",
            "cap type 2: type 3, subtype 1; flags READ|WRITE|CAPS; size > 32", $"{V1Source}; VFIO_REGION_TYPE_MIGRATION, VFIO_REGION_SUBTYPE_MIGRATION", () =>
            {
                var r = ((V1MigrationDriver)_driver).Region;
                string obs = $"region {r.Index}: type {r.RegionType}, flags 0x{r.Flags:X}, size {r.Size}";
                return r.CanRead && r.CanWrite && r.HasCaps && r.Size > L.RegisterBlockSize ? Pass(obs) : Fail(obs, "the region must be readable, writable, carry capabilities and hold more than the register block");
            });
        foreach (var s in SupportedStates())
            Check(49, $"v1.reset.{s}", area, $"Reset from {s} (0x{(uint)StateCorrespondence.ToV1Bits(s):X}) returns 0x1", "VFIO_DEVICE_RESET 0; device_state 0x1",
                $"{V1Source}; RFC: every VFIO_DEVICE_RESET returns the state to RUNNING", () =>
                {
                    Reach(s);
                    int rc = _t.Reset();
                    var now = V1State();
                    string obs = $"reset from {Hex((uint)StateCorrespondence.ToV1Bits(s))}: {Rc(rc)}; device_state {Hex(now)}";
                    return rc == 0 && now == 0x1 ? Pass(obs) : Fail(obs, "a reset must return device_state to exactly 0x1");
                });
        Check(50, "v1.invalid-writes", area, "Writes of 0x5, 0x6 and 0x7 are refused, state unchanged", "EINVAL each; device_state stays 0x1",
            $"{V1Source}; VFIO_DEVICE_STATE_VALID, VFIO_DEVICE_STATE_IS_ERROR", () =>
            {
                var seen = new List<string>();
                foreach (uint v in new uint[] { 0x5, 0x6, 0x7 })
                {
                    int rc = V1WriteState(v);
                    var now = V1State();
                    seen.Add($"0x{v:X}: {Rc(rc)}, now {Hex(now)}");
                    if (rc >= 0 || now != 0x1) return Fail(string.Join("; ", seen), $"0x{v:X} is not a state that can be written");
                }
                return Pass(string.Join("; ", seen));
            });
        Check(51, "v1.qemu-flows", area, "The transitions QEMU's v1 code made all succeed",
            "0x1->0x3->0x2->0x0->0x1, 0x1->0x4->0x1 (with a stream), 0x3->0x1, 0x2->0x1", "QEMU hw/vfio/migration.c (5.2-7.2) vfio_migration_set_state; docs/protocol.md §3.13", () =>
            {
                var stream = SavedStream();
                Fresh();
                var seen = new List<string>();
                foreach (var (target, label) in new[] { (MigrationState.PreCopy, "0x3"), (MigrationState.StopCopy, "0x2"), (MigrationState.Stop, "0x0"), (MigrationState.Running, "0x1"),
                    (MigrationState.Resuming, "0x4"), (MigrationState.Running, "0x1"), (MigrationState.PreCopy, "0x3"), (MigrationState.Running, "0x1"),
                    (MigrationState.StopCopy, "0x2"), (MigrationState.Running, "0x1") })
                {
                    _driver.RequestState(target);
                    if (target == MigrationState.Resuming) _driver.WriteResumeData(stream);
                    seen.Add(label);
                }
                return Pass(string.Join(" -> ", seen));
            });
        Check(52, "v1.failed-write-state", area, "A failed write leaves the previous state or 0x6, nothing else",
            "clearing RESUMING over a truncated stream fails; device_state 0x4 or 0x6; reset gives 0x1", $"{V1Source} (on failure: previous state or the error state)", () =>
            {
                var stream = SavedStream();
                Fresh();
                _driver.RequestState(MigrationState.Resuming);
                try { _driver.WriteResumeData(stream.AsSpan(0, stream.Length / 2)); } catch (VfioMigrationException) { }
                int rc = V1WriteState(0x1);
                var now = V1State();
                int reset = _t.Reset();
                var after = V1State();
                string obs = $"half a stream; write 0x1: {Rc(rc)}; device_state {Hex(now)}; reset {Rc(reset)}, {Hex(after)}";
                if (rc >= 0) return Fail(obs, "the device accepted a truncated stream");
                if ((now & 0xF) is not (0x4 or 0x6)) return Fail(obs, "after a failed write the state must be the previous one or 0x6");
                return after == 0x1 ? Pass(obs) : Fail(obs, "reset must return 0x1");
            });
        Check(53, "v1.pending-no-side-effect", area, "Re-reading pending_bytes, data_offset and data_size has no side effect; the next segment advances",
            "two pending_bytes reads agree; data_offset and data_size re-reads give the same segment; once that segment is read, the next pending_bytes read is smaller",
            $"{V1Source} (pending_bytes, data_offset, data_size)", () =>
            {
                _driver.RequestState(MigrationState.StopCopy);
                var p1 = V1Read64(L.PendingBytesOffset);
                var p2 = V1Read64(L.PendingBytesOffset);
                var o1 = V1Read64(L.DataOffsetOffset);
                var s1 = V1Read64(L.DataSizeOffset);
                var o2 = V1Read64(L.DataOffsetOffset);
                var s2 = V1Read64(L.DataSizeOffset);
                string obs = $"pending {p1.Value}, {p2.Value}; data_offset {o1.Value}, {o2.Value}; data_size {s1.Value}, {s2.Value}";
                if (p1.Rc != 8 || p2.Rc != 8 || o1.Rc != 8 || s1.Rc != 8 || o2.Rc != 8 || s2.Rc != 8) return Fail(obs, "a register read failed");
                if (p1.Value != p2.Value) return Fail(obs, "pending_bytes changed between two reads while stopped");
                if (o1.Value != o2.Value || s1.Value != s2.Value) return Fail(obs, "re-reading data_offset/data_size moved to another segment");
                if (s1.Value == 0) return Pass(obs + "; empty segment, nothing to advance past");
                // The segment is consumed by reading it; the next pending_bytes read starts the next one.
                var segment = new byte[(int)Math.Min(s1.Value, 1 << 20)];
                int read = _t.Read(V1Base + (long)o1.Value, segment);
                var p3 = V1Read64(L.PendingBytesOffset);
                obs += $"; segment read {read}; pending_bytes then {p3.Value}";
                if (p3.Rc != 8) return Fail(obs, "reading pending_bytes after the segment failed");
                return p3.Value < p1.Value ? Pass(obs) : Fail(obs, "after its segment was read, the next pending_bytes read must advance (be smaller)");
            });
        Check(54, "v1.data-offset", area, "data_offset lies after the register block, inside the region", "32 <= data_offset, data_offset + data_size <= region size",
            $"{V1Source} (data section follows the register block)", () =>
            {
                _driver.RequestState(MigrationState.StopCopy);
                V1Read64(L.PendingBytesOffset);
                var o = V1Read64(L.DataOffsetOffset);
                var s = V1Read64(L.DataSizeOffset);
                ulong size = ((V1MigrationDriver)_driver).Region.Size;
                string obs = $"data_offset {o.Value}, data_size {s.Value}, region {size} bytes";
                return o.Value >= L.RegisterBlockSize && o.Value + s.Value <= size ? Pass(obs) : Fail(obs, "the data section must follow the register block inside the region");
            });
        Check(55, "v1.completion", area, "Stop-and-copy completes with pending_bytes 0 while RUNNING is clear, and stays complete",
            "the save drains to pending_bytes 0 in 0x2; further reads stay 0", $"{V1Source} (pending_bytes 0 with !RUNNING: stream complete)", () =>
            {
                var (bytes, _) = SaveThroughDriver(_driver, null);
                var p1 = V1Read64(L.PendingBytesOffset);
                var p2 = V1Read64(L.PendingBytesOffset);
                var now = V1State();
                string obs = $"{bytes.Length} bytes saved; pending_bytes then {p1.Value}, {p2.Value}; device_state {Hex(now)}";
                return p1.Value == 0 && p2.Value == 0 && now == 0x2 ? Pass(obs) : Fail(obs, "a complete stop-and-copy stream must stay complete");
            });
        Check(22, "v1.no-spontaneous-change", area, "device_state changes only by a write or reset", "0x0 stays 0x0, and 0x2 stays 0x2, over time and reads",
            "RFC: no asynchronous state changes except through the user or VFIO_DEVICE_RESET", () =>
            {
                var seen = new List<string>();
                foreach (var s in new[] { MigrationState.Stop, MigrationState.StopCopy })
                {
                    Reach(s);
                    uint want = (uint)StateCorrespondence.ToV1Bits(s);
                    for (int i = 0; i < 5; i++)
                    {
                        Pass_Time();
                        var now = V1State();
                        seen.Add(Hex(now));
                        if (now != want) return Fail($"wrote 0x{want:X}, then read {string.Join(", ", seen)}", "the device changed its state on its own");
                    }
                }
                return Pass($"reads: {string.Join(", ", seen)}");
            });
        RunResume();
        RunNdma();
    }

    private void RunNdma()
    {
        const string area = ConformanceArea.Ndma;
        if (!V1Ndma)
        {
            Check(61, "ndma.bit-refused", area, "Without capability 6 the NDMA bit is refused", "write 0x9: EINVAL, device_state stays 0x1", NdmaSource, () =>
            {
                int rc = V1WriteState(0x9);
                var now = V1State();
                string obs = $"write 0x9: {Rc(rc)}; device_state {Hex(now)}";
                return rc < 0 && now == 0x1 ? Pass(obs) : Fail(obs, "bit 3 is reserved without the NDMA capability");
            });
            return;
        }
        Check(61, "ndma.states", area, "With capability 6, 0x9 and 0xB are states that read back", "writes of 0x9 and 0xB succeed and read back", NdmaSource, () =>
        {
            int a = V1WriteState(0x9);
            var sa = V1State();
            int b = V1WriteState(0xB);
            var sb = V1State();
            string obs = $"0x9: {Rc(a)}, reads {Hex(sa)}; 0xB: {Rc(b)}, reads {Hex(sb)}";
            return a == 0 && sa == 0x9 && b == 0 && sb == 0xB ? Pass(obs) : Fail(obs, "the NDMA states must be accepted and read back");
        });
        Check(62, "ndma.p2p-quiesced", area, "0x9 starts no peer-to-peer DMA; 0x1 does again", "no new P2P writes in 0x9",
            $"{NdmaSource} (\"no new DMA\"; narrowed to peer-to-peer in the RFC discussion, docs/protocol.md §2.2)", () => P2PQuiesceCheck(MigrationState.RunningP2P, () => _driver.RequestState(MigrationState.Running)));
        Check(84, "ndma.reading", area, "Which reading of NDMA the device follows: the RFC's (no DMA) or NOP2P (no peer-to-peer DMA)",
            "either reading; reported, not judged (the thread left it open)", $"{NdmaSource}; docs/protocol.md §2.2", () =>
            {
                if (_observer?.GuestWritesSent is null) return NotApplicable("DMA into guest memory cannot be observed on this device (a real device)");
                int rc = V1WriteState(0x9);
                if (rc != 0) return Fail($"write 0x9: {Rc(rc)}", "the NDMA state must be accepted");
                ulong before = _observer.GuestWritesSent!.Value;
                _observer.Advance(50);
                ulong during = _observer.GuestWritesSent!.Value - before;
                NdmaReading = during == 0 ? "RFC" : "NOP2P";
                string obs = during == 0
                    ? "in 0x9 the device started no DMA into guest memory in 50 steps: the RFC's reading (no DMA at all)"
                    : $"in 0x9 the device started {during} DMA writes into guest memory in 50 steps: the NOP2P reading (only peer-to-peer DMA stops)";
                return Pass(obs);
            });
    }
}
