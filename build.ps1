#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, packages and tours the VfioMigration module.
.DESCRIPTION
    Tasks:
      Build    builds the module into out/VfioMigration (manifest, assemblies, format data, help)
      Test     runs every test suite, each within its time budget and whatever happened to the others, and ends
               with one line per suite: core and powershell (xunit), guest-default, guest-backports and
               guest-newest (the real-kernel guests: Debian's 6.1, bookworm-backports' and trixie-backports'
               kernels), pester-80 and pester-120 (tests/*.Tests.ps1, examples included, in a child
               pwsh -NonInteractive at that many columns, Pester 5.9.1 from NuGet); 'examples' (only the
               examples, at 80 columns) runs when named. -Suite runs the named suites only. JUnit XML and the
               guests' summaries in out/test-results
      Package  builds if needed, then publishes the module as out/repository/VfioMigration.<version>.nupkg
               (Publish-PSResource to a folder repository; Install-PSResource installs from it)
      Tour     builds if needed, imports the module and runs examples/tour.ps1 against the simulated host
      Bench    runs the benchmarks in bench/ (see README)
.EXAMPLE
    ./build.ps1 Tour
.EXAMPLE
    ./build.ps1 Build, Test
.EXAMPLE
    ./build.ps1 Test -Suite guest-newest, pester-80
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Package', 'Tour', 'Bench')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # The test suites to run (Test only); all but 'examples' when not given.
    [ValidateSet('core', 'powershell', 'guest-default', 'guest-backports', 'guest-newest', 'pester-80', 'pester-120', 'examples')]
    [string[]] $Suite
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

# Written when a build has finished (beside the module folder, so it is never packaged): a publish copies the
# assemblies with the times they were compiled at, and a change inside Core recompiles neither the cmdlets nor their
# ReadyToRun code, so no file in the module folder tells when it was built.
$buildStamp = Join-Path $root 'out' 'VfioMigration.built'

function Test-BuildCurrent {
    if (-not (Test-Path -LiteralPath $buildStamp) -or -not (Test-Path -LiteralPath $manifest)) { return $false }
    $built = (Get-Item -LiteralPath $buildStamp).LastWriteTimeUtc
    $sources = Get-ChildItem -Path (Join-Path $root 'src'), (Join-Path $root 'VfioMigration.psd1'), (Join-Path $root 'Directory.Build.props') -Recurse -File |
        Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]' }
    -not ($sources | Where-Object LastWriteTimeUtc -gt $built)
}

function Invoke-Build {
    Write-Host "Building the module into $moduleDir"
    $project = Join-Path $root 'src' 'VfioMigration.PowerShell'
    # Published ReadyToRun for linux-x64 (the only platform with VFIO): a process's first save otherwise spends a
    # large part of its time JIT-compiling Core (issue 17 item 19). The project lays Core and its dependencies out
    # in Dependencies/net8.0 and Dependencies/net10.0, each precompiled for its runtime (src/VfioMigration.Loader).
    Remove-Item -LiteralPath $buildStamp -ErrorAction SilentlyContinue
    if (Test-Path -LiteralPath $moduleDir) { Remove-Item -LiteralPath $moduleDir -Recurse -Force }
    Invoke-Native 'dotnet publish' {
        dotnet publish (Join-Path $project 'VfioMigration.PowerShell.csproj') -c $Configuration -r linux-x64 --self-contained false `
            -p:PublishReadyToRun=true -o $moduleDir --nologo
    }
    Set-Content -LiteralPath $buildStamp -Value "built $([DateTime]::UtcNow.ToString('o'))"
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

# Time budgets per suite, seconds: about twice what each took on this project's 2-core machine under load
# (tests/vm/README.md, "Time budgets"); a guest suite's budget also covers building its base once.
$SuiteBudgetSeconds = @{
    'core' = 900; 'powershell' = 900
    'guest-default' = 1500; 'guest-backports' = 1900; 'guest-newest' = 1900
    'pester-80' = 1200; 'pester-120' = 1200; 'examples' = 600
}

function Get-TestSuites([string[]] $Names, [string] $Pester, [string] $Results) {
    $pwsh = Get-PwshCommand
    $dotnetTest = { param($Project, $Filter)
        @('dotnet', 'test', (Join-Path $root 'tests' $Project), '--no-build', '--nologo') + $(if ($Filter) { @('--filter', $Filter) } else { @() }) }
    $pesterRun = { param($Columns, $Xml, [string[]] $FullName)
        $pwsh + @('-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'tests' 'Invoke-PesterSuite.ps1'),
            '-Pester', $Pester, '-Module', $manifest, '-ResultPath', (Join-Path $Results $Xml)) + $(if ($FullName) { @('-FullName', ($FullName -join ',')) } else { @() }) }
    $guest = { param($Kernel, $Test)
        $summary = Join-Path $Results "guest-$Kernel.txt"
        @{
            Name = "guest-$Kernel"; Command = (& $dotnetTest 'VfioMigration.VmTests' "FullyQualifiedName~RealKernelTests.$Test")
            Environment = @{ VFIO_TEST_REPORT_DIR = $Results }; Before = { Remove-Item -LiteralPath $summary -ErrorAction SilentlyContinue }.GetNewClosure()
            Parse = {
                param($Lines)
                $report = Read-DotnetTestReport $Lines
                # The guest test's own line: kernel booted, devices, checks, QEMU; without it the suite did not report.
                if (-not $report -or -not (Test-Path -LiteralPath $summary)) { return $null }
                $report.Detail = (Get-Content -LiteralPath $summary -Raw).Trim()
                $report
            }.GetNewClosure()
        }
    }
    $all = [ordered]@{
        'core' = @{ Name = 'core'; Command = (& $dotnetTest 'VfioMigration.Core.Tests'); Parse = { param($Lines) Read-DotnetTestReport $Lines } }
        'powershell' = @{ Name = 'powershell'; Command = (& $dotnetTest 'VfioMigration.PowerShell.Tests'); Parse = { param($Lines) Read-DotnetTestReport $Lines } }
        'pester-80' = @{ Name = 'pester-80'; Columns = 80; Command = (& $pesterRun 80 'pester-80.xml'); Parse = { param($Lines) Read-PesterReport $Lines } }
        'pester-120' = @{ Name = 'pester-120'; Columns = 120; Command = (& $pesterRun 120 'pester-120.xml'); Parse = { param($Lines) Read-PesterReport $Lines } }
        'guest-default' = (& $guest 'default' 'TheDefaultKernel')
        'guest-backports' = (& $guest 'backports' 'TheBackportsKernel')
        'guest-newest' = (& $guest 'newest' 'TheNewestKernel')
        'examples' = @{ Name = 'examples'; Columns = 80; Command = (& $pesterRun 80 'examples.xml' '*The examples*'); Parse = { param($Lines) Read-PesterReport $Lines } }
    }
    foreach ($name in $Names) {
        $s = $all[$name]
        $s.BudgetSeconds = $SuiteBudgetSeconds[$name]
        $s
    }
}

function Invoke-Test {
    Import-Module (Join-Path $root 'tools' 'TestRun.psm1') -Force
    $names = if ($Suite) { $Suite } else { @('core', 'powershell', 'pester-80', 'pester-120', 'guest-default', 'guest-backports', 'guest-newest') }
    $results = Join-Path $root 'out' 'test-results'
    $null = New-Item -ItemType Directory -Force -Path $results
    $notBuilt = @()
    if ($names | Where-Object { $_ -in 'core', 'powershell' -or $_ -like 'guest-*' }) {
        # One build for the xunit suites; if it fails they report that, and the Pester suites still run.
        dotnet build (Join-Path $root 'VfioMigration.slnx') --nologo -v q | ForEach-Object { Write-Host $_ }
        if ($LASTEXITCODE -ne 0) { $notBuilt = @($names | Where-Object { $_ -in 'core', 'powershell' -or $_ -like 'guest-*' }) }
    }
    $pester = $null
    if ($names | Where-Object { $_ -like 'pester-*' -or $_ -eq 'examples' }) {
        if (-not (Test-BuildCurrent)) { Invoke-Build }
        $pester = Get-PesterModule
    }
    $suites = @(Get-TestSuites $names $pester $results)
    foreach ($s in $suites) {
        if ($s.Name -in $notBuilt) { $s.NotRunBecause = 'dotnet build of VfioMigration.slnx failed (see above)' }
        if ($s.ContainsKey('Before')) { & $s.Before }
    }
    $run = Invoke-TestRun -Suites $suites
    # The summary said what failed; a plain line and the exit code, not an error record, end the run.
    if (@($run | Where-Object Status -NotIn 'passed', 'skipped')) {
        Write-Host "JUnit results and the guests' summaries are in $results"
        exit 1
    }
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
