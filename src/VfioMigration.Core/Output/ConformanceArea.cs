namespace VfioMigration;

/// <summary>
/// The area tags of conformance checks, as Pester tags and in the output: <c>plumbing</c> (VFIO_DEVICE_FEATURE
/// argsz, flags, PROBE), <c>fsm</c> (MIG_DEVICE_STATE arcs, refusals, reset), <c>data</c> (data fds, EOF,
/// PRECOPY_INFO, MIG_DATA_SIZE), <c>resume</c> (round trip and damaged streams), <c>dma-logging</c> (features 6–8),
/// <c>v1</c> (the migration region) and <c>ndma</c> (the v1 RFC's no-DMA bit).
/// </summary>
public static class ConformanceArea
{
    public const string Plumbing = "plumbing";
    public const string Fsm = "fsm";
    public const string Data = "data";
    public const string Resume = "resume";
    public const string DmaLogging = "dma-logging";
    public const string V1 = "v1";
    public const string Ndma = "ndma";

    public static IReadOnlyList<string> All { get; } = new[] { Plumbing, Fsm, Data, Resume, DmaLogging, V1, Ndma };
}
