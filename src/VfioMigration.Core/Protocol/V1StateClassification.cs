namespace VfioMigration.Protocol;

/// <summary>
/// The meaning of one <c>device_state</c> value (docs/protocol.md §1.4): its kind and, when it names a state, the
/// module's state for it.
/// </summary>
internal readonly record struct V1StateClassification(uint Value, V1StateKind Kind, MigrationState? State)
{
    public bool IsWritable => Kind == V1StateKind.Valid;
}
