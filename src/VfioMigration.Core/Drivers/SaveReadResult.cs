namespace VfioMigration.Drivers;

/// <summary>
/// One read of a save session: the bytes delivered, and whether the stream has ended. Zero bytes without the end
/// means "nothing right now" (pre-copy), never the end.
/// </summary>
public readonly record struct SaveReadResult(int Bytes, bool EndOfStream);
