# Pester 5: the module in cron-style scripts (pwsh -NonInteractive -File), where a refusal must stop the script
# under -ErrorAction Stop and nothing may prompt, and the arguments automation passes (one state name, device
# names) are checked before anything moves.

BeforeAll {
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    $script:Manifest = (Resolve-Path -LiteralPath $script:Manifest).ProviderPath
    $script:Work = [IO.Directory]::CreateTempSubdirectory('vfio-cron-').FullName
    # An empty sysfs and /dev: a host without VFIO, whatever the machine running the tests has.
    $script:NoVfio = Join-Path $script:Work 'novfio'
    $null = New-Item -ItemType Directory (Join-Path $script:NoVfio 'sys'), (Join-Path $script:NoVfio 'dev')

    # Runs $Script as a file, as cron runs one: pwsh -NoProfile -NonInteractive -File. The module is imported
    # first, on a host without VFIO; 'NEXT LINE RAN' is printed by the script's last line.
    function Invoke-CronScript([string] $Script) {
        $exe = [Environment]::ProcessPath
        $pre = @(if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
        $file = Join-Path $script:Work "job-$([guid]::NewGuid().ToString('n')).ps1"
        Set-Content -LiteralPath $file -Value @"
`$PSStyle.OutputRendering = 'PlainText'
`$ProgressPreference = 'SilentlyContinue'
`$env:VFIO_MIGRATION_SYSFS_ROOT = '$(Join-Path $script:NoVfio 'sys')'
`$env:VFIO_MIGRATION_DEV_ROOT = '$(Join-Path $script:NoVfio 'dev')'
Import-Module '$script:Manifest'
Set-Location -LiteralPath '$script:Work'
$Script
'NEXT LINE RAN'
"@
        $errFile = Join-Path $script:Work 'stderr.txt'
        $out = & $exe @pre -NoProfile -NonInteractive -File $file 2> $errFile
        $code = $LASTEXITCODE
        # pwsh wraps error messages at the terminal's width behind '     | ': one line again, for matching.
        $errors = @(Get-Content -LiteralPath $errFile | ForEach-Object { $_ -replace '^\s*\|\s?', '' }) -join ' ' -replace '\s+', ' '
        [pscustomobject]@{ Output = @($out); Errors = $errors.Trim(); ExitCode = $code }
    }
}

AfterAll { Remove-Item -Recurse -Force $script:Work }

Describe 'A refusal stops a cron script under -ErrorAction Stop' {
    # Each case is a refusal a scheduled job can meet; the command ends the statement by itself, so only
    # -ErrorAction Stop can stop the script, and it must.
    It '<Name>' -ForEach @(
        @{ Name = 'VFIO missing (Get-VfioDevice)'; Line = 'Get-VfioDevice -ErrorAction Stop'; Says = 'Real devices are not available' }
        @{ Name = 'VFIO missing (Set-VfioDeviceState)'; Line = 'Set-VfioDeviceState 0000:3b:00.2 -State Stop -Confirm:$false -ErrorAction Stop'; Says = 'Real devices are not available' }
        @{ Name = 'VFIO missing (Test-VfioMigration)'; Line = 'Test-VfioMigration 0000:3b:00.2 -ErrorAction Stop'; Says = 'Real devices are not available' }
        @{ Name = 'a switch without its partner'; Line = 'Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Stop -SkipQuiesceCheck -Confirm:$false -ErrorAction Stop'; Says = '-SkipQuiesceCheck applies only together with -Together' }
        @{ Name = 'an image path on another provider'; Line = 'Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path Env:/image -Confirm:$false -ErrorAction Stop'; Says = 'Environment provider' }
        @{ Name = 'a conformance run nobody confirmed'; Line = 'Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -ErrorAction Stop'; Says = 'cannot ask' }
        @{ Name = 'a state change asked to confirm where nobody can'; Line = 'Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop -Confirm -ErrorAction Stop'; Says = 'cannot ask' }
    ) {
        $r = Invoke-CronScript $Line
        $r.Output | Should -Not -Contain 'NEXT LINE RAN' -Because 'the script must stop at the refusal'
        $r.ExitCode | Should -Not -Be 0
        $r.Errors | Should -Match ([regex]::Escape($Says))
    }

    It 'an empty device name (<Case>) is the module''s error, so -ErrorAction Stop stops there too' -ForEach @(
        @{ Case = 'a variable that was never set'; Line = 'Set-VfioDeviceState -Simulated -Address $env:VFIO_TEST_NEVER_SET -State Stop -Confirm:$false -ErrorAction Stop' }
        @{ Case = 'a blank name'; Line = "Save-VfioDeviceState -Simulated ' ' -Path ./blank.vfiostate -Confirm:`$false -ErrorAction Stop" }
        @{ Case = 'an empty list'; Line = 'Reset-VfioDevice -Simulated -Address @() -Confirm:$false -ErrorAction Stop' }
        @{ Case = 'an empty name to the conformance suite'; Line = "Test-VfioMigrationConformance -Simulated '' -Confirm:`$false -ErrorAction Stop" }
    ) {
        $r = Invoke-CronScript $Line
        $r.Output | Should -Not -Contain 'NEXT LINE RAN'
        $r.ExitCode | Should -Not -Be 0
        $r.Errors | Should -Match 'is not a device name: it is empty or blank|No device name was given'
    }

    It 'still ends only the statement without -ErrorAction Stop, as pwsh does' {
        $r = Invoke-CronScript 'Get-VfioDevice'
        $r.Output | Should -Contain 'NEXT LINE RAN'
        $r.Errors | Should -Match 'Real devices are not available'
    }

    It 'gives a catch block the module''s error id' {
        $r = Invoke-CronScript @'
try { Get-VfioDevice -ErrorAction Stop } catch { 'caught ' + $_.FullyQualifiedErrorId }
try { Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path Env:/image -Confirm:$false -ErrorAction Stop } catch { 'caught ' + $_.FullyQualifiedErrorId }
'@
        $r.Output | Should -Be @(
            'caught VfioNotAvailable,VfioMigration.PowerShell.Commands.GetVfioDeviceCommand'
            'caught NotAFileSystemPath,VfioMigration.PowerShell.Commands.SaveVfioDeviceStateCommand'
            'NEXT LINE RAN')
        $r.Errors | Should -BeNullOrEmpty
    }
}

Describe 'A value the module''s parameter checks refuse stops a cron script under -ErrorAction Stop' {
    # pwsh's own binding errors (a Validate* attribute, a transformation that throws) end only the statement, even
    # under -ErrorAction Stop; the module checks these values itself, so each is its InvalidParameterValue error.
    # (NormalView: the error's id is printed, so one run shows both that the script stopped and whose error it was.)
    It '<Line>' -ForEach @(
        @{ Line = "Set-VfioDeviceState -Simulated 0000:3b:00.2 -State 'Running,Stop' -Confirm:`$false"; Says = "-State: 'Running,Stop' names more than one value" }
        @{ Line = 'Set-VfioDeviceState -Simulated 0000:3b:00.2 -State 3 -Confirm:$false'; Says = 'numbers are not accepted' }
        @{ Line = 'Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Bogus -Confirm:$false'; Says = "'Bogus' is not a name of one" }
        @{ Line = 'Set-VfioDeviceState -Simulated 0000:3b:00.2 -State ([VfioMigration.Protocol.MigrationState]::Error) -Confirm:$false'; Says = 'give exactly one of: Running, Stop, StopCopy' }
        @{ Line = "Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path '' -Confirm:`$false"; Says = '-Path: ' }
        @{ Line = 'Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path $env:VFIO_TEST_NEVER_SET -Confirm:$false'; Says = '-Path: ' }
        @{ Line = 'Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path ./a.vfiostate -Live -MaxPreCopyRounds 0 -Confirm:$false'; Says = '-MaxPreCopyRounds: 0 is out of range; give a number from 1 to 1000' }
        @{ Line = 'Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path ./a.vfiostate -Live -MaxDowntimeMs 0 -Confirm:$false'; Says = 'from 1 to 3600000' }
        @{ Line = "Restore-VfioDeviceState -Simulated 0000:3b:00.2 -Path '' -Confirm:`$false"; Says = '-Path: ' }
        @{ Line = "Restore-VfioDeviceState -Simulated 0000:3b:00.2 -LiteralPath '' -Confirm:`$false"; Says = '-LiteralPath: ' }
        @{ Line = "Restore-VfioDeviceState -Simulated 0000:3b:00.2 -Path ./a.vfiostate -Section '' -Confirm:`$false"; Says = '-Section: ' }
        @{ Line = "Get-VfioStateImage -Path ''"; Says = '-Path: ' }
        @{ Line = "Get-VfioStateImage -LiteralPath ''"; Says = '-LiteralPath: ' }
        @{ Line = "Export-VfioQemuStream -Path '' -Template ./t -Destination ./d -Confirm:`$false"; Says = '-Path: ' }
        @{ Line = "Export-VfioQemuStream -Path ./s -Template '' -Destination ./d -Confirm:`$false"; Says = '-Template: ' }
        @{ Line = "Export-VfioQemuStream -Path ./s -Template ./t -Destination '' -Confirm:`$false"; Says = '-Destination: ' }
        @{ Line = "Export-VfioQemuStream -Path ./s -Template ./t -Destination ./d -Section '' -Confirm:`$false"; Says = '-Section: ' }
        @{ Line = "Export-VfioQemuStream -Path ./s -Template ./t -Destination ./d -SourceSection '' -Confirm:`$false"; Says = '-SourceSection: ' }
        @{ Line = "Get-VfioDevice -Simulated -Address ''"; Says = '-Address: ' }
        @{ Line = 'Get-VfioDevice -Simulated -Kind Bogus'; Says = "-Kind: 'Bogus' is not a name of one; give exactly one of: Pci, Ccw, Mdev" }
        @{ Line = 'Test-VfioMigration -Simulated -Address @()'; Says = '-Address: ' }
        @{ Line = "Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -PeerAddress '' -Confirm:`$false"; Says = '-PeerAddress: ' }
        @{ Line = 'Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -Area plumbing, bogus -Confirm:$false'; Says = "-Area: 'bogus' is not one of: plumbing, fsm, data, resume, dma-logging, v1, ndma" }
        @{ Line = 'Reset-VfioDevice -InputObject $null -Confirm:$false'; Says = '-InputObject: ' }
        @{ Line = "New-VfioSimulatedDevice -Address '' -Confirm:`$false"; Says = '-Address: ' }
        @{ Line = "New-VfioSimulatedDevice -Address 0000:01:00.0 -Kind 'Pci,Ccw' -Confirm:`$false"; Says = 'names more than one value' }
        @{ Line = 'New-VfioSimulatedDevice -Address 0000:01:00.0 -Protocol 2 -Confirm:$false'; Says = 'give exactly one of: None, V1, V2' }
        @{ Line = 'New-VfioSimulatedDevice -Address 0000:01:00.0 -NdmaReading Bogus -Confirm:$false'; Says = '-NdmaReading: ' }
        @{ Line = 'New-VfioSimulatedDevice -Address 0000:01:00.0 -MemorySize 1KB -Confirm:$false'; Says = '-MemorySize: 1024 is out of range; give a number from 16384 to 68719476736' }
        @{ Line = 'New-VfioSimulatedDevice -Address 0000:01:00.0 -IommuGroup -1 -Confirm:$false'; Says = '-IommuGroup: -1 is out of range' }
        @{ Line = "New-VfioSimulatedDevice -Address 0000:01:00.0 -Driver '' -Confirm:`$false"; Says = '-Driver: ' }
        @{ Line = 'New-VfioSimulatedDevice -Address 0000:01:00.0 -VendorId xyz -Confirm:$false'; Says = "-VendorId: 'xyz' is not" }
        @{ Line = 'New-VfioSimulatedDevice -Address 0000:01:00.0 -DeviceId 12345 -Confirm:$false'; Says = "-DeviceId: '12345' is not" }
        @{ Line = "New-VfioSimulatedDevice -Address 0000:01:00.0 -PeerAddress '' -Confirm:`$false"; Says = '-PeerAddress: ' }
        @{ Line = 'New-VfioSimulatedDevice -Address 0000:01:00.0 -PreCopyReinitAfter -1 -Confirm:$false'; Says = '-PreCopyReinitAfter: -1 is out of range' }
        @{ Line = 'Add-VfioSimulatedFault -Address 0000:3b:00.2 -Point 1 -Confirm:$false'; Says = '-Point: ' }
        @{ Line = 'Add-VfioSimulatedFault -Address 0000:3b:00.2 -Nth 0 -Confirm:$false'; Says = '-Nth: 0 is out of range' }
        @{ Line = "Add-VfioSimulatedFault -Address 0000:3b:00.2 -Errno '' -Confirm:`$false"; Says = '-Errno: ' }
        @{ Line = "Add-VfioSimulatedFault -Address 0000:3b:00.2 -ArcFrom 'Stop,Running' -Confirm:`$false"; Says = '-ArcFrom: ' }
        @{ Line = 'Add-VfioSimulatedFault -Address 0000:3b:00.2 -ArcTo 9 -Confirm:$false'; Says = '-ArcTo: ' }
        @{ Line = 'Add-VfioSimulatedFault -Address 0000:3b:00.2 -TruncateSaveStreamAt -1 -Confirm:$false'; Says = '-TruncateSaveStreamAt: -1 is out of range' }
        @{ Line = 'Add-VfioSimulatedFault -Address 0000:3b:00.2 -CorruptSaveStreamAt -1 -Confirm:$false'; Says = '-CorruptSaveStreamAt: -1 is out of range' }
    ) {
        $r = Invoke-CronScript "`$ErrorView = 'NormalView'`n$Line -ErrorAction Stop"
        $r.Output | Should -Not -Contain 'NEXT LINE RAN' -Because 'the script must stop at the refused value'
        $r.ExitCode | Should -Not -Be 0
        $r.Errors | Should -Match 'FullyQualifiedErrorId : InvalidParameterValue,VfioMigration\.PowerShell\.Commands\.'
        $r.Errors | Should -Match ([regex]::Escape($Says))
    }

    It 'ends only the statement without -ErrorAction Stop, as the module''s error, and nothing changed' {
        $r = Invoke-CronScript @'
Set-VfioDeviceState -Simulated 0000:3b:00.2 -State 'Running,Stop' -Confirm:$false
try { Set-VfioDeviceState -Simulated 0000:3b:00.2 -State 'Running,Stop' -Confirm:$false } catch { 'caught ' + $_.FullyQualifiedErrorId + ' ' + $_.CategoryInfo.Category }
'state ' + (Get-VfioDevice -Simulated 0000:3b:00.2).State
'@
        $r.Output | Should -Be @('caught InvalidParameterValue,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand InvalidArgument', 'state Running', 'NEXT LINE RAN')
        $r.Errors | Should -Match ([regex]::Escape("-State: 'Running,Stop' names more than one value, and only one is taken; give exactly one of: Running, Stop,"))
    }

    It 'refuses a value bound from the pipeline for that object alone (<Case>)' -ForEach @(
        @{ Case = 'Get-VfioStateImage'; Line = "'', './none.vfiostate' | Get-VfioStateImage -ErrorVariable e -ErrorAction SilentlyContinue" }
    ) {
        $r = Invoke-CronScript @"
$Line
`$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId.Split(',')[0] }
"@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('error InvalidParameterValue', 'error ImageNotFound', 'NEXT LINE RAN')
    }
}

# newuser finding 1: under -ErrorAction Stop the cancelled save's error threw out of the cleanup, so the script
# exited 1, said nothing of the signal, and printed the error twice.
Describe 'A signal during a cron job''s save' {
    It 'exits <Code> after <Signal> (<Case>), saying the cancelled save once' -ForEach @(
        @{ Signal = 'TERM'; Code = 143; Stop = ' -ErrorAction Stop'; Case = '-ErrorAction Stop' }
        @{ Signal = 'HUP'; Code = 129; Stop = ' -ErrorAction Stop'; Case = '-ErrorAction Stop' }
        @{ Signal = 'TERM'; Code = 143; Stop = ''; Case = 'no -ErrorAction' }
    ) {
        $dir = Join-Path $script:Work "sig-$([guid]::NewGuid().ToString('n'))"
        $null = New-Item -ItemType Directory -Path $dir
        $file = Join-Path $script:Work "job-$([guid]::NewGuid().ToString('n')).ps1"
        Set-Content -LiteralPath $file -Value @"
`$PSStyle.OutputRendering = 'PlainText'
Import-Module '$script:Manifest'
`$null = New-VfioSimulatedDevice -Address 0000:92:00.0 -MemorySize 2GB -Confirm:`$false
Save-VfioDeviceState -Simulated 0000:92:00.0 -Path '$dir/big.vfiostate' -Force$Stop
'NEXT LINE RAN'
"@
        $exe = [Environment]::ProcessPath
        $psi = [System.Diagnostics.ProcessStartInfo]::new($exe)
        if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { $psi.ArgumentList.Add((Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-File', $file) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardError = $true
        $psi.RedirectStandardOutput = $true
        $child = [System.Diagnostics.Process]::Start($psi)
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while (-not (Get-ChildItem -LiteralPath $dir -Force -Filter '*.partial') -and -not $child.HasExited -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        $child.HasExited | Should -BeFalse -Because 'the save must still be running when the signal comes'
        kill "-$Signal" $child.Id
        $child.WaitForExit(60000) | Should -BeTrue
        $stdout = $child.StandardOutput.ReadToEnd()
        $stderr = $child.StandardError.ReadToEnd()
        $child.ExitCode | Should -Be $Code
        $stdout | Should -Not -BeLike '*NEXT LINE RAN*'
        $stderr | Should -BeLike "*Save-VfioDeviceState: terminated by SIG$Signal after cleaning up*"
        ([regex]::Matches($stderr, 'cancelled')).Count | Should -Be 1 -Because "the cancelled save is said once: $stderr"
        @(Get-ChildItem -LiteralPath $dir -Force).Name | Should -BeNullOrEmpty
    }
}

Describe 'Nothing prompts in a non-interactive session' {
    It '<Command> without -Confirm:$false gives ConfirmationRequired and changes nothing' -ForEach @(
        @{ Command = 'Test-VfioMigrationConformance'; Line = 'Test-VfioMigrationConformance -Simulated 0000:5e:00.1' }
        @{ Command = 'Reset-VfioDevice (with -Confirm)'; Line = 'Reset-VfioDevice -Simulated 0000:5e:00.1 -Confirm' }
        @{ Command = 'Set-VfioDeviceState (with -Confirm)'; Line = 'Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop -Confirm' }
    ) {
        $r = Invoke-CronScript @"
Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop -Confirm:`$false
$Line -ErrorVariable e -ErrorAction SilentlyContinue
`$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId.Split(',')[0] }
'state ' + (Get-VfioDevice -Simulated 0000:5e:00.1).State
"@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('error ConfirmationRequired', 'state Stop', 'NEXT LINE RAN')
    }

    It 'goes ahead with -Confirm:$false' {
        $r = Invoke-CronScript @'
$n = @(Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -Area plumbing -Confirm:$false 6>$null).Count
"checks $([int]($n -gt 0))"
'@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('checks 1', 'NEXT LINE RAN')
    }
}

Describe '-State takes exactly one named state' {
    It 'refuses <Given> and leaves the device Running' -ForEach @(
        @{ Given = "'Running,Stop'"; Why = 'names more than one value' }
        @{ Given = '3'; Why = 'numbers are not accepted' }
        @{ Given = "'3'"; Why = 'is a number' }
        @{ Given = "'Error'"; Why = 'is not taken here' }
        @{ Given = "([VfioMigration.Protocol.MigrationState]::Error)"; Why = 'is not one MigrationState name' }
    ) {
        $r = Invoke-CronScript @"
Set-VfioDeviceState -Simulated 0000:3b:00.2 -State $Given -Confirm:`$false
'state ' + (Get-VfioDevice -Simulated 0000:3b:00.2).State
"@
        $r.Output | Should -Contain 'state Running'
        $r.Errors | Should -Match ([regex]::Escape($Why))
        $r.Errors | Should -Match 'Running, Stop, StopCopy, Resuming, RunningP2P, PreCopy, PreCopyP2P'
    }

    It 'takes one name in any case, and a state value' {
        $r = Invoke-CronScript @'
(Set-VfioDeviceState -Simulated 0000:3b:00.2 -State ' stopcopy ' -Confirm:$false -PassThru).State
(Set-VfioDeviceState -Simulated 0000:3b:00.2 -State ([VfioMigration.Protocol.MigrationState]::Running) -Confirm:$false -PassThru).State
'@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('StopCopy', 'Running', 'NEXT LINE RAN')
    }

    It 'holds for the simulator''s enum parameters too (<Line>)' -ForEach @(
        @{ Line = "Add-VfioSimulatedFault -Address 0000:3b:00.2 -ArcTo 'Stop,Running' -Confirm:`$false" }
        @{ Line = "Add-VfioSimulatedFault -Address 0000:3b:00.2 -Point 1 -Confirm:`$false" }
        @{ Line = "New-VfioSimulatedDevice -Address 0000:01:00.0 -Protocol 2 -Confirm:`$false" }
    ) {
        $r = Invoke-CronScript $Line
        $r.Errors | Should -Match 'give exactly one of'
    }
}

Describe 'The conformance suite and the audit log' {
    It 'writes an audit line for the run and one for its final reset' {
        $log = Join-Path $script:Work 'conformance-audit.jsonl'
        $r = Invoke-CronScript @"
`$env:VFIO_MIGRATION_AUDIT_LOG = '$log'
`$null = Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -Confirm:`$false 6>`$null
"@
        $r.Errors | Should -BeNullOrEmpty
        $lines = @(Get-Content -LiteralPath $log | ConvertFrom-Json)
        $lines.Count | Should -Be 2
        $lines[0].Operation | Should -Be 'conformance'
        $lines[0].Device | Should -Be '0000:5e:00.1'
        $lines[0].From | Should -Be 'Running'
        $lines[0].Result | Should -Match '^ok: \d+ checks, \d+ passed, 0 failed, \d+ not applicable; [1-9]\d* state changes$'
        $lines[1].Operation | Should -Be 'reset'
        $lines[1].To | Should -Be 'Running'
        $lines[1].Result | Should -BeLike 'ok:*'
    }

    It 'refuses to run, and leaves the device untouched, when the audit log is refused' {
        $r = Invoke-CronScript @"
`$env:VFIO_MIGRATION_AUDIT_LOG = '$(Join-Path $script:Work 'no-such-dir' 'audit.jsonl')'
`$results = @(Test-VfioMigrationConformance -Simulated 0000:5e:00.1 -Confirm:`$false -ErrorVariable e -ErrorAction SilentlyContinue 6>`$null)
'results ' + `$results.Count
`$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId.Split(',')[0] + ' ' + (`$_.Exception.Message -match '0000:5e:00.1 was not touched') }
"@
        $r.Output | Should -Be @('results 0', 'error AuditLogUnavailable True', 'NEXT LINE RAN')
    }
}

Describe 'Device names on acting cmdlets' {
    It '<Command> with a wildcard that matches nothing says so, and -ErrorAction Stop stops the script' -ForEach @(
        @{ Command = 'Set-VfioDeviceState'; Line = "Set-VfioDeviceState -Simulated '0000:ff:*' -State Stop -Confirm:`$false" }
        @{ Command = 'Save-VfioDeviceState'; Line = "Save-VfioDeviceState -Simulated '0000:ff:*' -Path ./none.vfiostate -Confirm:`$false" }
        @{ Command = 'Reset-VfioDevice'; Line = "Reset-VfioDevice -Simulated '0000:ff:*' -Confirm:`$false" }
    ) {
        $r = Invoke-CronScript "$Line -ErrorVariable e -ErrorAction SilentlyContinue`n`$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId.Split(',')[0] + ' ' + `$_.TargetObject }"
        $r.Output | Should -Be @('error DeviceNotFound 0000:ff:*', 'NEXT LINE RAN')
        $r = Invoke-CronScript "$Line -ErrorAction Stop"
        $r.Output | Should -Not -Contain 'NEXT LINE RAN'
        $r.Errors | Should -Match "No simulated VFIO device matches '0000:ff:\*'"
    }

    It 'lets a look (Test-VfioMigration, Get-VfioDevice) come back empty for a wildcard that matches nothing' {
        $r = Invoke-CronScript @'
'test ' + @(Test-VfioMigration -Simulated '0000:ff:*').Count
'get ' + @(Get-VfioDevice -Simulated '0000:ff:*').Count
'@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output | Should -Be @('test 0', 'get 0', 'NEXT LINE RAN')
    }

    It 'refuses a device name with a NUL or an escape (<Command>) and changes nothing' -ForEach @(
        @{ Command = 'Set-VfioDeviceState'; Line = "Set-VfioDeviceState -Simulated `"0000:3b:00.2``0`" -State Stop -Confirm:`$false" }
        @{ Command = 'Set-VfioDeviceState, wildcard'; Line = "Set-VfioDeviceState -Simulated `"0000:3b:00.*``0`" -State Stop -Confirm:`$false" }
        @{ Command = 'Get-VfioDevice'; Line = "Get-VfioDevice -Simulated `"0000:3b:00.2``e[2J`"" }
    ) {
        $r = Invoke-CronScript @"
$Line -ErrorVariable e -ErrorAction SilentlyContinue
`$e | ForEach-Object { 'error ' + `$_.FullyQualifiedErrorId.Split(',')[0] + ' ' + `$_.TargetObject }
'state ' + (Get-VfioDevice -Simulated 0000:3b:00.2).State
"@
        $r.Output[0] | Should -BeLike 'error InvalidDeviceName 0000:3b:00.*\u00*'
        $r.Output | Should -Contain 'state Running'
        $r.Output.Count | Should -Be 3
    }
}

Describe 'A live save that leaves initial data for the downtime' {
    It 'warns with the device''s figures when the round limit ends pre-copy early' {
        $r = Invoke-CronScript @'
New-VfioSimulatedDevice -Address 0000:07:00.0 -Capabilities PreCopy -MemorySize 4MB -Confirm:$false | Out-Null
Add-VfioSimulatedFault -Address 0000:07:00.0 -Point StreamRead -Nth 3 -Errno ENOMSG -Confirm:$false | Out-Null
Save-VfioDeviceState -Simulated 0000:07:00.0 -Path ./live.vfiostate -Live -MaxPreCopyRounds 1 -Force -Confirm:$false 3>&1 | ForEach-Object { "warning: $_" }
'@
        $r.Errors | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 2
        $r.Output[0] | Should -Match '^warning: 0000:07:00\.0: pre-copy ended after 1 round\(s\) and \d+ bytes with [1-9]\d* bytes of initial data still unsent .*round limit \(1\)'
    }
}
