#!/usr/bin/env bash
# Fuzzes a reader with afl++ through SharpFuzz for a given time: the image reader (StateImageReader + header
# checks, target "image") or the QEMU migration stream reader (QemuStreamReader, target "qemu").
#   tests/fuzz/run.sh [seconds=600] [image|qemu]
# Needs afl++ (apt-get install afl++). Prints executions, crashes and hangs at the end; crashing inputs are kept
# in tests/fuzz/findings/default/crashes and replay with: dotnet tests/fuzz/out/ImageReaderFuzz.dll <target> check <file>.
# afl-fuzz is single-core; run it niced (nice -n 19 tests/fuzz/run.sh 600) on a shared machine.
set -euo pipefail
seconds=${1:-600}
target=${2:-image}
case "$target" in image|qemu) ;; *) echo "fuzz: target must be image or qemu, not '$target'" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
command -v afl-fuzz >/dev/null || { echo "fuzz: afl-fuzz not found; install afl++ (apt-get install afl++)" >&2; exit 2; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [ ! -x .tools/sharpfuzz ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path .tools >/dev/null
fi
rm -rf out corpus findings
dotnet publish ImageReaderFuzz -c Release -o out -v q -nologo
# Seeds first: an instrumented library only runs under the fuzzer.
dotnet out/ImageReaderFuzz.dll "$target" seeds corpus
# Instrument the library under test (only it: the harness and the BCL stay as they are).
.tools/sharpfuzz out/VfioMigration.Core.dll
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
afl-fuzz -V "$seconds" -i corpus -o findings -t 10000 -m none -- dotnet out/ImageReaderFuzz.dll "$target" > findings.log 2>&1 || { tail -n 30 findings.log >&2; exit 1; }
stats=findings/default/fuzzer_stats
get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "fuzz ($target): $(get execs_done) executions in $(get run_time) s, $(get corpus_count) paths, $(get saved_crashes) crashes, $(get saved_hangs) hangs"
