namespace VfioMigration;

/// <summary>
/// One entry of the error catalogue (<see cref="VfioErrors"/>): a stable id scripts match
/// (<c>FullyQualifiedErrorId</c>, <see cref="VfioMigrationException.ErrorId"/>), what kind of failure it is, and
/// the remedy that applies unless the throw site says otherwise. Only the catalogue makes them, so each id exists once.
/// </summary>
public sealed class VfioError
{
    internal VfioError(string id, ErrorKind kind, ErrorRemedy remedy = ErrorRemedy.None)
    {
        Id = id;
        Kind = kind;
        Remedy = remedy;
    }

    public string Id { get; }
    public ErrorKind Kind { get; }
    /// <summary>The remedy an error of this id gets when its throw site names none.</summary>
    public ErrorRemedy Remedy { get; }

    public override string ToString() => Id;
}
