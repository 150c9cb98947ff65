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
}
