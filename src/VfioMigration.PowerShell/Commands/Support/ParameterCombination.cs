using VfioMigration.PowerShell.Errors;

namespace VfioMigration.PowerShell.Commands;

/// <summary>
/// Parameters that only mean something together: one given without the other is an error, never silently ignored.
/// </summary>
internal static class ParameterCombination
{
    /// <summary>A switch that only means something with another one is an error without it, not silently ignored.</summary>
    public static void RequireWith(this VfioCmdlet cmdlet, bool given, string parameter, bool other, string otherParameter)
    {
        if (given && !other)
            cmdlet.Terminate(ErrorRecords.For(new VfioMigrationException(
                $"-{parameter} applies only together with -{otherParameter}; add -{otherParameter} or leave -{parameter} out.", VfioErrors.InvalidParameterCombination), parameter));
    }

    /// <summary>Two parameters that are alternatives (as in two parameter sets) are an error together, never added up.</summary>
    public static void RefuseBoth(this VfioCmdlet cmdlet, bool given, string parameter, bool other, string otherParameter)
    {
        if (given && other)
            cmdlet.Terminate(ErrorRecords.For(new VfioMigrationException(
                $"-{parameter} and -{otherParameter} are alternatives; give the images with one of them.", VfioErrors.InvalidParameterCombination), parameter));
    }
}
