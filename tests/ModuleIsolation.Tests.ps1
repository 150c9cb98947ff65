# Pester 5: VfioMigration among other modules. A second binary module (tests/modules/NewerLogging) is built against
# a newer Microsoft.Extensions.Logging.Abstractions than VfioMigration's; both are imported into one new pwsh, in
# both orders, and both must work: VfioMigration's dependencies live in a load context of their own
# (src/VfioMigration.Loader), so neither module's copy takes the name from the other.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'tools' 'ChildPwsh.psm1') -Force
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    $script:Manifest = (Resolve-Path -LiteralPath $script:Manifest).ProviderPath
    $script:Scratch = [IO.Directory]::CreateTempSubdirectory('vfio-isolation-').FullName
    $project = Join-Path $PSScriptRoot 'modules' 'NewerLogging' 'NewerLogging.csproj'
    $build = & dotnet build $project -c Release -o $script:Scratch --nologo -v quiet 2>&1
    if ($LASTEXITCODE -ne 0) { throw "building the test module $project failed: $($build -join "`n")" }
    $script:Other = Join-Path $script:Scratch 'NewerLogging.psd1'

    # What each module does once imported: VfioMigration changes a simulated device's state with -Verbose (its
    # core logs through Microsoft.Extensions.Logging), NewerLogging logs a line through version 10 and names it.
    $script:UseVfio = @'
$address = (Get-VfioDevice -Simulated | Where-Object Protocol -ne None | Select-Object -First 1).Name
$verbose = Set-VfioDeviceState -Simulated $address -State Stop -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }
"vfio: $((Get-VfioDevice -Simulated $address).State) $(@($verbose).Count -gt 0)"
# Core's types stay reachable by full name although Core is in a load context of its own.
"types: $((Get-VfioDevice -Simulated $address) -is [VfioMigration.VfioDevice]) $(try { Get-VfioDevice -Simulated 'no.such.device' -ErrorAction Stop } catch [VfioMigration.VfioMigrationException] { 'caught' })"
'@
    $script:UseOther = '"other: $(Get-NewerLogging)"'
    $script:Contexts = @'
$default = [System.Runtime.Loader.AssemblyLoadContext]::Default.Assemblies | Where-Object { $_.GetName().Name -in 'VfioMigration.Core', 'Microsoft.Extensions.Logging.Abstractions' } | ForEach-Object { "$($_.GetName().Name) $($_.GetName().Version)" }
"default: $(@($default | Sort-Object) -join ', ')"
'@
    function script:Invoke-BothModules([string[]] $Order) {
        $steps = foreach ($name in $Order) {
            if ($name -eq 'VfioMigration') { "Import-Module '$script:Manifest'"; $script:UseVfio }
            else { "Import-Module '$script:Other'"; $script:UseOther }
        }
        Invoke-ChildPwsh -Command ((@('$ErrorActionPreference = ''Stop''') + $steps + $script:Contexts) -join "`n")
    }
}

AfterAll {
    Remove-Item -LiteralPath $script:Scratch -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Module ChildPwsh -ErrorAction SilentlyContinue
}

Describe 'VfioMigration beside a module that needs newer Microsoft.Extensions assemblies' {
    It 'imported first, leaves the newer assemblies to the module imported after it' {
        $run = Invoke-BothModules 'VfioMigration', 'NewerLogging'
        $run.ExitCode | Should -Be 0 -Because $run.Errors
        $run.Output | Should -Match 'vfio: Stop True'
        $run.Output | Should -Match 'types: True caught'
        $run.Output | Should -Match 'other: 10\.0\.0\.0'
        # The default context holds only the other module's copy; VfioMigration's Core and its 8.0 copy are its own.
        $run.Output | Should -Match 'default: Microsoft\.Extensions\.Logging\.Abstractions 10\.0\.0\.0\r?\n'
    }

    It 'imported second, works beside the newer assemblies already loaded' {
        $run = Invoke-BothModules 'NewerLogging', 'VfioMigration'
        $run.ExitCode | Should -Be 0 -Because $run.Errors
        $run.Output | Should -Match 'other: 10\.0\.0\.0'
        $run.Output | Should -Match 'vfio: Stop True'
        $run.Output | Should -Match 'types: True caught'
        $run.Output | Should -Match 'default: Microsoft\.Extensions\.Logging\.Abstractions 10\.0\.0\.0\r?\n'
    }

    It 'keeps its own dependencies out of the module folder''s top level, where PowerShell would load them into the shared context' {
        $folder = Split-Path -Parent $script:Manifest
        Get-ChildItem -LiteralPath $folder -Filter 'Microsoft.Extensions.*.dll' | Should -BeNullOrEmpty
        Test-Path -LiteralPath (Join-Path $folder 'VfioMigration.Core.dll') | Should -BeFalse
        # One set per runtime the module is precompiled for (src/VfioMigration.Loader picks): .NET 8 and .NET 10.
        foreach ($set in 'net8.0', 'net10.0') {
            Test-Path -LiteralPath (Join-Path $folder 'Dependencies' $set 'VfioMigration.Core.dll') | Should -BeTrue -Because "Dependencies/$set carries Core"
            Test-Path -LiteralPath (Join-Path $folder 'Dependencies' $set 'Microsoft.Extensions.Logging.Abstractions.dll') | Should -BeTrue -Because "Dependencies/$set carries Core's dependencies"
        }
    }
}
