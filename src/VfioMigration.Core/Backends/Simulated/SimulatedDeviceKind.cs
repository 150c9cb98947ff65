namespace VfioMigration.Backends.Simulated;

/// <summary>The bus a simulated device sits on.</summary>
public enum SimulatedDeviceKind
{
    Pci = 1,
    /// <summary>An s390 I/O subchannel passed through with vfio-ccw.</summary>
    Ccw = 2,
}
