#!/bin/sh
# Run one libFuzzer campaign and print the figures docs/SECURITY.md records.
#
#   tests/fuzz/campaign.sh BUILD_DIR TARGET SECONDS [OUT_DIR]
#
# BUILD_DIR was configured with --enable-fuzzing (see docs/HACKING.md) and has built
# tests/fuzz/fuzz-TARGET.  The campaign starts from the committed corpus
# tests/fuzz/corpus/TARGET/, runs for SECONDS of wall time, then minimises what it found
# together with the committed corpus into OUT_DIR/min (-merge=1), which can replace the
# committed corpus.  It prints one line:
#
#   TARGET wall=S cpu=S execs=N cov=N ft=N corpus_in=N corpus_min=N crashes=N rc=N
#
# and exits non-zero if the fuzzer found anything (a crash, leak, timeout or OOM leaves
# a crash-*, leak-*, timeout-* or oom-* file in OUT_DIR).  FUZZ_TIMEOUT (seconds, default 10)
# is libFuzzer's -timeout for one input.
set -eu

build=${1:?build dir}
target=${2:?target name, e.g. imap-parser}
secs=${3:?seconds}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
out=${4:-$build/campaign-$target}

bin=$build/tests/fuzz/fuzz-$target
[ -x "$bin" ] || { echo "campaign: $bin not built (configure --enable-fuzzing)" >&2; exit 2; }
corpus=$srcdir/tests/fuzz/corpus/$target
dict=$srcdir/tests/fuzz/fuzz-$target.dict

rm -rf "$out"
mkdir -p "$out/findings" "$out/min" "$out/artifacts"
cp "$corpus"/* "$out/findings/"
in=$(ls "$out/findings" | wc -l)

set -- -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$out/artifacts/"
[ -f "$dict" ] && set -- "$@" -dict="$dict"

rc=0
/usr/bin/time -f '%e %U %S' -o "$out/time" "$bin" "$@" "$out/findings" >"$out/log" 2>&1 || rc=$?

wall=$(awk '{print $1}' "$out/time" | tail -n 1)
cpu=$(awk '{printf "%.0f", $2 + $3}' "$out/time" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -n 1)
cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' "$out/log" | tail -n 1)
ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' "$out/log" | tail -n 1)
crashes=$(ls "$out/artifacts" | wc -l)

"$bin" -merge=1 "$out/min" "$corpus" "$out/findings" >"$out/merge.log" 2>&1
min=$(ls "$out/min" | wc -l)

echo "$target wall=${wall%.*} cpu=$cpu execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus_in=$in corpus_min=$min crashes=$crashes rc=$rc"
[ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]
