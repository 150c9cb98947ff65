<#
.SYNOPSIS
    The test run's bookkeeping (build.ps1 Test): every suite runs in turn whatever happened to the ones before, each
    within its own time budget, each must report its counts, and the run ends with one line per suite.
.DESCRIPTION
    A suite is a hashtable: Name, BudgetSeconds, Command (a native command line as string[]), optional Columns (run
    in a pseudo-terminal of that width with script(1)), optional Environment (hashtable), optional NotRunBecause
    (the suite could not start: it fails with that reason) and Parse, a scriptblock
    that gets the suite's output lines and returns @{ Passed; Failed; Skipped; Detail } or $null when the output
    holds no report. A suite fails when its command fails, a test fails, it runs out of time (the line names the
    last step it printed) or it does not report.
#>
Set-StrictMode -Version Latest

function Invoke-BoundedCommand {
    <#
    .SYNOPSIS
        Runs a native command within BudgetSeconds (coreutils timeout: TERM, then KILL 15 s later), echoing its
        output as plain lines and keeping them. Returns ExitCode, TimedOut, Lines and Seconds.
    .NOTES
        stdin is /dev/null: with a terminal there, script(1) would switch that terminal to raw mode while the child
        runs, and every line printed meanwhile would start where the last one ended (a staircase).
    #>
    param(
        [Parameter(Mandatory)] [string[]] $Command,
        [Parameter(Mandatory)] [int] $BudgetSeconds,
        [int] $Columns = 0,
        [hashtable] $Environment = @{}
    )
    $line = $Command
    if ($Columns -gt 0) {
        if (-not (Get-Command script -CommandType Application -ErrorAction SilentlyContinue)) {
            Write-Warning "script(1) is not installed: running at the default width instead of $Columns columns"
        } else {
            # Formatting follows the terminal's width, so run the child in a pseudo-terminal of that size.
            $quoted = ($Command | ForEach-Object { "'" + ($_ -replace "'", "'\''") + "'" }) -join ' '
            $line = @('script', '-qec', "stty cols $Columns rows 50; $quoted", '/dev/null')
            # A terminal without colours or cursor movement: the log stays plain text.
            if (-not $Environment.ContainsKey('TERM')) { $Environment = $Environment + @{ TERM = 'dumb' } }
        }
    }
    $saved = @{}
    foreach ($name in $Environment.Keys) {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
        [Environment]::SetEnvironmentVariable($name, $Environment[$name])
    }
    $lines = [Collections.Generic.List[string]]::new()
    $clock = [Diagnostics.Stopwatch]::StartNew()
    try {
        & sh -c 'exec "$@" </dev/null' sh timeout -k 15 $BudgetSeconds @line 2>&1 | ForEach-Object {
            # A pseudo-terminal ends lines with \r\n; the \r would only move the cursor back.
            $text = "$_".TrimEnd("`r") -replace "`r", ''
            Write-Host $text
            $lines.Add($text)
        }
        $exit = $LASTEXITCODE
    } finally {
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
    }
    [pscustomobject]@{
        ExitCode = $exit
        TimedOut = $exit -eq 124 -or $exit -eq 137
        Lines    = $lines.ToArray()
        Seconds  = [math]::Round($clock.Elapsed.TotalSeconds)
    }
}

function Get-LastStep([string[]] $Lines) {
    # What the suite was doing: the last line that names a step, else its last non-empty line.
    $step = $Lines | Where-Object { $_ -match '^\s*(run  |\[[+-]\] |Running |Describing |Context |ok   |FAIL |run-guest: )' } | Select-Object -Last 1
    if (-not $step) { $step = $Lines | Where-Object { $_.Trim() } | Select-Object -Last 1 }
    if ($step) { $step.Trim() } else { '(it printed nothing)' }
}

