namespace VfioMigration.Protocol;

/// <summary>Which migration uAPI a device speaks.</summary>
public enum MigrationProtocol
{
    /// <summary>Neither the v2 MIGRATION feature nor a v1 migration region: the device cannot migrate.</summary>
    None = 0,
    /// <summary>The v1 migration region (kernels 5.8–5.17, out-of-tree drivers, vfio-user servers).</summary>
    V1 = 1,
    /// <summary>The v2 feature-based state machine (kernel 5.18 and later).</summary>
    V2 = 2,
}
