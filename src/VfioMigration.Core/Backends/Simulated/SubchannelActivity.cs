namespace VfioMigration.Backends.Simulated;

/// <summary>The vfio-ccw subchannel FSM states that matter to migration (docs/protocol.md §5.3).</summary>
public enum SubchannelActivity
{
    /// <summary>No channel program in flight.</summary>
    Idle,
    /// <summary>A START is being translated and issued; another START now gets EAGAIN.</summary>
    CpProcessing,
    /// <summary>The channel program runs on the channel subsystem; another START now gets EBUSY.</summary>
    CpPending,
}
