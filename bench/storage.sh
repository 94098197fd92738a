#!/usr/bin/env bash
# Storage figures for the closing note of the storage issue, measured side by side:
#   1. the whole storage benchmark suite once (append under every policy and batch size, the
#      raw-disk baselines, parallel group commit, warm reads);
#   2. Append/policy=always against RawDisk (write + fdatasync of the same bytes) in interleaved
#      A B B A pairs, so that this machine's drifting disk latency hits both alike, and the ratio
#      of their median records/s per batch size.
# Usage: bench/storage.sh [PAIRS] (default 6). Takes about 5 minutes with the default.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH
pairs=${1:-6}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go test -c -o "$out/storage.test" ./storage/
run() { (cd storage && "$out/storage.test" -test.run '^$' -test.benchmem "$@"); }

echo "== storage benchmark suite (count 1)"
run -test.bench 'Append|RawDisk|ReadWarm' -test.benchtime 1s | grep -E '^Benchmark' | tee "$out/suite.txt"

echo "== always vs raw disk, $pairs interleaved A B B A pairs"
for i in $(seq "$pairs"); do
	printf '  pair %d/%d\r' "$i" "$pairs" >&2
	for which in A B B A; do
		if [ "$which" = A ]; then
			run -test.bench '^BenchmarkAppend$/policy=always/' -test.benchtime 0.5s >>"$out/always.txt"
		else
			run -test.bench '^BenchmarkRawDisk$/' -test.benchtime 0.5s >>"$out/raw.txt"
		fi
	done
done
echo >&2
# Median records/s per batch size, then the ratio.
median() { # file, batch size
	grep -E "batch=$2(-[0-9]+)? " "$1" | awk '{for (i = 1; i < NF; i++) if ($(i+1) == "records/s") print $i}' |
		sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
printf '%-8s %16s %16s %8s\n' batch 'always rec/s' 'raw rec/s' ratio
for n in 1 100 1000; do
	a=$(median "$out/always.txt" "$n")
	r=$(median "$out/raw.txt" "$n")
	awk -v n="$n" -v a="$a" -v r="$r" 'BEGIN {printf "%-8s %16.0f %16.0f %8.2f\n", n, a, r, a / r}'
done