function Invoke-TestSuite {
    <#
    .SYNOPSIS
        Runs one suite (see the module's description) and returns its result: Name, Status (passed, failed, timed
        out, did not report, skipped), Passed, Failed, Skipped, Seconds, Detail. Never throws for a suite's failure.
    #>
    param([Parameter(Mandatory)] [hashtable] $Suite)
    Write-Host "== $($Suite.Name): starting (budget $($Suite.BudgetSeconds) s)"
    $result = [pscustomobject]@{ Name = $Suite.Name; Status = 'failed'; Passed = 0; Failed = 0; Skipped = 0; Seconds = 0; Detail = '' }
    if ($Suite.ContainsKey('NotRunBecause')) {
        # It could not start (its build failed): a failure, said as such, not a silence.
        $result.Detail = "not run: $($Suite.NotRunBecause)"
        Write-Host "== $($Suite.Name): failed, $($result.Detail)"
        return $result
    }
    try {
        $columns = if ($Suite.ContainsKey('Columns')) { $Suite.Columns } else { 0 }
        $environment = if ($Suite.ContainsKey('Environment')) { $Suite.Environment } else { @{} }
        $run = Invoke-BoundedCommand -Command $Suite.Command -BudgetSeconds $Suite.BudgetSeconds -Columns $columns -Environment $environment
        $result.Seconds = $run.Seconds
        $report = & $Suite.Parse $run.Lines
        if ($report) {
            $result.Passed = [int]$report.Passed; $result.Failed = [int]$report.Failed; $result.Skipped = [int]$report.Skipped
            $result.Detail = [string]$report.Detail
        }
        if ($run.TimedOut) {
            $result.Status = 'timed out'
            $result.Detail = "ran out of its $($Suite.BudgetSeconds) s budget; the last step it printed: $(Get-LastStep $run.Lines)"
        } elseif (-not $report) {
            $result.Status = 'did not report'
            $result.Detail = "exit $($run.ExitCode), no result counts in its output; its last line: $(Get-LastStep $run.Lines)"
        } elseif ($run.ExitCode -ne 0 -or $result.Failed -gt 0) {
            $result.Status = 'failed'
            if ($result.Failed -eq 0) { $result.Detail = "exit $($run.ExitCode); $($result.Detail)".TrimEnd(' ', ';') }
        } elseif ($result.Passed -eq 0 -and $result.Skipped -gt 0) {
            $result.Status = 'skipped'
        } elseif ($result.Passed -eq 0) {
            $result.Status = 'did not report'
            $result.Detail = "no test passed; $($result.Detail)".TrimEnd(' ', ';')
        } else {
            $result.Status = 'passed'
        }
    } catch {
        $result.Status = 'failed'
        $result.Detail = "could not run: $($_.Exception.Message)"
    }
    Write-Host "== $($Suite.Name): $($result.Status) ($($result.Seconds) s)"
    $result
}

function Invoke-TestRun {
    <#
    .SYNOPSIS
        Runs every suite in order (each whatever the others did), prints the summary (one line per suite, then
        "test run: ...") and returns the results. The run passed when every suite passed or was skipped.
    #>
    param([Parameter(Mandatory)] [hashtable[]] $Suites)
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $results = @(foreach ($suite in $Suites) { Invoke-TestSuite -Suite $suite })
    Write-Host ''
    Write-Host 'Test run summary:'
    foreach ($r in $results) {
        $counts = "$($r.Passed) passed, $($r.Failed) failed, $($r.Skipped) skipped"
        Write-Host ("  {0,-16} {1,-15} {2,-36} {3,5} s{4}" -f $r.Name, $r.Status, $counts, $r.Seconds, $(if ($r.Detail) { "  $($r.Detail)" } else { '' }))
    }
    $bad = @($results | Where-Object Status -NotIn 'passed', 'skipped')
    $sum = { param($p) ($results | Measure-Object -Property $p -Sum).Sum }
    Write-Host ("test run: {0} of {1} suites passed{2}; {3} passed, {4} failed, {5} skipped in {6:F0} s" -f
        @($results | Where-Object Status -EQ 'passed').Count, $results.Count,
        $(if ($bad) { " (not passed: $(($bad | ForEach-Object { "$($_.Name) $($_.Status)" }) -join ', '))" } else { '' }),
        (& $sum Passed), (& $sum Failed), (& $sum Skipped), $clock.Elapsed.TotalSeconds)
    $results
}

function Read-DotnetTestReport([string[]] $Lines) {
    # VSTest's closing line per assembly: "Passed!  - Failed:     0, Passed:   206, Skipped:     0, Total: ..."
    $matched = @($Lines | Select-String -Pattern '(Passed|Failed|Skipped)!\s+-\s+Failed:\s+(\d+),\s+Passed:\s+(\d+),\s+Skipped:\s+(\d+)')
    if (-not $matched) { return $null }
    $g = $matched[-1].Matches[0].Groups
    @{ Passed = [int]$g[3].Value; Failed = [int]$g[2].Value; Skipped = [int]$g[4].Value; Detail = '' }
}

function Read-PesterReport([string[]] $Lines) {
    # tests/Invoke-PesterSuite.ps1's last line: "pester (80 columns): 95 passed, 0 failed, 0 skipped"
    $matched = @($Lines | Select-String -Pattern '^pester \((\d+) columns\): (\d+) passed, (\d+) failed, (\d+) skipped')
    if (-not $matched) { return $null }
    $g = $matched[-1].Matches[0].Groups
    @{ Passed = [int]$g[2].Value; Failed = [int]$g[3].Value; Skipped = [int]$g[4].Value; Detail = "at $($g[1].Value) columns" }
}

Export-ModuleMember -Function Invoke-BoundedCommand, Invoke-TestSuite, Invoke-TestRun, Read-DotnetTestReport, Read-PesterReport
