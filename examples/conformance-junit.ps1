# Driver QA in CI: run the module's migration conformance suite as a Pester container against a device and write
# JUnit XML for the CI system. Here against two simulated devices - one healthy, one playing a defective driver
# (its pre-copy initial_bytes grow) - so that the report shows both a pass and a failure with its evidence; on a
# real host, name the device under test instead (and drop Simulated).
#
# Needs Pester 5 (Install-Module Pester -MinimumVersion 5.0, or Import-Module a Pester.psd1 first). Destructive for
# the devices it checks: each is reset and moved through every migration state, then left reset and Running.
# Runs as it stands: pwsh -c 'Import-Module ./out/VfioMigration/VfioMigration.psd1; ./examples/conformance-junit.ps1'
#Requires -Modules VfioMigration
$ErrorActionPreference = 'Stop'
if (-not (Get-Module Pester | Where-Object Version -ge '5.0')) {
    if (-not (Get-Module -ListAvailable Pester | Where-Object Version -ge '5.0')) {
        '== Pester 5 is not installed here: Install-Module Pester -MinimumVersion 5.0 -Scope CurrentUser, then run this again'
        return
    }
    Import-Module Pester -MinimumVersion 5.0
}

$junit = Join-Path ([IO.Path]::GetTempPath()) "vfio-conformance-$PID.xml"
$null = New-VfioSimulatedDevice -Address 0000:42:00.0 -Capabilities P2P, PreCopy -Defect PreCopyInitialBytesGrow -Confirm:$false
try {
    $config = New-PesterConfiguration
    $config.Run.Container = @(
        New-PesterContainer -Path (Get-VfioConformanceSuite).FullName -Data @{ Address = '0000:3b:00.2'; PeerAddress = '0000:3b:00.3'; Simulated = $true }
        New-PesterContainer -Path (Get-VfioConformanceSuite).FullName -Data @{ Address = '0000:42:00.0'; Simulated = $true })
    $config.Run.PassThru = $true
    $config.Output.Verbosity = 'None'
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputFormat = 'JUnitXml'
    $config.TestResult.OutputPath = $junit
    '== The conformance suite under Pester: a healthy device (with its peer for the round trip) and a defective one'
    $result = Invoke-Pester -Configuration $config

    '== What a CI system reads in the JUnit XML: one testcase per check, failures with their evidence'
    $xml = [xml] (Get-Content -Raw -LiteralPath $junit)
    foreach ($suite in $xml.testsuites.testsuite) {
        $device = ($suite.testcase | Select-Object -First 1).name -replace '^Migration conformance of ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]).*$', '$1'
        '{0}: {1} checks, {2} failed, {3} skipped' -f $device, $suite.tests, $suite.failures, $suite.skipped
    }
    foreach ($case in $xml.testsuites.testsuite.testcase | Where-Object failure) {
        "FAILED $($case.name)"
        # Pester prefixes the message with the error's type name; the evidence is what follows.
        $case.failure.message -replace '^\w+: ', '' -split "`n" | ForEach-Object { "    $_" }
    }
    "JUnit XML: $((Get-Item -LiteralPath $junit).Length) bytes (a CI job would keep it; this example removes it)"
    # A defective device is the point of this example: the healthy one must pass, the defective one must fail.
    if ($result.FailedCount -eq 0) { throw 'the defective device passed: the suite has no teeth' }
} finally {
    Remove-Item -LiteralPath $junit -ErrorAction SilentlyContinue
    Remove-VfioSimulatedDevice -Address 0000:42:00.0 -Confirm:$false
}
