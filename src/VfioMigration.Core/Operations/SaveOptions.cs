using VfioMigration.Protocol;

namespace VfioMigration.Operations;

/// <summary>How to save one device's state.</summary>
public sealed record SaveOptions
{
    /// <summary>Pre-copy rounds while the device runs, then stop-copy. Needs the PreCopy capability.</summary>
    public bool Live { get; init; }
    /// <summary>Most pre-copy rounds before stop-copy is forced.</summary>
    public int MaxPreCopyRounds { get; init; } = 8;
    /// <summary>Pre-copy has converged once the device reports no initial data left and at most this many dirty bytes.</summary>
    public long ConvergedDirtyBytes { get; init; } = 64 * 1024;
    /// <summary>
    /// Pre-copy may also end once the data still outstanding would take at most this long to copy at the rate the
    /// last round achieved: the expected downtime is within the limit. Null: converge on dirty bytes only.
    /// </summary>
    public TimeSpan? MaxDowntime { get; init; }
    /// <summary>Where the device is left after the save: Stop (default) or Running (a checkpoint).</summary>
    public MigrationState FinalState { get; init; } = MigrationState.Stop;
    /// <summary>Bytes moved per read; memory use is bounded by this.</summary>
    public int ChunkSize { get; init; } = 1 << 20;
}
