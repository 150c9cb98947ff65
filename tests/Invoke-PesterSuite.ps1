<#
.SYNOPSIS
    Runs the Pester suite (tests/*.Tests.ps1) against a built module, in this pwsh, and exits with the number of
    failed tests. build.ps1 Test starts it in a child pwsh -NonInteractive inside a terminal of a given width.
.PARAMETER Pester
    Path to Pester.psd1 (5.9.1; build.ps1 fetches it with tests/tools/Pester.Download.proj).
.PARAMETER Module
    Path to the built VfioMigration.psd1.
.PARAMETER ResultPath
    Where to write the JUnit XML result.
.PARAMETER FullName
    Run only the tests whose full name matches one of these wildcard patterns (comma-separated, as build.ps1
    passes them through -File), e.g. '*The examples*'.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Pester,
    [Parameter(Mandatory)] [string] $Module,
    [Parameter(Mandatory)] [string] $ResultPath,
    [string[]] $Path = @($PSScriptRoot),
    [string] $FullName
)
$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
# Progress bars would only clutter a CI log (the hosted-engine xunit tests check the progress records).
$global:ProgressPreference = 'SilentlyContinue'
Import-Module $Pester -Force
$env:VFIOMIGRATION_MODULE = (Resolve-Path -LiteralPath $Module).ProviderPath
$width = $Host.UI.RawUI.BufferSize.Width
Write-Host "Pester $((Get-Module Pester).Version) in pwsh $($PSVersionTable.PSVersion), $width columns, NonInteractive: $([Environment]::GetCommandLineArgs() -contains '-NonInteractive')"
$config = New-PesterConfiguration
$config.Run.Path = $Path
$config.Run.PassThru = $true
if ($FullName) { $config.Filter.FullName = @($FullName -split ',') }
$config.Output.Verbosity = 'Detailed'
$config.Output.RenderMode = 'Plaintext'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'JUnitXml'
$config.TestResult.OutputPath = $ResultPath
$result = Invoke-Pester -Configuration $config
"pester ($width columns): $($result.PassedCount) passed, $($result.FailedCount) failed, $($result.SkippedCount) skipped"
if ($result.PassedCount -eq 0) { exit 1 }
exit $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
