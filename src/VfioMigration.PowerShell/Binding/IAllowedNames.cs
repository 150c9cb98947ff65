namespace VfioMigration.PowerShell.Binding;

/// <summary>A check of text that takes a fixed list of names; <c>Completion/AllowedNamesCompleter</c> offers them.</summary>
internal interface IAllowedNames
{
    IReadOnlyList<string> Names { get; }
}
