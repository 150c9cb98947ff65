using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Conformance;

// PRECOPY_INFOv2 (kernel 7.3, docs/protocol.md §3.8, checklist 79-83): the opt-in that makes
// vfio_precopy_info.flags an output, and the REINIT flag. Run last: the opt-in lasts until the device is closed,
// so every check before it sees the device as an older client would.
public sealed partial class ConformanceSuite
{
    private const string PrecopyV2Source = "include/uapi/linux/vfio.h, VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, VFIO_PRECOPY_INFO_REINIT; drivers/vfio/vfio_main.c vfio_ioctl_device_feature_migration_precopy_info_v2";
    private const string PrecopyCheckSource = "include/linux/vfio.h vfio_check_precopy_ioctl (flags are zeroed only after the opt-in)";

    /// <summary>A flags bit no kernel defines: echoed back by a device that is not opted in, cleared by one that is.</summary>
    private const uint PoisonFlags = 0x8000_0000;

    private void RunPrecopyInfoV2()
    {
        const string area = ConformanceArea.Data;
        if (!HasPreCopy)
        {
            Check(79, "data.precopy-v2.needs-precopy", area, "The PRECOPY_INFOv2 opt-in is refused without PRE_COPY",
                "SET and PROBE of feature 12 fail (EINVAL on 7.3; older kernels do not know the feature)", PrecopyV2Source, () =>
                {
                    var (set, _) = Feature(Set | VfioUapi.FeatureMigPrecopyInfoV2, 0);
                    var (probe, _) = Feature(Probe | Set | VfioUapi.FeatureMigPrecopyInfoV2, 0);
                    string obs = $"SET: {Rc(set)}; PROBE|SET: {Rc(probe)}";
                    return set < 0 && probe < 0 ? Pass(obs) : Fail(obs, "a device without PRE_COPY has no pre-copy info to opt in to; vfio_main.c answers EINVAL before any other check");
                });
            foreach (var (n, id) in new[] { (80, "data.precopy-v2.probe"), (81, "data.precopy-v2.flags-zero"), (82, "data.precopy-v2.no-reinit-before"), (83, "data.precopy-v2.reopen") })
                Emit(NotApplicableResult(n, id, area, "PRECOPY_INFOv2 rules", "-", PrecopyV2Source, "the device has no PRE_COPY"));
            return;
        }
        Emit(NotApplicableResult(79, "data.precopy-v2.needs-precopy", area, "The PRECOPY_INFOv2 opt-in is refused without PRE_COPY", "-", PrecopyV2Source, "the device has PRE_COPY"));

        Check(82, "data.precopy-v2.no-reinit-before", area, "Before the opt-in PRECOPY_INFO never reports REINIT",
            "flags 0 in, flags 0 out (the field is reserved and echoed)", PrecopyCheckSource, () =>
            {
                var (fd, o) = OpenRaw(MigrationState.PreCopy);
                var (rc, flags) = PrecopyFlags(fd, 0);
                string obs = $"{o}; PRECOPY_INFO flags 0 in: {Rc(rc)}, flags 0x{flags:X} out";
                if (rc != 0) return Fail(obs, "PRECOPY_INFO is mandatory for a device with PRE_COPY");
                return flags == 0 ? Pass(obs) : Fail(obs, "without the PRECOPY_INFOv2 opt-in the flags are not an output: an old client would misread REINIT");
            });

        // The opt-in is only ever sent by the checks below; a kernel before 7.3 does not know it.
        var (probeRc, _) = Feature(Probe | Set | VfioUapi.FeatureMigPrecopyInfoV2, 0);
        var (getRc, _) = Feature(Probe | Get | VfioUapi.FeatureMigPrecopyInfoV2, 0);
        if (probeRc == -Errno.ENOTTY || (probeRc == -Errno.EINVAL && getRc == -Errno.EINVAL && !KnowsPrecopyInfoV2()))
        {
            foreach (var (n, id) in new[] { (80, "data.precopy-v2.probe"), (81, "data.precopy-v2.flags-zero"), (83, "data.precopy-v2.reopen") })
                Emit(NotApplicableResult(n, id, area, "PRECOPY_INFOv2 rules", "-", PrecopyV2Source, $"the kernel has no PRECOPY_INFOv2 (PROBE|SET of feature 12: {Rc(probeRc)}; added in 7.3)"));
            return;
        }

        Check(80, "data.precopy-v2.probe", area, "PROBE of PRECOPY_INFOv2 answers SET, refuses GET and opts nothing in",
            "PROBE|SET 0, PROBE|GET EINVAL; PRECOPY_INFO still echoes the flags", $"{PrecopyV2Source}; vfio_check_feature", () =>
            {
                var (fd, o) = OpenRaw(MigrationState.PreCopy);
                var (ps, _) = Feature(Probe | Set | VfioUapi.FeatureMigPrecopyInfoV2, 0);
                var (pg, _) = Feature(Probe | Get | VfioUapi.FeatureMigPrecopyInfoV2, 0);
                var (rc, flags) = PrecopyFlags(fd, PoisonFlags);
                string obs = $"{o}; PROBE|SET: {Rc(ps)}; PROBE|GET: {Rc(pg)}; then PRECOPY_INFO flags 0x{PoisonFlags:X} in: {Rc(rc)}, 0x{flags:X} out";
                if (ps != 0) return Fail(obs, "PROBE with SET must answer 0 on a device with PRE_COPY");
                if (pg != -Errno.EINVAL) return Fail(obs, "feature 12 has no GET: PROBE|GET must fail with EINVAL");
                return rc == 0 && (flags & PoisonFlags) != 0 ? Pass(obs) : Fail(obs, "a PROBE must not opt the device in (the flags must still be echoed)");
            });

        Check(81, "data.precopy-v2.flags-zero", area, "After the opt-in PRECOPY_INFO flags are an output: 0 without a re-init",
            "SET feature 12: 0; then flags 0 out whatever came in", PrecopyCheckSource, () =>
            {
                var (fd, o) = OpenRaw(MigrationState.PreCopy);
                var (set, _) = Feature(Set | VfioUapi.FeatureMigPrecopyInfoV2, 0);
                var (rc, flags) = PrecopyFlags(fd, PoisonFlags);
                string obs = $"{o}; SET feature 12: {Rc(set)}; PRECOPY_INFO flags 0x{PoisonFlags:X} in: {Rc(rc)}, 0x{flags:X} out";
                if (set != 0) return Fail(obs, "the opt-in must succeed on a device with PRE_COPY");
                if (rc != 0) return Fail(obs, "PRECOPY_INFO is mandatory for a device with PRE_COPY");
                return (flags & ~VfioUapi.PrecopyInfoReinit) == 0 ? Pass(obs) : Fail(obs, "after the opt-in the driver must set the flags itself (vfio_check_precopy_ioctl zeroes them); only REINIT may be set");
            });

        Check(83, "data.precopy-v2.reopen", area, "The opt-in ends when the device is closed",
            "after SET feature 12, close and reopen: PRECOPY_INFO echoes the flags again", $"{PrecopyV2Source}; drivers/vfio/vfio_main.c vfio_df_close", () =>
            {
                if (Reopen is null) return NotApplicable("the suite was given no way to close and reopen the device");
                var (set, _) = Feature(Set | VfioUapi.FeatureMigPrecopyInfoV2, 0);
                DisposeAdopted();
                var fresh = Reopen();
                _reopened = fresh;
                _t.Replace(fresh);
                Fresh();
                var (fd, o) = OpenRaw(MigrationState.PreCopy);
                var (rc, flags) = PrecopyFlags(fd, PoisonFlags);
                string obs = $"SET feature 12: {Rc(set)}; closed and reopened; {o}; PRECOPY_INFO flags 0x{PoisonFlags:X} in: {Rc(rc)}, 0x{flags:X} out";
                if (set != 0) return Fail(obs, "the opt-in must succeed on a device with PRE_COPY");
                return rc == 0 && (flags & PoisonFlags) != 0 ? Pass(obs) : Fail(obs, "the opt-in outlived the open that took it: the next opener would read flags it never asked for");
            });
    }

    /// <summary>
    /// Whether feature 12 is there, for a device that refused the PROBE with EINVAL: that is also what a kernel
    /// before 7.3 answers for an unknown feature of a driver without a feature handler, so try the opt-in itself: a
    /// device whose PROBE is broken takes the opt-in itself (which the probe check then finds refused).
    /// </summary>
    private bool KnowsPrecopyInfoV2() => Feature(Set | VfioUapi.FeatureMigPrecopyInfoV2, 0).Rc == 0;

    /// <summary>PRECOPY_INFO with <paramref name="flagsIn"/> in the flags field; returns rc and the flags field after.</summary>
    private static (int Rc, uint Flags) PrecopyFlags(IMigrationDataChannel fd, uint flagsIn)
    {
        var b = PrecopyInfo.CreateRequest();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), flagsIn);
        int rc = fd.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, b);
        return (rc, PrecopyInfo.RawFlags(b));
    }
}
