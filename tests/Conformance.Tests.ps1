# Pester 5: the migration conformance suite (Test-VfioMigrationConformance, the shipped Pester container, the
# simulator's defective personalities) as driver QA uses it, in real pwsh against the simulated host.

BeforeDiscovery {
    # defect, protocol, the aimed check, the checks it may fail (prefixes) - as in ConformanceDefectTests.cs
    $defects = @(
        @{ Defect = 'NotRunningAfterOpen'; Protocol = 'V2'; Aimed = 'fsm.open-state'; Allowed = @('fsm.open-state') }
        @{ Defect = 'NotRunningAfterOpen'; Protocol = 'V1'; Aimed = 'v1.open-state'; Allowed = @('v1.open-state') }
        @{ Defect = 'ResetKeepsState'; Protocol = 'V2'; Aimed = 'fsm.reset.Stop'; Allowed = @('fsm.reset.') }
        @{ Defect = 'ResetKeepsState'; Protocol = 'V1'; Aimed = 'v1.reset.Stop'; Allowed = @('v1.reset.') }
        @{ Defect = 'ResetKeepsDataFd'; Protocol = 'V2'; Aimed = 'data.reset-kills-fd.StopCopy'; Allowed = @('data.reset-kills-fd.') }
        @{ Defect = 'FailedSetLeavesStrayState'; Protocol = 'V2'; Aimed = 'fsm.failed-set-state'; Allowed = @('fsm.failed-set-state', 'resume.truncated') }
        @{ Defect = 'PreCopyInitialBytesGrow'; Protocol = 'V2'; Aimed = 'data.precopy-info-initial-bytes'; Allowed = @('data.precopy-info-initial-bytes') }
        @{ Defect = 'StopCopyEndsWithEnomsg'; Protocol = 'V2'; Aimed = 'data.stopcopy-eof'; Allowed = @('data.stopcopy-eof', 'data.precopy-fd-continues', 'data.precopy-nothing-now') }
        @{ Defect = 'AcceptsTruncatedStream'; Protocol = 'V2'; Aimed = 'resume.truncated'; Allowed = @('resume.truncated', 'fsm.failed-set-state') }
        @{ Defect = 'DataSizeWrong'; Protocol = 'V2'; Aimed = 'data.mig-data-size'; Allowed = @('data.mig-data-size') }
        @{ Defect = 'V1SpontaneousStateChange'; Protocol = 'V1'; Aimed = 'v1.no-spontaneous-change'; Allowed = @('v1.no-spontaneous-change') }
        @{ Defect = 'QuiesceLeaksP2P'; Protocol = 'V2'; Aimed = 'fsm.p2p-quiesced'; Allowed = @('fsm.p2p-quiesced') }
        @{ Defect = 'QuiesceLeaksP2P'; Protocol = 'V1'; Aimed = 'ndma.p2p-quiesced'; Allowed = @('ndma.p2p-quiesced') }
        @{ Defect = 'UndefinedMigrationFlags'; Protocol = 'V2'; Aimed = 'plumbing.migration-flags'; Allowed = @('plumbing.migration-flags') }
        @{ Defect = 'ProbeWritesBack'; Protocol = 'V2'; Aimed = 'plumbing.probe'; Allowed = @('plumbing.probe') }
        @{ Defect = 'SameStateSetFails'; Protocol = 'V2'; Aimed = 'fsm.same-state.Running'; Allowed = @('fsm.same-state.') }
        @{ Defect = 'ArgszUnchecked'; Protocol = 'V2'; Aimed = 'plumbing.argsz-short'; Allowed = @('plumbing.argsz-short') }
        @{ Defect = 'DmaLoggingRepeatedStart'; Protocol = 'V2'; Aimed = 'dma-logging.start-twice'; Allowed = @('dma-logging.start-twice') }
    )
}

