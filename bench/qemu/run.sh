#!/usr/bin/env bash
# A 1 GiB VFIO section in a QEMU stream: listed (walk + XXH128 of every device byte) and written into a template
# (verify walk, feed walk, write, fsync, read-back walk), against dd reading and copying the same file; page cache
# warm for all. Usage: bench/qemu/run.sh [dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-/var/tmp/vfio-qemu-bench}
mkdir -p "$dir"
big="$dir/big.mig" out="$dir/out.mig" copy="$dir/copy.mig"
template="$root/tests/fixtures/qemu/template-8086-4941.mig"
M="$root/out/VfioMigration/VfioMigration.psd1"
trap 'rm -f "$big" "$out" "$copy"' EXIT
python3 "$root/bench/qemu/gen.py" "$big"
dd if="$big" of=/dev/null bs=1M 2>/dev/null
echo "== dd read"; /usr/bin/time -f "%e s wall" dd if="$big" of=/dev/null bs=1M 2>&1 | tail -1
cd "$root"
echo "== list"; dotnet pwsh -NoProfile -NonInteractive -Command "Import-Module '$M'; \$null = Get-VfioStateImage '$template'; \$s = [Diagnostics.Stopwatch]::StartNew(); \$x = Get-VfioStateImage '$big'; 'list {0:N2} s, {1} device bytes' -f \$s.Elapsed.TotalSeconds, \$x.DataBytes"
echo "== dd copy"; /usr/bin/time -f "%e s wall" dd if="$big" of="$copy" bs=1M conv=fsync 2>&1 | tail -1
echo "== export"; dotnet pwsh -NoProfile -NonInteractive -Command "Import-Module '$M'; \$null = Get-VfioStateImage '$template'; \$s = [Diagnostics.Stopwatch]::StartNew(); \$x = Export-VfioQemuStream -Path '$big' -Template '$template' -Destination '$out' -PassThru; 'export {0:N2} s, {1} device bytes' -f \$s.Elapsed.TotalSeconds, \$x.DataBytes"
