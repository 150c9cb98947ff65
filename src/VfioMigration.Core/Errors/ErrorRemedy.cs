namespace VfioMigration;

/// <summary>
/// What the user can do about an error, in the core's terms. The core's messages name no cmdlet or switch; the
/// module words each remedy with its own (as <c>ErrorDetails.RecommendedAction</c>).
/// </summary>
public enum ErrorRemedy
{
    None,
    /// <summary>A device reset (VFIO_DEVICE_RESET) returns the device to Running; the only way out of Error and of an abandoned resume.</summary>
    ResetDevice,
    /// <summary>Replacing the existing file is allowed when asked for.</summary>
    ReplaceFile,
    /// <summary>The identity check can be overridden (the protocol never can).</summary>
    OverrideIdentityCheck,
    /// <summary>The check that a set's images are restored whole and in order can be overridden.</summary>
    OverrideSetCheck,
    /// <summary>The check that every device of a set can quiesce can be overridden, accepting the risk.</summary>
    OverrideQuiesceCheck,
    /// <summary>The device can be saved stopped (stop-copy) instead of live.</summary>
    SaveStopped,
    /// <summary>
    /// The device needs a reset (Error, an abandoned resume, a failed recovery) but no VFIO_DEVICE_RESET can help:
    /// it has no reset method, or the reset tried failed. What is left: closing the device so its driver starts it
    /// afresh on the next open, rebinding its driver, or restarting the host.
    /// </summary>
    ReleaseDevice,
    /// <summary>Only the identity check and the set check overridden together let a restore through.</summary>
    OverrideIdentityAndSetChecks,
    /// <summary>A question the session cannot ask (non-interactive) can be answered in advance on the command line.</summary>
    AnswerWithoutAsking,
}
