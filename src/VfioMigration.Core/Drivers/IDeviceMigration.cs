using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Drivers;

/// <summary>
/// One device's migration, whichever protocol it speaks. The layers above see one state vocabulary and one opaque
/// byte stream per save or restore; v1 segment framing and v2 data fds stay inside the drivers.
/// </summary>
public interface IDeviceMigration : IDisposable
{
    string Address { get; }
    MigrationProtocol Protocol { get; }
    MigrationCapabilities Capabilities { get; }

    /// <summary>Reads the current state from the device (v2 GET; v1 device_state).</summary>
    MigrationState GetState();

    /// <summary>
    /// Reads the state without acting on it, for a look that must change nothing (an inventory, a readiness
    /// check): a v2 device found in a session state with no data fd of this process (another process left the
    /// session; mtty keeps its state across close) is reported as found, with <paramref name="leftByAnotherProcess"/>
    /// true, and not taken over. <see cref="GetState"/> and every state change take it over instead.
    /// </summary>
    MigrationState ObserveState(out bool leftByAnotherProcess);

    /// <summary>v1 only: the raw device_state register, reserved bits included; null for other protocols.</summary>
    uint? ReadRawState();

    /// <summary>The path a request would take from <paramref name="current"/>, or why it would be refused.</summary>
    TransitionPlan Plan(MigrationState current, MigrationState target);

    /// <summary>Reads the state, plans, executes arc by arc; throws <see cref="MigrationTransitionException"/>.</summary>
    TransitionResult RequestState(MigrationState target, CancellationToken cancellationToken = default);

    /// <summary>Reads the open save session (after entering PreCopy, PreCopyP2P or StopCopy).</summary>
    SaveReadResult ReadSaveData(Span<byte> buffer);

    /// <summary>Pre-copy progress: v2 PRECOPY_INFO; v1 the last pending_bytes seen (as dirty bytes). Null outside pre-copy.</summary>
    PrecopyInfo? GetPrecopyInfo();

    /// <summary>The device's estimate of a stop-copy's size (v2 MIG_DATA_SIZE); null where the device has none.</summary>
    ulong? GetStopCopySize();

    /// <summary>Writes resume data (after entering Resuming); all of it, or throws.</summary>
    void WriteResumeData(ReadOnlySpan<byte> data);

    /// <summary>VFIO_DEVICE_RESET: back to Running, any session ended.</summary>
    void Reset();

    /// <summary>
    /// Why a VFIO_DEVICE_RESET cannot help this device now, as a phrase for an error, or null when one may: the
    /// device offers no reset (VFIO_DEVICE_GET_INFO without VFIO_DEVICE_FLAGS_RESET), or the last reset tried
    /// failed. Errors and readiness recommend a reset only when this is null.
    /// </summary>
    string? ResetUnavailable { get; }

    /// <summary>
    /// Whether the device can log its own DMA (v2 features 6-8, DMA_LOGGING_START/STOP/REPORT), asked with a
    /// VFIO_DEVICE_FEATURE PROBE that changes nothing; false for v1 and unmigratable devices and when the probe fails.
    /// </summary>
    bool ProbeDmaLogging();

    /// <summary>
    /// Asked when a failed state change left the device in Error or unreadable (<see cref="FailureRecovery"/>):
    /// returns what a reset would lose that the user still needs (a phrase for the error), or null when it loses
    /// nothing, and the driver then resets the device as a last resort. Left null (a driver used on its own), the
    /// driver never resets by itself and leaves the device where the failure left it.
    /// </summary>
    Func<string?>? WhatResetLoses { get; set; }
}
