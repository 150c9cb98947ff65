using System.Management.Automation;

namespace VfioMigration.PowerShell.Binding;

/// <summary>
/// Lets a switch bound by property name take the text "True" or "False", as a CSV inventory (Import-Csv) carries
/// it. PowerShell cannot turn a string into a SwitchParameter and would silently skip the binding, sending a
/// simulated device's address to the real host; any other text is an error that names the allowed values.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class BooleanTextAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        object? value = inputData is PSObject pso ? pso.BaseObject : inputData;
        // An empty CSV cell arrives as null (ConvertFrom-Csv) or "" (Import-Csv): either says nothing.
        if (value is null) throw new ArgumentTransformationMetadataException("An empty value is not a truth value: use True or False (as Export-Csv writes them), 1 or 0.");
        if (value is not string text) return inputData;
        return text.Trim().ToLowerInvariant() switch
        {
            "true" or "$true" or "1" or "yes" => true,
            "false" or "$false" or "0" or "no" => false,
            // An empty cell says nothing: taking it as False would send the device to the real host.
            _ => throw new ArgumentTransformationMetadataException(
                $"'{text}' is not a truth value: use True or False (as Export-Csv writes them), 1 or 0."),
        };
    }
}
