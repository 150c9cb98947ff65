@{
    RootModule        = 'NewerLogging.dll'
    ModuleVersion     = '1.0.0'
    GUID              = 'c2f0f7b4-5a61-4c53-9d1e-7f0c4f1f2a10'
    Author            = 'VfioMigration contributors'
    Description       = 'Test module: needs Microsoft.Extensions.Logging.Abstractions 10.'
    PowerShellVersion = '7.4'
    CmdletsToExport   = @('Get-NewerLogging')
    FunctionsToExport = @()
    AliasesToExport   = @()
    VariablesToExport = @()
}
