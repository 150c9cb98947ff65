namespace VfioMigration.Protocol;

/// <summary>
/// The one state vocabulary of the module, for v1 and v2 devices alike. The numeric values are the kernel's
/// <c>enum vfio_device_mig_state</c> (v2 ABI), so a v2 state needs no translation; v1 bit patterns map onto it
/// through <see cref="StateCorrespondence"/>.
/// </summary>
public enum MigrationState
{
    Error = 0,
    Stop = 1,
    Running = 2,
    StopCopy = 3,
    Resuming = 4,
    RunningP2P = 5,
    PreCopy = 6,
    PreCopyP2P = 7,
}
