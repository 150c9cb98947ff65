namespace VfioMigration.Backends.Simulated;

/// <summary>
/// Defective driver personalities a simulated device can play, for rehearsing the conformance suite: each is a
/// behaviour real drivers or servers shipped, or one the uAPI forbids. The comment names the suite check
/// (<see cref="ConformanceResult.Check"/>) that must catch it. Applied by <see cref="DefectiveTransport"/>.
/// </summary>
public enum SimulatedDefect
{
    /// <summary>The device is in Stop (v1: 0x0) when opened, not Running. Caught by fsm.open-state / v1.open-state.</summary>
    NotRunningAfterOpen,
    /// <summary>VFIO_DEVICE_RESET from Stop or RunningP2P leaves the device there. Caught by fsm.reset.* / v1.reset.*.</summary>
    ResetKeepsState,
    /// <summary>v2: after a reset the old data fd still reads (0) and writes instead of failing. Caught by data.reset-kills-fd.*.</summary>
    ResetKeepsDataFd,
    /// <summary>
    /// v2: after a SET that fails inside a transition (a load that fails), GET reports Running: neither the old state,
    /// nor one on the path, nor Error. Caught by fsm.failed-set-state and resume.truncated.
    /// </summary>
    FailedSetLeavesStrayState,
    /// <summary>v2: PRECOPY_INFO initial_bytes grows as the stream is read. Caught by data.precopy-info-initial-bytes.</summary>
    PreCopyInitialBytesGrow,
    /// <summary>
    /// v2: PRECOPY_INFO leaves out the data already queued on the fd: once read() has begun, initial_bytes and
    /// dirty_bytes both say 0 while read() still returns pre-copy data, so a VMM that trusts them switches to
    /// STOP_COPY early (mlx5 before Linux 4928f67bc911). Caught by data.precopy-info-matches-read.
    /// </summary>
    PreCopyInfoOmitsQueuedData,
    /// <summary>
    /// v2: the end of the save stream is ENOMSG instead of read() = 0, in StopCopy too. Caught by data.stopcopy-eof
    /// (and the other end-of-stream checks: data.precopy-fd-continues, data.precopy-nothing-now).
    /// </summary>
    StopCopyEndsWithEnomsg,
    /// <summary>
    /// v2: leaving Resuming over an incomplete stream succeeds (the driver resets the device and carries on).
    /// Caught by resume.truncated and fsm.failed-set-state.
    /// </summary>
    AcceptsTruncatedStream,
    /// <summary>v2: MIG_DATA_SIZE reports 16 times the bytes a StopCopy produces. Caught by data.mig-data-size.</summary>
    DataSizeWrong,
    /// <summary>v1: a stopped device (0x0) restarts itself (0x1) a few reads later. Caught by v1.no-spontaneous-change.</summary>
    V1SpontaneousStateChange,
    /// <summary>
    /// The P2P quiesce does not quiesce: in RunningP2P (v1: NDMA, 0x9) the device keeps writing peer-to-peer.
    /// Caught by fsm.p2p-quiesced / ndma.p2p-quiesced (needs a peer link).
    /// </summary>
    QuiesceLeaksP2P,
    /// <summary>v2: GET MIGRATION sets an undefined flag bit (0x8). Caught by plumbing.migration-flags.</summary>
    UndefinedMigrationFlags,
    /// <summary>v2: a PROBE of MIGRATION copies the flags back. Caught by plumbing.probe.</summary>
    ProbeWritesBack,
    /// <summary>v2: a SET to the current state fails with EBUSY instead of being a no-op. Caught by fsm.same-state.*.</summary>
    SameStateSetFails,
    /// <summary>v2: argsz under the 8-byte header is not checked (the call succeeds). Caught by plumbing.argsz-short.</summary>
    ArgszUnchecked,
    /// <summary>
    /// v2 with DMA logging: a second DMA_LOGGING_START without STOP restarts logging instead of failing (libvfio-user
    /// did this). Caught by dma-logging.start-twice.
    /// </summary>
    DmaLoggingRepeatedStart,
    /// <summary>v2 with PreCopy: a PROBE of PRECOPY_INFOv2 (feature 12) is refused. Caught by precopy-v2.probe.</summary>
    PrecopyInfoV2ProbeRefused,
    /// <summary>v2 without PreCopy: the PRECOPY_INFOv2 opt-in succeeds. Caught by precopy-v2.needs-precopy.</summary>
    PrecopyInfoV2WithoutPreCopy,
    /// <summary>
    /// v2 with PreCopy: after the opt-in PRECOPY_INFO still echoes the caller's flags (a driver that skips
    /// vfio_check_precopy_ioctl). Caught by precopy-v2.flags-zero.
    /// </summary>
    PrecopyFlagsEchoedAfterOptIn,
    /// <summary>v2 with PreCopy: PRECOPY_INFO sets REINIT without the opt-in. Caught by precopy-v2.no-reinit-before.</summary>
    ReinitWithoutOptIn,
    /// <summary>v2 with PreCopy: the opt-in survives closing and reopening the device. Caught by precopy-v2.reopen.</summary>
    PrecopyOptInSurvivesClose,
}
