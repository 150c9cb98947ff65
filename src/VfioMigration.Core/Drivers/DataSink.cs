namespace VfioMigration.Drivers;

/// <summary>Where saved migration data goes, a chunk at a time (a stream, an image writer).</summary>
internal delegate void DataSink(ReadOnlySpan<byte> chunk);
