namespace VfioMigration.Operations;

/// <summary>What a save did: bytes moved, pre-copy rounds, and how long the device was stopped for the final copy.</summary>
internal sealed record SaveReport(string Device, long Bytes, long PreCopyBytes, int PreCopyRounds, TimeSpan Downtime, TimeSpan Duration);
