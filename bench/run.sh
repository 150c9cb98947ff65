#!/usr/bin/env bash
# Runs the save/restore benchmark in Release: throughput against dd on the same bytes in the same directory,
# peak memory beyond the device memory, live against stop-copy downtime. Usage: bench/run.sh [dir] [MiB...];
# bench/run.sh <dir> --precopy [runs]: pre-copy rounds, bytes per round and downtime against the dirty rate.
# bench/run.sh <dir> --pairs [MiB] [pairs] [QEMU stream]: save and restore (and listing a QEMU stream's VFIO
# sections) against dd as whole processes, interleaved pairs,
# process start subtracted, min and median (the figures in README). A relative dir is taken from where it is run.
# VFIO_BENCH_HOLD_FREE_PAGES_MS=60000: on a VM whose kernel has the page_reporting module parameter min_free_ms
# (free pages reported to the hypervisor, whose first touch afterwards is slow), keep pages freed within that many
# milliseconds from being reported for the run, so that neither side meets reported pages by chance; the old value
# is put back when the run ends, however it ends. Needs root; without the variable nothing is changed.
set -euo pipefail
dir=${1:-$(mktemp -d "${TMPDIR:-/var/tmp}/vfio-bench.XXXXXX")}
dir=$(realpath -m -- "$dir")
shift || true
cd "$(dirname "$0")"
# Published ReadyToRun like the module (build.ps1 Build; SharpCompress stays IL, Directory.Build.props), so a save
# process pays the runtime start and JIT a module user's first save pays, not a larger one.
out=VfioMigration.Bench/bin/Release/net10.0/linux-x64/publish
dotnet publish VfioMigration.Bench -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o "$out" --nologo -v q >&2
if [[ -n ${VFIO_BENCH_HOLD_FREE_PAGES_MS:-} ]]; then
  setting=/sys/module/page_reporting/parameters/min_free_ms
  if [[ ! -w $setting ]]; then
    echo "bench/run.sh: VFIO_BENCH_HOLD_FREE_PAGES_MS is set, but $setting does not exist or is not writable (root, and a kernel with that module parameter); nothing was run." >&2
    exit 2
  fi
  old=$(cat "$setting")
  restore_setting() { echo "$old" > "$setting"; }
  echo "$VFIO_BENCH_HOLD_FREE_PAGES_MS" > "$setting"
  echo "bench/run.sh: $setting set to $VFIO_BENCH_HOLD_FREE_PAGES_MS for this run (was $old; put back at exit)" >&2
fi
# At exit, however it comes: the setting put back, and a --pairs run's own files removed (its QEMU stream is kept).
cleanup() {
  if declare -F restore_setting >/dev/null; then restore_setting; fi
  if [[ ${1:-} == --pairs ]]; then rm -f -- "$dir/pair.vfiostate" "$dir/pair-dd.bin" "$dir/pair-dd-empty.bin"; fi
}
trap 'cleanup "$@"' EXIT
"$out/VfioMigration.Bench" "$dir" "$@"
