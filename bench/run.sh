#!/usr/bin/env bash
# Runs the save/restore benchmark in Release: throughput against dd on the same bytes in the same directory,
# peak memory beyond the device memory, live against stop-copy downtime. Usage: bench/run.sh [dir] [MiB...];
# bench/run.sh <dir> --precopy [runs]: pre-copy rounds, bytes per round and downtime against the dirty rate.
# bench/run.sh <dir> --pairs [MiB] [pairs] [QEMU stream]: save and restore (and listing a QEMU stream's VFIO
# sections) against dd as whole processes, interleaved pairs,
# process start subtracted, min and median (the figures in README). Run it under flock /work/wt/long.lock here.
set -euo pipefail
cd "$(dirname "$0")"
dir=${1:-$(mktemp -d "${TMPDIR:-/var/tmp}/vfio-bench.XXXXXX")}
shift || true
# Published ReadyToRun like the module (build.ps1 Build; SharpCompress stays IL, Directory.Build.props), so a save
# process pays the runtime start and JIT a module user's first save pays, not a larger one.
out=VfioMigration.Bench/bin/Release/net10.0/linux-x64/publish
dotnet publish VfioMigration.Bench -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o "$out" --nologo -v q >&2
"$out/VfioMigration.Bench" "$dir" "$@"
