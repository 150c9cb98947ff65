namespace VfioMigration.Operations;

/// <summary>A progress update of a save or restore: bytes so far, the total if known, the phase and round.</summary>
public readonly record struct SaveProgress(string Device, string Phase, long Bytes, long? TotalBytes, int Round);
