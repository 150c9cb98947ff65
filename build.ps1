#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, packages and tours the VfioMigration module.
.DESCRIPTION
    Tasks:
      Build    builds the module into out/VfioMigration (manifest, assemblies, format data, help)
      Test     runs 'dotnet test' (all xunit suites, including the real-kernel guest tests), then the Pester suite
               (tests/*.Tests.ps1, examples included) in a child pwsh -NonInteractive at 80 and at 120 columns,
               with Pester 5.9.1 fetched from NuGet; JUnit XML in out/test-results
      Package  builds if needed, then publishes the module as out/repository/VfioMigration.<version>.nupkg
               (Publish-PSResource to a folder repository; Install-PSResource installs from it)
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
    $project = Join-Path $root 'src' 'VfioMigration.PowerShell'
    # Built in place, then copied: 'dotnet build -o' would put every referenced project's output (Core's too) at
    # the folder's top level, where the project lays Core out in Dependencies/ (src/VfioMigration.Loader).
    Invoke-Native 'dotnet build' {
        dotnet build (Join-Path $project 'VfioMigration.PowerShell.csproj') -c $Configuration --nologo
    }
    $built = Join-Path $project 'bin' $Configuration 'net8.0'
    if (Test-Path -LiteralPath $moduleDir) { Remove-Item -LiteralPath $moduleDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Force -Path (Split-Path -Parent $moduleDir)
    Copy-Item -LiteralPath $built -Destination $moduleDir -Recurse
}

function Get-PesterModule {
    # Pester comes from NuGet (the package's tools/ folder is the module), fetched into the package cache.
    $proj = Join-Path $root 'tests' 'tools' 'Pester.Download.proj'
    Invoke-Native 'fetching Pester' { dotnet restore $proj --nologo -v quiet }
    $path = dotnet msbuild $proj -getProperty:PesterModule -nologo
    if ($LASTEXITCODE -ne 0 -or -not (Test-Path $path)) { throw "Pester was not found at '$path' after the restore of $proj" }
    $path
}

function Get-PwshCommand {
    # The pwsh running this script, also when it is the dotnet tool (dotnet + pwsh.dll).
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, (Join-Path $PSHOME 'pwsh.dll')) } else { @($exe) }
}

function Invoke-InTerminal([int] $Columns, [string[]] $Command) {
    # Formatting follows the terminal's width, so run the child in a pseudo-terminal of that size (script(1)).
    # Without script(1) the child still runs, at the width pwsh assumes without a terminal.
    $quoted = ($Command | ForEach-Object { "'" + ($_ -replace "'", "'\''") + "'" }) -join ' '
    $env:TERM = 'dumb'
    if (Get-Command script -CommandType Application -ErrorAction SilentlyContinue) {
        script -qec "stty cols $Columns rows 50; $quoted" /dev/null | ForEach-Object { Write-Host $_.TrimEnd("`r") }
    } else {
        Write-Warning "script(1) is not installed: running at the default width instead of $Columns columns"
        & $Command[0] @($Command | Select-Object -Skip 1) | Out-Host
    }
    $LASTEXITCODE
}

function Invoke-Test {
    Invoke-Native 'dotnet test' { dotnet test (Join-Path $root 'VfioMigration.slnx') --nologo }
    if (-not (Test-BuildCurrent)) { Invoke-Build }
    $pester = Get-PesterModule
    $results = Join-Path $root 'out' 'test-results'
    $null = New-Item -ItemType Directory -Force -Path $results
    $pwsh = Get-PwshCommand
    $failures = @()
    foreach ($columns in 80, 120) {
        Write-Host "Pester suite in pwsh -NonInteractive at $columns columns"
        $rc = Invoke-InTerminal $columns ($pwsh + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'tests' 'Invoke-PesterSuite.ps1'),
                '-Pester', $pester, '-Module', $manifest, '-ResultPath', (Join-Path $results "pester-$columns.xml")))
        if ($rc -ne 0) { $failures += "$columns columns: exit $rc" }
    }
    if ($failures) { throw "Pester suite failed ($($failures -join '; ')); JUnit results in $results" }
}

function Invoke-Package {
    # Publishes the built module folder (which carries LICENSE and CHANGELOG.md) as a .nupkg into the folder
    # repository out/repository, from which Install-PSResource installs it (README, "Install").
    # The build copies LICENSE and CHANGELOG.md into the module folder; an edit to them alone also needs it.
    $carried = 'LICENSE', 'CHANGELOG.md'
    $copiesCurrent = { -not ($carried | Where-Object { -not (Test-Path (Join-Path $moduleDir $_)) -or
                (Get-FileHash (Join-Path $moduleDir $_)).Hash -ne (Get-FileHash (Join-Path $root $_)).Hash }) }
    if (-not (Test-BuildCurrent) -or -not (& $copiesCurrent)) { Invoke-Build }
    if (-not (& $copiesCurrent)) { throw "The module folder $moduleDir does not carry the current $($carried -join ' and ') after the build" }
    $info = Test-ModuleManifest -Path $manifest
    $repository = Join-Path $root 'out' 'repository'
    $nupkg = Join-Path $repository "VfioMigration.$($info.Version).nupkg"
    $null = New-Item -ItemType Directory -Force -Path $repository
    # A rebuilt package of the same version replaces our own earlier one; other versions stay in the repository.
    Remove-Item -LiteralPath $nupkg -ErrorAction SilentlyContinue
    # Publish-PSResource publishes only to a registered repository, and registering one writes the user's
    # PSResourceGet settings. So publish from a child pwsh whose HOME is a scratch folder: nothing of the user's
    # settings is read or changed.
    $scratch = [IO.Directory]::CreateTempSubdirectory('vfio-package-').FullName
    # .NET reports a user folder that does not exist as '' and NuGet then writes NuGet/NuGet.Config into the
    # current directory: make the folders exist.
    foreach ($dir in '.config', '.local/share', '.cache') { $null = New-Item -ItemType Directory -Force -Path (Join-Path $scratch $dir) }
    $saved = @{}
    foreach ($name in 'HOME', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME') { $saved[$name] = [Environment]::GetEnvironmentVariable($name) }
    try {
        $env:HOME = $scratch
        $env:XDG_DATA_HOME = $env:XDG_CONFIG_HOME = $env:XDG_CACHE_HOME = $null
        $quote = { "'" + ($args[0] -replace "'", "''") + "'" }
        $publish = "`$ErrorActionPreference = 'Stop'; Register-PSResourceRepository -Name VfioMigrationBuild -Uri $(& $quote $repository) -Trusted; " +
            "Publish-PSResource -Path $(& $quote $moduleDir) -Repository VfioMigrationBuild"
        $pwsh = Get-PwshCommand
        Invoke-Native 'Publish-PSResource' { & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -Command $publish }
    } finally {
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        Remove-Item -LiteralPath $scratch -Recurse -Force -ErrorAction SilentlyContinue
    }
    if (-not (Test-Path $nupkg)) { throw "Publish-PSResource reported success but $nupkg does not exist" }
    Write-Host "Published $nupkg"
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
