using System.Buffers.Binary;
using VfioMigration.Drivers;
using VfioMigration.Protocol;

namespace VfioMigration.Conformance;

// Resume (docs/protocol.md checklist 31–36, checklist 57): a save -> restore round trip, chunking, and damaged streams
// that must fail. Through the protocol driver, so the same checks hold v1 and v2 devices to the same rules.
public sealed partial class ConformanceSuite
{
    private const string ResumeSource = "include/uapi/linux/vfio.h, enum vfio_device_mig_state (RESUMING: leaving it loads and validates the stream)";

    private void RunResume()
    {
        const string area = ConformanceArea.Resume;
        Check(31, "resume.round-trip", area, _peerTransport is null ? "Save and restore into the same device" : "Save from the device, restore into the peer",
            "the stream loads (Resuming -> Stop 0), the target ends Running; where observable, its state equals the source's byte for byte",
            ResumeSource, RoundTrip, peer: _peerTransport?.Address);
        Check(32, "resume.chunking", area, "The resume stream is accepted in any chunking", "1-byte and odd-sized writes accepted; Resuming -> Stop succeeds",
            $"{ResumeSource}; the stream is opaque, segmentation is free (v2)", () =>
            {
                var stream = SavedStream();
                Fresh();
                _driver.RequestState(MigrationState.Resuming);
                int head = Math.Min(Protocol == MigrationProtocol.V1 ? 8 + 64 : 4096, stream.Length);
                for (int i = 0; i < head; i++) _driver.WriteResumeData(stream.AsSpan(i, 1));
                for (int at = head; at < stream.Length; at += 4093) _driver.WriteResumeData(stream.AsSpan(at, Math.Min(4093, stream.Length - at)));
                _driver.RequestState(MigrationState.Stop);
                return Pass($"{stream.Length} bytes: {head} one-byte writes, then 4093-byte writes; Resuming -> Stop ok");
            });
        Check(33, "resume.truncated", area, "A truncated stream is refused when leaving Resuming", "Resuming -> Stop fails; state Resuming or Error; reset recovers Running",
            $"{ResumeSource}; samples/vfio-mdev/mtty.c mtty_load_state (incomplete data: EINVAL)", () =>
                DamagedResume(s => s.AsSpan(0, s.Length / 2).ToArray(), "half the stream"));
        Check(34, "resume.corrupted-header", area, "A stream with a corrupted header is refused", "a write or Resuming -> Stop fails; never a silent load",
            $"{ResumeSource}; samples/vfio-mdev/mtty.c mtty_data_write (header checked early: EFAULT)", () =>
                DamagedResume(s =>
                {
                    var c = (byte[])s.Clone();
                    int at = Protocol == MigrationProtocol.V1 ? 8 : 0; // v1: past our segment frame, into the device's bytes
                    for (int i = at; i < Math.Min(at + 16, c.Length); i++) c[i] ^= 0xFF;
                    return c;
                }, "16 header bytes inverted"));
        Check(35, "resume.trailing-bytes", area, "A stream with extra bytes after its end is refused", "a write or Resuming -> Stop fails",
            $"{ResumeSource}; samples/vfio-mdev/mtty.c mtty_data_write (data beyond the expected length)", () =>
                DamagedResume(s =>
                {
                    var extra = new byte[64];
                    extra.AsSpan().Fill(0x5A);
                    if (Protocol != MigrationProtocol.V1) return s.Concat(extra).ToArray();
                    var frame = new byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(frame, (ulong)extra.Length);
                    return s.Concat(frame).Concat(extra).ToArray(); // v1: one more segment after the device's last
                }, "64 bytes appended"));
        Check(36, "resume.abort-by-reset", area, "A restore is aborted by reset, not by leaving Resuming", "reset from Resuming with partial data returns Running",
            $"{ResumeSource} (aborting needs VFIO_DEVICE_RESET)", () =>
            {
                var stream = SavedStream();
                Fresh();
                _driver.RequestState(MigrationState.Resuming);
                _driver.WriteResumeData(stream.AsSpan(0, Math.Min(4096, stream.Length)));
                int rc = _t.Reset();
                var now = StateNow();
                string obs = $"Resuming with {Math.Min(4096, stream.Length)} bytes; reset {Rc(rc)}; state {StateText(now)}";
                return now == MigrationState.Running ? Pass(obs) : Fail(obs, "a reset must abandon the restore and return Running");
            });
    }

    private Verdict RoundTrip()
    {
        IDeviceMigration? peer = null;
        try
        {
            if (_peerTransport is not null)
            {
                peer = MigrationDriverFactory.Open(_peerTransport, _loggers);
                if (peer.Protocol != Protocol) return Fail($"peer speaks {peer.Protocol}, the device {Protocol}", "the peer is not a compatible device");
                try { peer.Reset(); } catch (VfioMigrationException) { }
            }
            _observer?.Advance(100); // some device activity, so the state is not just the reset state
            var (bytes, source) = SaveDevice();
            var target = peer ?? _driver;
            var targetObserver = peer is null ? _observer : _peerObserver;
            if (peer is null) Fresh();
            target.RequestState(MigrationState.Resuming);
            target.WriteResumeData(bytes);
            target.RequestState(MigrationState.Stop);
            var restored = targetObserver?.CaptureState();
            target.RequestState(MigrationState.Running);
            var now = target.TryGetState();
            string obs = $"{bytes.Length} bytes saved from {Address}, loaded into {target.Address}; {target.Address} now {StateText(now)}";
            if (now != MigrationState.Running) return Fail(obs, "the restored device must reach Running");
            if (source is null || restored is null) return Pass(obs + "; internal state not observable (stream accepted)");
            obs += source.AsSpan().SequenceEqual(restored) ? "; internal state identical" : "; internal state DIFFERS";
            return source.AsSpan().SequenceEqual(restored) ? Pass(obs) : Fail(obs, "the restored device's state is not the saved one");
        }
        finally
        {
            if (peer is not null)
            {
                try { peer.Reset(); } catch (VfioMigrationException) { }
                peer.Dispose();
            }
        }
    }

    /// <summary>Writes a damaged stream; the device must fail a write or the load, land in Resuming or Error, and reset to Running.</summary>
    private Verdict DamagedResume(Func<byte[], byte[]> damage, string what)
    {
        var stream = damage(SavedStream());
        Fresh();
        _driver.RequestState(MigrationState.Resuming);
        string step;
        bool refused = false;
        try
        {
            _driver.WriteResumeData(stream);
            step = $"{what}: {stream.Length} bytes written";
        }
        catch (VfioMigrationException e)
        {
            step = $"{what}: a write failed ({e.Message})";
            refused = true;
        }
        MigrationState? after;
        if (!refused)
        {
            try
            {
                _driver.RequestState(MigrationState.Stop);
                after = StateNow();
                return Fail($"{step}; Resuming -> Stop succeeded; state {StateText(after)}", "the device loaded a damaged stream without complaint");
            }
            catch (MigrationTransitionException e)
            {
                step += $"; Resuming -> Stop failed ({(e.Errno is { } n ? Errno.Name(n) : e.ErrorId)})";
            }
        }
        after = StateNow();
        int rc = _t.Reset();
        var reset = StateNow();
        string obs = $"{step}; state {StateText(after)}; reset {Rc(rc)}, state {StateText(reset)}";
        if (!refused && after is not (MigrationState.Resuming or MigrationState.Error))
            return Fail(obs, "after a failed load the device must be in Resuming or Error");
        return reset == MigrationState.Running ? Pass(obs) : Fail(obs, "a reset must recover the device to Running");
    }
}
