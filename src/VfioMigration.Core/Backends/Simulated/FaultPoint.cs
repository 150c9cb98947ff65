namespace VfioMigration.Backends.Simulated;

/// <summary>Where a simulated device can be told to fail.</summary>
public enum FaultPoint
{
    /// <summary>A pread/pwrite on any region of the device.</summary>
    RegionAccess,
    /// <summary>A VFIO_DEVICE_FEATURE call.</summary>
    FeatureCall,
    /// <summary>A read() on a save data fd (v2) or a data-section read (v1).</summary>
    StreamRead,
    /// <summary>A write() on a resume data fd (v2) or a data_size commit (v1).</summary>
    StreamWrite,
    /// <summary>Executing a state transition arc (v2) or a device_state write (v1).</summary>
    Transition,
    /// <summary>VFIO_DEVICE_RESET (the device keeps its state, as a function whose FLR timed out would).</summary>
    Reset,
}
