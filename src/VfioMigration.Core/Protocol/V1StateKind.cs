namespace VfioMigration.Protocol;

/// <summary>How the v1 protocol classifies one value of <c>device_state</c> bits 0–3.</summary>
internal enum V1StateKind
{
    /// <summary>A state a user may write and a device may be in.</summary>
    Valid,
    /// <summary>0x6 (SAVING|RESUMING without NDMA): the error state. Readable, never writable.</summary>
    Error,
    /// <summary>A combination the protocol does not define (0x5, 0x7, 0xD–0xF).</summary>
    Invalid,
    /// <summary>Bit 3 set on a device without the NDMA capability: a reserved bit, rejected.</summary>
    NdmaUnsupported,
}
