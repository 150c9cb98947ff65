# Pester 5: the test run itself (tools/TestRun.psm1, what build.ps1 Test runs every suite with). One slow or
# failing suite must not hide the rest, a timeout names what was running, a suite that says nothing is not green,
# and the output is plain lines in a real terminal (issue 17, item 18).

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '..' 'tools' 'TestRun.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'tools' 'ChildPwsh.psm1') -Force
    $script:Pester = { param($Lines) Read-PesterReport $Lines }
    # A suite whose command is a shell script.
    function New-ShellSuite([string] $Name, [string] $Script, [int] $Budget = 60) {
        @{ Name = $Name; BudgetSeconds = $Budget; Command = @('sh', '-c', $Script); Parse = $script:Pester }
    }
}

Describe 'The test run (build.ps1 Test)' {
    It 'runs every suite when one fails, times out or says nothing, and names what each did' {
        $suites = @(
            New-ShellSuite 'first-fails' 'echo "pester (80 columns): 5 passed, 2 failed, 0 skipped"; exit 2'
            New-ShellSuite 'slow' 'echo "run  the check that hangs"; sleep 60; echo "pester (80 columns): 1 passed, 0 failed, 0 skipped"' -Budget 3
            New-ShellSuite 'silent' 'echo "some output"; exit 0'
            New-ShellSuite 'crashes' 'exit 139'
            New-ShellSuite 'last-passes' 'echo "pester (120 columns): 7 passed, 0 failed, 1 skipped"'
        )
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $results = Invoke-TestRun -Suites $suites 6>$null
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 40 -Because 'the slow suite is stopped at its budget'
        $results.Name | Should -Be 'first-fails', 'slow', 'silent', 'crashes', 'last-passes'
        $byName = @{}; foreach ($r in $results) { $byName[$r.Name] = $r }
        $byName['first-fails'].Status | Should -Be 'failed'
        $byName['first-fails'].Failed | Should -Be 2
        $byName['slow'].Status | Should -Be 'timed out'
        $byName['slow'].Detail | Should -BeLike '*3 s budget*the last step it printed: run  the check that hangs*'
        $byName['silent'].Status | Should -Be 'did not report'
        $byName['crashes'].Status | Should -Be 'did not report'
        $byName['crashes'].Detail | Should -BeLike 'exit 139*'
        $byName['last-passes'].Status | Should -Be 'passed'
        $byName['last-passes'].Passed | Should -Be 7
        $byName['last-passes'].Skipped | Should -Be 1
    }

    It 'ends with one summary line per suite and a closing line that counts them' {
        $lines = & {
            $null = Invoke-TestRun -Suites @(
                New-ShellSuite 'ok-suite' 'echo "pester (80 columns): 3 passed, 0 failed, 0 skipped"'
                New-ShellSuite 'bad-suite' 'exit 1')
        } 6>&1 | ForEach-Object { "$_" }
        ($lines -match '^== ok-suite: passed \(\d+ s\)$') | Should -Not -BeNullOrEmpty
        ($lines | Where-Object { $_ -match '^\s+ok-suite\s+passed\s+3 passed, 0 failed, 0 skipped' }) | Should -Not -BeNullOrEmpty
        ($lines | Where-Object { $_ -match '^\s+bad-suite\s+did not report' }) | Should -Not -BeNullOrEmpty
        $lines[-1] | Should -Match '^test run: 1 of 2 suites passed \(not passed: bad-suite did not report\); 3 passed, 0 failed, 0 skipped in \d+ s$'
    }

    It 'a suite that could not start (its build failed) is a failure that says why' {
        $r = Invoke-TestSuite -Suite @{ Name = 'core'; BudgetSeconds = 30; Command = @('false'); Parse = $script:Pester; NotRunBecause = 'dotnet build failed' } 6>$null
        $r.Status | Should -Be 'failed'
        $r.Detail | Should -Be 'not run: dotnet build failed'
    }

    It 'a suite that only skipped is reported as skipped, with its reason, not as passed' {
        $r = Invoke-TestSuite -Suite @{
            Name = 'guest-x'; BudgetSeconds = 30; Command = @('sh', '-c', 'echo "Skipped!  - Failed:     0, Passed:     0, Skipped:     1, Total:     1"')
            Parse = { param($Lines) $report = Read-DotnetTestReport $Lines; if ($report) { $report.Detail = 'skipped: qemu-system-x86_64 is not installed' }; $report }
        } 6>$null
        $r.Status | Should -Be 'skipped'
        $r.Detail | Should -Be 'skipped: qemu-system-x86_64 is not installed'
    }

    It 'reads the counts dotnet test and the Pester suite print' {
        $r = Read-DotnetTestReport @('x', 'Failed!  - Failed:     2, Passed:   204, Skipped:     1, Total:   207, Duration: 3 s - a.dll (net10.0)')
        "$($r.Passed) $($r.Failed) $($r.Skipped)" | Should -Be '204 2 1'
        Read-DotnetTestReport @('Build succeeded.') | Should -BeNullOrEmpty
        (Read-PesterReport @('pester (120 columns): 95 passed, 0 failed, 2 skipped')).Passed | Should -Be 95
    }

    It 'prints plain lines in a real terminal: no line starts where the last one ended' -Skip:(-not (Get-Command script -CommandType Application -ErrorAction SilentlyContinue)) {
        # The outer script(1) is the real terminal; in it a pwsh runs a suite in a pseudo-terminal of 80 columns, as
        # build.ps1 does, and prints lines before, during and after. A terminal left in raw mode by the inner
        # script(1) would show the lines written meanwhile with a bare line feed: a staircase.
        $module = Join-Path $PSScriptRoot '..' 'tools' 'TestRun.psm1'
        $inner = "Import-Module '$module'; Write-Host before; `$null = Invoke-BoundedCommand -Command sh, -c, 'echo one; sleep 1; echo two; sleep 1; echo three' -BudgetSeconds 30 -Columns 80; Write-Host after"
        $pwsh = @(Get-PwshCommand) + @('-NoProfile', '-NonInteractive', '-Command', $inner)
        $quoted = ($pwsh | ForEach-Object { "'" + ($_ -replace "'", "'\''") + "'" }) -join ' '
        $typescript = Join-Path ([IO.Path]::GetTempPath()) "testrun-tty-$PID.txt"
        try {
            # The outer terminal's output as a terminal shows it, bytes as they are.
            & sh -c 'script -qec "$1" /dev/null </dev/null >"$2"' sh $quoted $typescript
            $bytes = [IO.File]::ReadAllBytes($typescript)
            # Without the terminal's control sequences (pwsh's colour resets, the window title).
            $text = [Text.Encoding]::UTF8.GetString($bytes) -replace '\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>]', ''
            foreach ($word in 'before', 'one', 'two', 'three', 'after') { $text | Should -Match "(?m)^$word\r?$" }
            $bare = 0
            for ($i = 0; $i -lt $bytes.Length; $i++) { if ($bytes[$i] -eq 10 -and ($i -eq 0 -or $bytes[$i - 1] -ne 13)) { $bare++ } }
            $bare | Should -Be 0 -Because "every line in a terminal in cooked mode ends with CR LF; got: $($text -replace "`r", '\r' -replace "`n", '\n')"
        } finally {
            Remove-Item -LiteralPath $typescript -ErrorAction SilentlyContinue
        }
    }
}
