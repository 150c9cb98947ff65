# Pester 5: the built module runs Core's precompiled (ReadyToRun) code on the runtime pwsh runs on (issue 17 item
# 19). A process's first save otherwise JIT-compiles several hundred Core methods before it writes a byte; ReadyToRun
# code is used only by the runtime it was compiled against, so build.ps1 publishes Core for .NET 8 and .NET 10 and
# src/VfioMigration.Loader loads the set of the running one. The runtime's own JIT log says what it compiled.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'tools' 'ChildPwsh.psm1') -Force
    $script:Manifest = if ($env:VFIOMIGRATION_MODULE) { $env:VFIOMIGRATION_MODULE } else { Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1' }
    $script:Manifest = (Resolve-Path -LiteralPath $script:Manifest).ProviderPath
    $script:Scratch = [IO.Directory]::CreateTempSubdirectory('vfio-r2r-').FullName
    $script:JitLog = Join-Path $script:Scratch 'jit.txt'
    $image = Join-Path $script:Scratch 'qat.vfiostate'
    # One save of a simulated device in a new pwsh, every method its runtime JIT-compiles written to the log.
    # With DOTNET_JitStdOutFile set, the .NET 10.0.12 runtime itself sometimes aborts while the process exits
    # ("free(): invalid pointer", exit 134, or 139): 3 of 12 such runs of this save here, 0 of 12 without the
    # setting. That crash comes after the output and is the runtime's, so the run is repeated (at most 5 times)
    # until the process exits cleanly; every assertion below is on that clean run.
    for ($try = 1; $try -le 5; $try++) {
        Remove-Item -LiteralPath $script:JitLog, $image -ErrorAction SilentlyContinue
        $script:Run = Invoke-ChildPwsh -Environment @{ DOTNET_JitStdOutFile = $script:JitLog; DOTNET_JitDisasmSummary = '1' } -Command @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:Manifest'
`$saved = Save-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath '$image' -KeepRunning -PassThru
"saved: `$(`$saved.Path -eq '$image')"
"runtime: `$([Environment]::Version.Major)"
"core: `$([VfioMigration.VfioDevice].Assembly.Location)"
"@
        if ($script:Run.ExitCode -notin 134, 139) { break }
    }
    # The Core methods compiled: namespace VfioMigration, but not the cmdlets' nor the loader's.
    $script:CoreJit = @(Get-Content -LiteralPath $script:JitLog -ErrorAction SilentlyContinue |
            Where-Object { $_ -match 'JIT compiled VfioMigration\.(?!PowerShell\.|Loader\.)' })
}

AfterAll {
    Remove-Item -LiteralPath $script:Scratch -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Module ChildPwsh -ErrorAction SilentlyContinue
}

Describe 'The built module''s precompiled code' {
    It 'saves a simulated device in a new pwsh' {
        $script:Run.ExitCode | Should -Be 0 -Because $script:Run.Errors
        $script:Run.Output | Should -Match 'saved: True'
        # The log is there and names Core's methods: a runtime that ignored the setting would pass the next test.
        Test-Path -LiteralPath $script:JitLog | Should -BeTrue
        $script:CoreJit | Should -Not -BeNullOrEmpty -Because 'a hot precompiled method is re-compiled at Tier1, and some are never precompiled'
    }

    It 'loads Core from the set built for the running runtime' {
        $major = [int] ([regex]::Match($script:Run.Output, 'runtime: (\d+)').Groups[1].Value)
        $set = if ($major -ge 10) { 'net10.0' } else { 'net8.0' }
        $script:Run.Output | Should -Match ([regex]::Escape([IO.Path]::Combine((Split-Path -Parent $script:Manifest), 'Dependencies', $set, 'VfioMigration.Core.dll')))
    }

    It 'falls back to the newest set not newer than the running runtime' {
        # A module folder with only the net8.0 set (the build output before publishing; pwsh 7.5 on .NET 9 meets
        # both and takes this one): Core loads from it, its ReadyToRun code unused, and works.
        $copy = Join-Path $script:Scratch 'net8-only'
        Copy-Item -LiteralPath (Split-Path -Parent $script:Manifest) -Destination $copy -Recurse
        Remove-Item -LiteralPath (Join-Path $copy 'Dependencies' 'net10.0') -Recurse -Force
        $run = Invoke-ChildPwsh -Command "`$ErrorActionPreference = 'Stop'; Import-Module '$(Join-Path $copy 'VfioMigration.psd1')'; (Get-VfioDevice -Simulated 0000:5e:00.1).Name; [VfioMigration.VfioDevice].Assembly.Location"
        $run.ExitCode | Should -Be 0 -Because $run.Errors
        $run.Output | Should -Match '0000:5e:00\.1'
        $run.Output | Should -Match ([regex]::Escape([IO.Path]::Combine($copy, 'Dependencies', 'net8.0', 'VfioMigration.Core.dll')))
    }

    It 'JIT-compiles no Core method that ReadyToRun could have precompiled' {
        # Every Core method the save ran came precompiled; what the JIT still compiles is a hot method's Tier1 (or
        # on-stack replacement) code, or what ReadyToRun cannot precompile outside Core's version bubble: a generic
        # method instantiated over another assembly's type (ILogger.Log<TState> over Microsoft.Extensions.Logging's
        # LogValues) and the runtime's instantiating stubs for those.
        $notPrecompiled = $script:CoreJit | Where-Object {
            $_ -notmatch '\[(Instrumented )?Tier1[ ,-]' -and
            $_ -notmatch ':IL_STUB_InstantiatingStub\(' -and
            $_ -notmatch ':[\w`]+\[[^(]*Microsoft\.Extensions\.[^(]*\]\('
        }
        @($notPrecompiled).Count | Should -Be 0 -Because "these Core methods were JIT-compiled, not precompiled:`n$(@($notPrecompiled | Select-Object -First 20) -join "`n")"
    }

    It 'writes the image header without the reflection serializer' {
        # The header and summary are written by Images/StateImageJsonWriter: the reflection serializer's first use
        # JIT-compiled about 240 generic System.Text.Json methods (90-120 ms) inside the save.
        $serializer = @(Get-Content -LiteralPath $script:JitLog | Where-Object { $_ -match 'JIT compiled System\.Text\.Json\.Serialization\.' })
        $serializer.Count | Should -Be 0 -Because "the save compiled these serializer methods:`n$(@($serializer | Select-Object -First 10) -join "`n")"
    }

    It 'starts the checksum warm-up on import, and the warm-up ends by itself' {
        # Images/ChecksumWarmup: a background thread that gets XXH128 optimized before the first save needs it,
        # started by Session/ChecksumWarmupOnImport; it stops once the hash runs optimized, or after 3 s.
        $run = Invoke-ChildPwsh -Command @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:Manifest'
function Get-ThreadName { Get-ChildItem "/proc/`$PID/task" | ForEach-Object { Get-Content -LiteralPath (Join-Path `$_.FullName 'comm') -ErrorAction Ignore } }
"at import: `$(@(Get-ThreadName) -contains 'vfio-xxh-warmup')"
Start-Sleep -Seconds 5
"5 s later: `$(@(Get-ThreadName) -contains 'vfio-xxh-warmup')"
"@
        $run.ExitCode | Should -Be 0 -Because $run.Errors
        $run.Output | Should -Match 'at import: True'
        $run.Output | Should -Match '5 s later: False'
    }
}
