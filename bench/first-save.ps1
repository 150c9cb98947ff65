# A module user's first save against a second one, in real pwsh: each run is a new pwsh that imports the built
# module, makes a simulated device of -MiB, and saves it twice to -Directory (the device left running, so both start
# from Running), timing each Save-VfioDeviceState with Measure-Command. Each save's image replaces the one before it,
# removed just before the save (the previous run's for the first), so both get the pages an image just freed (on a
# VM that reports free pages to its hypervisor, pages free for a while are several times slower to touch: README,
# Benchmarks). One untimed run comes first. -Directory is made if missing. With VFIO_BENCH_HOLD_FREE_PAGES_MS set (as
# for bench/run.sh), pages freed within that many milliseconds are held back from the VM's free page reporting for
# the run (root; /sys/module/page_reporting/parameters/min_free_ms), and the old setting is put back at the end,
# also after Ctrl+C or a failure. After each run, a `dd conv=fsync` of the image's size into the same directory (its previous output removed just
# before). Prints each run and the minimum and median of the three and of first save / dd. Usage (from the
# repository root, after ./build.ps1 Build): dotnet pwsh -NoProfile -NonInteractive -File bench/first-save.ps1 -Directory /var/tmp/b1
param(
    [Parameter(Mandatory)] [string] $Directory,
    [int] $MiB = 1024,
    [int] $Runs = 5,
    [string] $Manifest = (Join-Path $PSScriptRoot '..' 'out' 'VfioMigration' 'VfioMigration.psd1')
)
$ErrorActionPreference = 'Stop'
$Manifest = (Resolve-Path -LiteralPath $Manifest).ProviderPath
$Directory = (New-Item -ItemType Directory -Path $Directory -Force).FullName
$image = Join-Path $Directory 'first-save.vfiostate'
$ddFile = Join-Path $Directory 'first-save-dd.bin'
$exe = [Environment]::ProcessPath
[string[]] $pre = if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @((Join-Path $PSHOME 'pwsh.dll')) } else { @() }
$child = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$Manifest'
`$null = New-VfioSimulatedDevice -Address 0000:ab:00.0 -MemorySize $($MiB)MB
`$times = foreach (`$k in 1, 2) {
    Remove-Item -LiteralPath '$image' -ErrorAction Ignore
    (Measure-Command { Save-VfioDeviceState -Simulated 0000:ab:00.0 -LiteralPath '$image' -KeepRunning }).TotalSeconds
}
`$times -join ' '
"@
$setting = '/sys/module/page_reporting/parameters/min_free_ms'
$oldSetting = $null
if ($env:VFIO_BENCH_HOLD_FREE_PAGES_MS) {
    if (-not (Test-Path -LiteralPath $setting)) { throw "VFIO_BENCH_HOLD_FREE_PAGES_MS is set, but $setting does not exist on this kernel; nothing was run." }
    $oldSetting = (Get-Content -LiteralPath $setting -Raw).Trim()
    Set-Content -LiteralPath $setting -Value $env:VFIO_BENCH_HOLD_FREE_PAGES_MS
    Write-Host "$setting set to $env:VFIO_BENCH_HOLD_FREE_PAGES_MS for this run (was $oldSetting; put back at the end)"
}
try {
    $null = & $exe @pre -NoProfile -NonInteractive -Command $child
    dd if=/dev/zero "of=$ddFile" bs=1M "count=$MiB" conv=fsync status=none
    $results = foreach ($run in 1..$Runs) {
        $line = & $exe @pre -NoProfile -NonInteractive -Command $child
        if ($LASTEXITCODE -ne 0) { throw "run $run failed: $line" }
        $first, $second = [double[]] ($line -split ' ')
        # dd conv=fsync of the image's size into the same directory, its previous output removed just before.
        $bytes = (Get-Item -LiteralPath $image).Length
        Remove-Item -LiteralPath $ddFile -ErrorAction Ignore
        $dd = (Measure-Command { dd if=/dev/zero "of=$ddFile" bs=1M "count=$bytes" iflag=count_bytes conv=fsync status=none }).TotalSeconds
        '{0}: first save {1:0.000} s, second {2:0.000} s, dd {3:0.000} s' -f $run, $first, $second, $dd | Write-Host
        [pscustomobject]@{ First = $first; Second = $second; Dd = $dd }
    }
    function Median([double[]] $v) { $s = $v | Sort-Object; if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
    $firstRatio = foreach ($r in $results) { $r.First / $r.Dd }
    '{0} MiB, {1} runs: first save min {2:0.000} s, median {3:0.000} s; second min {4:0.000} s, median {5:0.000} s; dd min {6:0.000} s, median {7:0.000} s; first save / dd min {8:0.00}, median {9:0.00}' -f $MiB, $Runs,
        ($results.First | Measure-Object -Minimum).Minimum, (Median $results.First), ($results.Second | Measure-Object -Minimum).Minimum, (Median $results.Second),
        ($results.Dd | Measure-Object -Minimum).Minimum, (Median $results.Dd), ($firstRatio | Measure-Object -Minimum).Minimum, (Median $firstRatio)
} finally {
    if ($null -ne $oldSetting) { Set-Content -LiteralPath $setting -Value $oldSetting }
    Remove-Item -LiteralPath $image, $ddFile -ErrorAction Ignore
}
