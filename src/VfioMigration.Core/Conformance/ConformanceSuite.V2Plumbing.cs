using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Conformance;

// v2 feature plumbing (docs/protocol.md §8.1): raw VFIO_DEVICE_FEATURE buffers, validated as vfio_ioctl_device_feature
// and vfio_check_feature do.
public sealed partial class ConformanceSuite
{
    private const string FeatureSource = "drivers/vfio/vfio_main.c vfio_ioctl_device_feature";
    private const string CheckFeatureSource = "include/linux/vfio.h vfio_check_feature";
    private const uint Mig = VfioUapi.FeatureMigration, MigState = VfioUapi.FeatureMigDeviceState;
    private const uint Get = VfioUapi.FeatureGet, Set = VfioUapi.FeatureSet, Probe = VfioUapi.FeatureProbe;

    private void RunV2(int openRc, MigrationState? openState)
    {
        Check(10, "fsm.open-state", ConformanceArea.Fsm, "A freshly opened device reads Running",
            "GET MIG_DEVICE_STATE right after open returns RUNNING", $"{Uapi}, enum vfio_device_mig_state (RUNNING is the state after open and reset)",
            () => openRc == 0 && openState == MigrationState.Running
                ? Pass("GET after open: Running")
                : Fail(openRc < 0 ? $"GET after open: {Rc(openRc)}" : $"GET after open: {StateText(openState)}", "the device was not Running when opened"),
            prepare: false);
        RunV2Plumbing();
        RunV2StateMachine();
        RunV2Data();
        RunResume();
        RunDmaLogging();
        RunPrecopyInfoV2();
    }

