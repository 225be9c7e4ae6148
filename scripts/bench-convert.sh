#!/usr/bin/env bash
# Times `qconv convert` on the llama-shaped F16 model of ../shared/perf
# (8 layers, n_embd 2048, n_ff 5632, 32/4 heads, vocab 32000: 483 M weights)
# and, when LLAMA_QUANTIZE points at a llama-quantize binary built outside
# this repository, llama-quantize on the same file, interleaved.
#
# usage: scripts/bench-convert.sh [WORKDIR] [RUNS]
# env:   JOBS (default 2), TYPES (default "Q8_0 Q4_0 Q5_1 Q6_K Q4_K_M"),
#        LLAMA_QUANTIZE (optional peer binary)
# Prints one line per run and a median per tool and type: wall seconds,
# user seconds, peak RSS MiB, output bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/qconv-bench}
runs=${2:-3}
jobs=${JOBS:-2}
types=${TYPES:-"Q8_0 Q4_0 Q5_1 Q6_K Q4_K_M"}
mkdir -p "$work"
go build -o "$work/qconv" ./cmd/qconv
model="$work/bench-f16.gguf"
[ -f "$model" ] || "$work/qconv" synth --preset bench "$model"

results="$work/results.tsv"
: >"$results"
measure() { # tool type command...
	local tool=$1 typ=$2
	shift 2
	rm -f "$work/out.gguf"
	sync
	/usr/bin/time -f "%e %U %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" || {
		cat "$work/stderr.txt" >&2
		return 1
	}
	read -r wall user rss <"$work/time.txt"
	local bytes
	bytes=$(stat -c %s "$work/out.gguf")
	printf '%s\t%s\t%s\t%s\t%d\t%s\n' "$tool" "$typ" "$wall" "$user" $((rss / 1024)) "$bytes" | tee -a "$results"
}
printf 'tool\ttype\twall_s\tuser_s\tpeak_rss_mib\toutput_bytes\n'
for ((r = 0; r < runs; r++)); do
	for t in $types; do
		measure qconv "$t" "$work/qconv" convert "$model" --to "$t" -o "$work/out.gguf" -j "$jobs" --quiet --force
		if [ -n "${LLAMA_QUANTIZE:-}" ]; then
			measure llama-quantize "$t" "$LLAMA_QUANTIZE" "$model" "$work/out.gguf" "$t" "$jobs"
		fi
	done
done
echo
echo "medians over $runs runs (wall s, user s, peak RSS MiB, output bytes):"
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
cut -f1,2 "$results" | sort -u | while IFS=$'\t' read -r tool typ; do
	rows=$(awk -F'\t' -v t="$tool" -v y="$typ" '$1 == t && $2 == y' "$results")
	printf '%-15s %-7s %7s %7s %6s %12s\n' "$tool" "$typ" \
		"$(cut -f3 <<<"$rows" | median)" "$(cut -f4 <<<"$rows" | median)" \
		"$(cut -f5 <<<"$rows" | median)" "$(cut -f6 <<<"$rows" | head -1)"
done