BeforeAll {
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    $script:Manifest = (Resolve-Path -LiteralPath $script:Manifest).ProviderPath
    $script:PesterManifest = Join-Path (Get-Module Pester).ModuleBase 'Pester.psd1'

    # A child pwsh -NonInteractive with Pester and the module imported (Pester runs do not nest in one session).
    function Invoke-Child([string] $Script) {
        $exe = [Environment]::ProcessPath
        $pre = @(if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
        $errFile = [IO.Path]::GetTempFileName()
        try {
            $full = "`$ErrorActionPreference = 'Continue'; `$ProgressPreference = 'SilentlyContinue'; `$PSStyle.OutputRendering = 'PlainText'; Import-Module '$script:PesterManifest'; Import-Module '$script:Manifest'`n$Script"
            $out = & $exe @pre -NoProfile -NonInteractive -Command $full 2> $errFile
            [pscustomobject]@{ Output = @($out); Errors = @(Get-Content -LiteralPath $errFile); ExitCode = $LASTEXITCODE }
        } finally { Remove-Item -LiteralPath $errFile }
    }

    # A v2 (every capability, DMA logging) or v1 (Ndma) device linked peer-to-peer to a healthy twin.
    function New-Pair([string] $Protocol, [string[]] $Defect = @()) {
        $caps = if ($Protocol -eq 'V2') { 'StopCopy, P2P, PreCopy' } else { 'Ndma' }
        $common = @{ Protocol = $Protocol; Capabilities = $caps; MemorySize = 65536; DmaLogging = ($Protocol -eq 'V2'); Confirm = $false }
        $null = New-VfioSimulatedDevice -Address 0000:07:00.1 @common
        $null = New-VfioSimulatedDevice -Address 0000:07:00.0 -PeerAddress 0000:07:00.1 -Defect $Defect @common
    }
}

AfterAll {
    Remove-Module VfioMigration -ErrorAction SilentlyContinue
}

Describe 'Test-VfioMigrationConformance' {
    BeforeEach {
        Import-Module $script:Manifest -Force  # a fresh simulated host
    }

    It 'passes every applicable check on every device of the default simulated host and leaves each Running' {
        $results = @(
            Test-VfioMigrationConformance -Simulated -Address 0000:3b:00.2 -PeerAddress 0000:3b:00.3 -Confirm:$false
            Test-VfioMigrationConformance -Simulated -Address 0000:3b:00.3, 0000:5e:00.1, 0000:af:00.1, 0000:af:00.2, 0000:d8:00.0 -Confirm:$false
            Test-VfioMigrationConformance -Simulated -Address 0.0.0100 -PeerAddress 0.0.0101 -Confirm:$false
            Test-VfioMigrationConformance -Simulated -Address 0.0.0101 -Confirm:$false)
        @($results.Device | Select-Object -Unique).Count | Should -Be 8
        @($results | Where-Object Outcome -eq Failed | ForEach-Object { "$($_.Device) $($_.Check): $($_.Reason) | $($_.Observed)" }) | Should -BeNullOrEmpty
        @($results | Where-Object Outcome -eq Passed).Count | Should -BeGreaterThan 300
        @($results.Area | Select-Object -Unique | Sort-Object) | Should -Be @('data', 'dma-logging', 'fsm', 'ndma', 'plumbing', 'resume', 'v1')
        foreach ($d in Get-VfioDevice -Simulated -MigrationCapable) { $d.State | Should -Be Running -Because "$($d.Name) must be left Running" }
    }

    It 'fails <Aimed> on a <Protocol> device playing <Defect>, and nothing unrelated' -ForEach $defects {
        New-Pair $Protocol $Defect
        $results = @(Test-VfioMigrationConformance -Simulated -Address 0000:07:00.0 -Confirm:$false)
        $failed = @($results | Where-Object Outcome -eq Failed)
        $failed.Check | Should -Contain $Aimed
        $evidence = $failed | Where-Object Check -eq $Aimed
        $evidence.Observed | Should -Not -BeNullOrEmpty
        $evidence.Required | Should -Not -BeNullOrEmpty
        $evidence.Source | Should -Not -BeNullOrEmpty
        @($failed | Where-Object { $c = $_.Check; -not ($Allowed | Where-Object { $c.StartsWith($_) }) } | ForEach-Object { "$($_.Check): $($_.Reason)" }) | Should -BeNullOrEmpty
    }

    It 'refuses a defect the device cannot play, saying which and why' {
        { New-VfioSimulatedDevice -Address 0000:07:00.0 -Defect V1SpontaneousStateChange -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidSimulatedDevice,VfioMigration.PowerShell.Commands.NewVfioSimulatedDeviceCommand' -ExpectedMessage '*V1SpontaneousStateChange needs a v1 device*'
    }

    It 'refuses a device another holder has open, touching nothing' {
        $null = Get-VfioDevice -Simulated
        $held = [VfioMigration.PowerShell.Session.ModuleState]::Current.SimulatedHost['0000:5e:00.1'].Open()
        try {
            $null = Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State Stop -Confirm:$false
            $out = @(Test-VfioMigrationConformance -Simulated -Address 0000:5e:00.1 -Confirm:$false -ErrorVariable e -ErrorAction SilentlyContinue)
            $out | Should -BeNullOrEmpty
            $e[0].FullyQualifiedErrorId | Should -BeLike 'DeviceInUse,*'
            "$($e[0])" | Should -BeLike '*open in another process*'
        } finally { $held.Dispose() }
    }

    It 'changes nothing with -WhatIf' {
        Set-VfioDeviceState -Simulated -Address 0000:3b:00.2 -State Stop -Confirm:$false
        @(Test-VfioMigrationConformance -Simulated -Address 0000:3b:00.2 -WhatIf) | Should -BeNullOrEmpty
        (Get-VfioDevice -Simulated -Address 0000:3b:00.2).State | Should -Be Stop
    }

    It 'runs from a device object in the pipeline and only the areas asked for' {
        $r = @(Get-VfioDevice -Simulated -Address 0000:af:00.2 | Test-VfioMigrationConformance -Area v1, ndma -Confirm:$false)
        $r.Count | Should -BeGreaterThan 5
        @($r.Area | Select-Object -Unique | Sort-Object) | Should -Be @('ndma', 'v1')
        ($r | Where-Object Check -eq 'ndma.bit-refused').Outcome | Should -Be Passed
    }

    It 'writes a summary line to the information stream, not the output' {
        $r = @(Test-VfioMigrationConformance -Simulated -Address 0000:5e:00.1 -Confirm:$false -InformationVariable info 6> $null)
        $r | ForEach-Object { $_ | Should -BeOfType ([VfioMigration.ConformanceResult]) }
        "$($info | Where-Object Tags -contains VfioConformanceSummary)" | Should -Match "^0000:5e:00.1: $($r.Count) checks, \d+ passed, 0 failed, \d+ not applicable \(V2, StopCopy\); left Running$"
    }

    It 'shows results in a table that fits the terminal, verdict first' {
        New-Pair V2 StopCopyEndsWithEnomsg
        $text = Test-VfioMigrationConformance -Simulated -Address 0000:07:00.0 -Area data -Confirm:$false | Out-String -Width $Host.UI.RawUI.BufferSize.Width
        $lines = $text -split "`n"
        $lines | Where-Object { $_.TrimEnd().Length -gt $Host.UI.RawUI.BufferSize.Width } | Should -BeNullOrEmpty
        $lines | Should -Contain '   Device: 0000:07:00.0'
        ($lines | Where-Object { $_ -match '^Outcome\s+Number\s+Check\s+Reason' }) | Should -Not -BeNullOrEmpty
        ($lines | Where-Object { $_ -match '^Failed\s+27 data\.stopcopy-eof' }) | Should -Not -BeNullOrEmpty
    }

    It 'shows every check id whole on its row, never cut or wrapped, at the terminal''s width' {
        # The ids are what people grep and filter on: at 80 columns a 31-character Check column broke
        # fsm.unsupported-target.PreCopyP2P and data.precopy-v2.no-reinit-before in the middle.
        $width = $Host.UI.RawUI.BufferSize.Width
        foreach ($address in '0000:5e:00.1', '0000:3b:00.2', '0000:af:00.1', '0000:af:00.2', '0.0.0100') {
            $r = @(Test-VfioMigrationConformance -Simulated -Address $address -Confirm:$false 6> $null)
            $lines = ($r | Out-String -Width $width) -split "`n"
            $lines | Where-Object { $_.TrimEnd().Length -gt $width } | Should -BeNullOrEmpty
            foreach ($x in $r) {
                $row = "^$($x.Outcome)\s+$($x.Number) $([regex]::Escape($x.Check))(\s|$)"
                @($lines -match $row).Count | Should -BeGreaterThan 0 -Because "$address's check $($x.Check) shows whole on its row at $width columns"
            }
        }
    }
}

Describe 'The Pester container (Get-VfioConformanceSuite)' {
    It 'ships in the module folder' {
        Import-Module $script:Manifest -Force
        $suite = Get-VfioConformanceSuite
        $suite.Exists | Should -BeTrue
        $suite.DirectoryName | Should -Be (Split-Path $script:Manifest)
    }

    It 'runs as QA runs it: one It per check, area tags, skipped NotApplicable, failures with evidence, JUnit XML' {
        $xml = Join-Path ([IO.Path]::GetTempPath()) "vfio-conformance-$([guid]::NewGuid()).xml"
        try {
            $r = Invoke-Child @"
New-VfioSimulatedDevice -Address 0000:07:00.0 -Capabilities P2P, PreCopy -Defect StopCopyEndsWithEnomsg -Confirm:`$false | Out-Null
`$config = New-PesterConfiguration
`$config.Run.Container = @(
    New-PesterContainer -Path (Get-VfioConformanceSuite).FullName -Data @{ Address = '0000:5e:00.1'; Simulated = `$true }
    New-PesterContainer -Path (Get-VfioConformanceSuite).FullName -Data @{ Address = '0000:07:00.0'; Simulated = `$true })
`$config.Run.PassThru = `$true
`$config.Output.Verbosity = 'None'
`$config.TestResult.Enabled = `$true
`$config.TestResult.OutputFormat = 'JUnitXml'
`$config.TestResult.OutputPath = '$xml'
`$result = Invoke-Pester -Configuration `$config
"passed `$(`$result.PassedCount) failed `$(`$result.FailedCount) skipped `$(`$result.SkippedCount)"
`$tagged = Invoke-Pester -Container (New-PesterContainer -Path (Get-VfioConformanceSuite).FullName -Data @{ Address = '0000:5e:00.1'; Simulated = `$true }) -TagFilter plumbing -Output None -PassThru
"tagged `$(`$tagged.PassedCount) `$(@(`$tagged.Tests | Where-Object { `$_.Result -eq 'Passed' -and `$_.Tag -notcontains 'plumbing' -and `$_.Name -notlike 'runs on*' }).Count)"
"@
            $r.Errors | Should -BeNullOrEmpty
            $summary = $r.Output | Where-Object { $_ -like 'passed *' }
            $summary | Should -Match '^passed \d+ failed 3 skipped \d+$'
            ($r.Output | Where-Object { $_ -like 'tagged *' }) | Should -Match '^tagged [1-9]\d* 0$'
            [xml] $junit = Get-Content -Raw -LiteralPath $xml
            $cases = @($junit.testsuites.testsuite.testcase)
            $cases.Count | Should -BeGreaterThan 100
            $eof = $cases | Where-Object { $_.name -like '*0000:07:00.0*data.stopcopy-eof*' }
            $eof.failure.message | Should -BeLike '*Observed:*ENOMSG*Required:*Source:*'
            @($cases | Where-Object { $_.name -like '*0000:5e:00.1*' -and $_.failure }).Count | Should -Be 0
            @($cases | Where-Object { $_.name -like '*0000:5e:00.1*data.precopy*' -and $_.name -notlike '*data.precopy-v2*' -and $_.skipped }).Count | Should -Be 2
            # PRECOPY_INFOv2 without PRE_COPY: the refusal is checked, the other four rules do not apply.
            @($cases | Where-Object { $_.name -like '*0000:5e:00.1*data.precopy-v2*' -and $_.skipped }).Count | Should -Be 4
        } finally { Remove-Item -LiteralPath $xml -ErrorAction SilentlyContinue }
    }

    It 'reports a run that did not happen (<Case>) as failed whatever the tag filters, in the result and the JUnit file' -ForEach @(
        @{ Case = 'no such device'; Data = "@{ Address = '0000:99:00.0'; Simulated = `$true }"; Says = 'DeviceNotFound'; Before = '' }
        @{ Case = 'no VFIO on the host'; Data = "@{ Address = '0000:3b:00.2' }"; Says = 'VfioNotAvailable'; Before = '' }
        @{ Case = 'migration support unreadable'; Data = "@{ Address = '0000:5e:00.1'; Simulated = `$true }"; Says = 'plumbing.detect'
           Before = 'Add-VfioSimulatedFault -Address 0000:5e:00.1 -Point FeatureCall -Nth 2 -Errno EIO -Confirm:$false | Out-Null' }  # GET MIGRATION fails
    ) {
        $dir = [IO.Directory]::CreateTempSubdirectory('vfio-conformance-norun-').FullName
        try {
            $null = New-Item -ItemType Directory (Join-Path $dir 'sys'), (Join-Path $dir 'dev')
            $r = Invoke-Child @"
`$env:VFIO_MIGRATION_SYSFS_ROOT = '$dir/sys'; `$env:VFIO_MIGRATION_DEV_ROOT = '$dir/dev'
`$filters = [ordered]@{ none = @{}; readme = @{ Tag = 'fsm', 'data', 'resume' }; exclude = @{ ExcludeTag = 'fsm' }; both = @{ Tag = 'data'; ExcludeTag = 'fsm' }; 'exclude-all' = @{ ExcludeTag = [VfioMigration.ConformanceArea]::All } }
foreach (`$name in `$filters.Keys) {
    `$config = New-PesterConfiguration
    `$config.Run.Container = New-PesterContainer -Path (Get-VfioConformanceSuite).FullName -Data $Data
    $Before  # the fault fires once: armed again for each run
    `$config.Run.PassThru = `$true
    `$config.Output.Verbosity = 'None'
    if (`$filters[`$name].Tag) { `$config.Filter.Tag = `$filters[`$name].Tag }
    if (`$filters[`$name].ExcludeTag) { `$config.Filter.ExcludeTag = `$filters[`$name].ExcludeTag }
    `$config.TestResult.Enabled = `$true
    `$config.TestResult.OutputFormat = 'JUnitXml'
    `$config.TestResult.OutputPath = "$dir/`$name.xml"
    `$result = Invoke-Pester -Configuration `$config
    [xml] `$junit = Get-Content -Raw -LiteralPath "$dir/`$name.xml"
    "`$name `$(`$result.Result) passed `$(`$result.PassedCount) failed `$([int](`$result.FailedCount -gt 0)) junit-failures `$([int]([int]`$junit.testsuites.failures -gt 0)) says `$(`$result.Failed[0].ErrorRecord[0].Exception.Message -match '$Says')"
}
"@
            $r.Output | Should -Be @(
                'none Failed passed 0 failed 1 junit-failures 1 says True'
                'readme Failed passed 0 failed 1 junit-failures 1 says True'
                'exclude Failed passed 0 failed 1 junit-failures 1 says True'
                'both Failed passed 0 failed 1 junit-failures 1 says True'
                'exclude-all Failed passed 0 failed 1 junit-failures 1 says True')
        } finally { Remove-Item -Recurse -Force -LiteralPath $dir }
    }
}