    private void RunV2Plumbing()
    {
        const string area = ConformanceArea.Plumbing;
        Check(1, "plumbing.argsz-short", area, "argsz below the 8-byte header is refused", "EINVAL",
            $"{Uapi}, struct vfio_device_feature; {FeatureSource} (argsz < minsz)", () =>
            {
                var (rc, _) = Feature(Get | Mig, 8, argsz: 4);
                return rc == -Errno.EINVAL ? Pass($"argsz 4: {Rc(rc)}") : Fail($"argsz 4: {Rc(rc)}", "a header shorter than 8 bytes must fail with EINVAL");
            });
        Check(2, "plumbing.unknown-flag", area, "An unknown flag bit is refused", "EINVAL",
            $"{Uapi}, VFIO_DEVICE_FEATURE_MASK/GET/SET/PROBE; {FeatureSource}", () =>
            {
                var (rc, _) = Feature(Get | Mig | (1u << 19), 8);
                return rc == -Errno.EINVAL ? Pass($"flags 0x{Get | Mig | (1u << 19):X}: {Rc(rc)}") : Fail($"flags with bit 19: {Rc(rc)}", "flag bits outside mask|GET|SET|PROBE must fail with EINVAL");
            });
        Check(3, "plumbing.get-and-set", area, "GET|SET without PROBE is refused; PROBE|GET|SET on GET-only MIGRATION too",
            "EINVAL for both, device state unchanged", $"{FeatureSource}; {CheckFeatureSource}", () =>
            {
                var (rc1, _) = Feature(Get | Set | MigState, 8, fill: b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), (uint)MigrationState.Stop));
                var (rc2, _) = Feature(Probe | Get | Set | Mig, 8);
                var now = StateNow();
                string obs = $"GET|SET MIG_DEVICE_STATE: {Rc(rc1)}; PROBE|GET|SET MIGRATION: {Rc(rc2)}; state {StateText(now)}";
                if (rc1 != -Errno.EINVAL) return Fail(obs, "GET and SET together without PROBE must fail with EINVAL");
                if (rc2 != -Errno.EINVAL) return Fail(obs, "probing SET on MIGRATION, which has no SET, must fail with EINVAL");
                return now == MigrationState.Running ? Pass(obs) : Fail(obs, "a refused call changed the state");
            });
        Check(4, "plumbing.probe", area, "PROBE of MIGRATION succeeds and writes nothing back", "0, payload bytes untouched",
            $"{Uapi}, VFIO_DEVICE_FEATURE_PROBE; {CheckFeatureSource}", () =>
            {
                var (rc, b) = Feature(Probe | Mig, 8, argsz: 8, pattern: 0xA5);
                bool untouched = b.AsSpan(8).IndexOfAnyExcept((byte)0xA5) < 0 && BinaryPrimitives.ReadUInt32LittleEndian(b) == 8;
                string obs = $"{Rc(rc)}; payload {(untouched ? "untouched" : "written: " + Convert.ToHexString(b))}";
                if (rc != 0) return Fail(obs, "PROBE of a supported feature must return 0");
                return untouched ? Pass(obs) : Fail(obs, "PROBE must not copy anything back");
            });
        Check(5, "plumbing.migration-no-room", area, "GET MIGRATION without room for the flags is refused", "EINVAL",
            $"{CheckFeatureSource} (argsz - minsz < size of vfio_device_feature_migration)", () =>
            {
                var (rc, _) = Feature(Get | Mig, 8, argsz: 8);
                return rc == -Errno.EINVAL ? Pass($"argsz 8: {Rc(rc)}") : Fail($"argsz 8: {Rc(rc)}", "a GET with no payload room must fail with EINVAL");
            });
        Check(5, "plumbing.migration-flags", area, "GET MIGRATION returns STOP_COPY and a defined flag combination",
            "0; flags one of 1, 1|2, 1|4, 1|2|4 (STOP_COPY always set)", $"{Uapi}, struct vfio_device_feature_migration, VFIO_MIGRATION_*", () =>
            {
                var (rc, b) = Feature(Get | Mig, 8);
                ulong flags = DeviceFeatureBuffer.ReadU64Payload(b);
                string obs = $"{Rc(rc)}; flags 0x{flags:X}";
                if (rc != 0) return Fail(obs, "GET MIGRATION must succeed on a migratable device");
                if ((flags & 1) == 0) return Fail(obs, "STOP_COPY (1) is mandatory");
                return flags is 1 or 3 or 5 or 7 ? Pass(obs) : Fail(obs, "flags outside STOP_COPY|P2P|PRE_COPY are undefined");
            });
        Check(7, "plumbing.state-payload-short", area, "GET and SET MIG_DEVICE_STATE with a payload under 8 bytes are refused",
            "EINVAL for both, state unchanged", $"{Uapi}, struct vfio_device_feature_mig_state; {CheckFeatureSource}", () =>
            {
                var (rc1, _) = Feature(Get | MigState, 8, argsz: 12);
                var (rc2, _) = Feature(Set | MigState, 8, argsz: 12, fill: b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), (uint)MigrationState.Stop));
                var now = StateNow();
                string obs = $"GET argsz 12: {Rc(rc1)}; SET argsz 12: {Rc(rc2)}; state {StateText(now)}";
                if (rc1 != -Errno.EINVAL || rc2 != -Errno.EINVAL) return Fail(obs, "a short payload must fail with EINVAL");
                return now == MigrationState.Running ? Pass(obs) : Fail(obs, "a refused SET changed the state");
            });
        Check(9, "plumbing.data-size", area, "MIG_DATA_SIZE: GET works in every state, SET is refused",
            "GET 0 in every state the device has; SET EINVAL", $"{Uapi}, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE; {CheckFeatureSource}", () =>
            {
                var (probe, _) = Feature(Get | VfioUapi.FeatureMigDataSize, 8);
                if (probe == -Errno.ENOTTY) return NotApplicable("the device has no MIG_DATA_SIZE (ENOTTY; added in kernel 6.2)");
                var seen = new List<string>();
                foreach (var s in SupportedStates())
                {
                    Reach(s);
                    var (rc, b) = Feature(Get | VfioUapi.FeatureMigDataSize, 8);
                    seen.Add($"{s}: {(rc == 0 ? DeviceFeatureBuffer.ReadU64Payload(b) + " bytes" : Rc(rc))}");
                    if (rc != 0) return Fail(string.Join("; ", seen), $"GET MIG_DATA_SIZE failed in {s}");
                }
                Fresh();
                var (set, _) = Feature(Set | VfioUapi.FeatureMigDataSize, 8);
                seen.Add($"SET: {Rc(set)}");
                return set == -Errno.EINVAL ? Pass(string.Join("; ", seen)) : Fail(string.Join("; ", seen), "MIG_DATA_SIZE has no SET: EINVAL");
            });
    }

    /// <summary>Every state the device's flags give it, Error excluded.</summary>
    private IEnumerable<MigrationState> SupportedStates() =>
        Enum.GetValues<MigrationState>().Where(s => s != MigrationState.Error && (Protocol == MigrationProtocol.V1
            ? s is not (MigrationState.RunningP2P or MigrationState.PreCopyP2P) || Capabilities.HasFlag(MigrationCapabilities.Ndma)
            : TransitionPlanner.IsSupported(s, Capabilities)));

    /// <summary>
    /// From a fresh device to <paramref name="s"/> through the driver. Resuming gets this device's own saved
    /// stream written when <paramref name="withStream"/>, so that leaving it loads valid data.
    /// </summary>
    private void Reach(MigrationState s, bool withStream = false)
    {
        byte[]? stream = withStream ? SavedStream() : null;
        Fresh();
        if (s == MigrationState.Running) return;
        _driver.RequestState(s);
        if (stream is not null && s == MigrationState.Resuming) _driver.WriteResumeData(stream);
    }
}
