#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, packages and tours the VfioMigration module.
.DESCRIPTION
    Tasks:
      Build    builds the module into out/VfioMigration (manifest, assemblies, format data, help)
      Test     runs 'dotnet test' (all xunit suites, including the hosted-engine cmdlet tests), then the Pester
               suite in tests/*.Tests.ps1 when Pester 5 is installed
      Package  builds, checks the manifest and writes out/VfioMigration-<version>.zip
      Tour     builds if needed, imports the module and runs examples/tour.ps1 against the simulated host
      Bench    runs the benchmarks in bench/ (see README)
.EXAMPLE
    ./build.ps1 Tour
.EXAMPLE
    ./build.ps1 Build, Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Package', 'Tour', 'Bench')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$moduleDir = Join-Path $root 'out' 'VfioMigration'
$manifest = Join-Path $moduleDir 'VfioMigration.psd1'

function Invoke-Native([string] $What, [scriptblock] $Command) {
    & $Command
    if ($LASTEXITCODE -ne 0) { throw "$What failed with exit code $LASTEXITCODE" }
}

function Test-BuildCurrent {
    $dll = Join-Path $moduleDir 'VfioMigration.PowerShell.dll'
    if (-not (Test-Path $dll)) { return $false }
    $built = (Get-Item $dll).LastWriteTimeUtc
    $sources = Get-ChildItem -Path (Join-Path $root 'src'), (Join-Path $root 'VfioMigration.psd1') -Recurse -File |
        Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]' }
    -not ($sources | Where-Object LastWriteTimeUtc -gt $built)
}

function Invoke-Build {
    Write-Host "Building the module into $moduleDir"
    Invoke-Native 'dotnet build' {
        dotnet build (Join-Path $root 'src' 'VfioMigration.PowerShell' 'VfioMigration.PowerShell.csproj') -c $Configuration -o $moduleDir --nologo
    }
}

function Invoke-Test {
    Invoke-Native 'dotnet test' { dotnet test (Join-Path $root 'VfioMigration.slnx') --nologo }
    $pester = Get-Module -ListAvailable Pester | Where-Object Version -ge ([version] '5.0') | Sort-Object Version -Descending | Select-Object -First 1
    if (-not $pester) {
        Write-Warning 'Pester 5 is not installed, so the Pester suite (tests/*.Tests.ps1) did not run. Install-Module Pester -MinimumVersion 5.0 to run it.'
        return
    }
    if (-not (Test-BuildCurrent)) { Invoke-Build }
    Import-Module $pester -Force
    $env:VFIOMIGRATION_MODULE = $manifest
    $config = New-PesterConfiguration
    $config.Run.Path = Join-Path $root 'tests'
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'Detailed'
    $result = Invoke-Pester -Configuration $config
    if ($result.FailedCount -gt 0 -or $result.PassedCount -eq 0) {
        throw "Pester: $($result.PassedCount) passed, $($result.FailedCount) failed"
    }
}

function Invoke-Package {
    Invoke-Build
    $info = Test-ModuleManifest -Path $manifest
    $zip = Join-Path $root 'out' "VfioMigration-$($info.Version).zip"
    Compress-Archive -Path $moduleDir -DestinationPath $zip -Force
    Write-Host "Packaged $zip"
}

function Invoke-Tour {
    if (-not (Test-BuildCurrent)) { Invoke-Build }
    Import-Module $manifest -Force
    & (Join-Path $root 'examples' 'tour.ps1')
}

function Invoke-Bench {
    $bench = Join-Path $root 'bench' 'run.sh'
    if (-not (Test-Path $bench)) { throw 'No benchmarks yet: bench/run.sh does not exist.' }
    Invoke-Native 'benchmarks' { bash $bench }
}

foreach ($t in $Task) {
    switch ($t) {
        'Build' { Invoke-Build }
        'Test' { Invoke-Test }
        'Package' { Invoke-Package }
        'Tour' { Invoke-Tour }
        'Bench' { Invoke-Bench }
    }
}
