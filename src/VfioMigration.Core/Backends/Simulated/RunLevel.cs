namespace VfioMigration.Backends.Simulated;

/// <summary>How much of its work a simulated device may do; the migration frontends set it from the protocol state.</summary>
public enum RunLevel
{
    /// <summary>Everything: internal progress, DMA into guest memory, peer-to-peer writes.</summary>
    Running,
    /// <summary>v2 RUNNING_P2P / PRE_COPY_P2P (and v1 NDMA read as NOP2P): no new peer-to-peer writes; ordinary DMA goes on.</summary>
    NoPeerToPeer,
    /// <summary>v1 NDMA as the RFC reads it: no new DMA of any kind (nor interrupts), yet the device still advances internally.</summary>
    NoDma,
    /// <summary>STOP, STOP_COPY, RESUMING, ERROR: no DMA, no interrupts, no internal change.</summary>
    Stopped,
}
