namespace VfioMigration.Backends.Simulated;

/// <summary>
/// What a simulated v1 device's NDMA bit means (docs/protocol.md §2.2): the December 2021 RFC's "no DMA" — no new
/// DMA of any kind and no interrupts — or the reading its discussion ended with, "maybe should be NOP2P": only
/// peer-to-peer DMA stops, DMA into guest memory (and interrupts) go on until the device stops.
/// </summary>
public enum NdmaReading
{
    /// <summary>The RFC's text: in NDMA (0x9) the device starts no DMA at all.</summary>
    Rfc,
    /// <summary>The second reading: in NDMA the device starts no peer-to-peer DMA; DMA into guest memory goes on.</summary>
    NoPeerToPeer,
}
