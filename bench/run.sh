#!/usr/bin/env bash
# Throughput benchmark: keysift against the cost of merely reading and
# decompressing the same bytes, all measured in this run on this machine.
#
#   bench/run.sh BUILD/keysift [MAKE_FIXTURES]
#
# BENCH_MB (default 512) sets the corpus size in megabytes, BENCH_RUNS
# (default 3) the runs per measurement; each figure is the median.
# Prints MB/s of uncompressed bytes, the ratio to the baseline of the same
# row, and peak resident memory.
set -euo pipefail

keysift=${1:?usage: bench/run.sh KEYSIFT [MAKE_FIXTURES]}
fixgen=${2:-$(dirname "$keysift")/make_fixtures}
size_mb=${BENCH_MB:-512}
runs=${BENCH_RUNS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/keysift-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

for tool in /usr/bin/time gzip zstd tar; do
    command -v "$tool" >/dev/null || {
        echo "bench: $tool is missing (apt-get install time gzip zstd tar)" >&2
        exit 2
    }
done

echo "generating a ${size_mb} MB corpus in $work ..." >&2
mkdir -p "$work/tree/data"
"$fixgen" --big-text $((size_mb * 1024 * 1024)) --token-at-end \
    > "$work/tree/data/corpus.txt" 2>/dev/null
tar -C "$work/tree" -cf "$work/layer.tar" data
gzip -1 -c "$work/layer.tar" > "$work/layer.tar.gz"
zstd -q -3 -c "$work/layer.tar" > "$work/layer.tar.zst"
bytes=$(stat -c %s "$work/tree/data/corpus.txt")

# Runs a command $runs times; prints "median_seconds peak_rss_kib".
measure() {
    local times=() rss=0 out
    for _ in $(seq "$runs"); do
        out=$( { /usr/bin/time -f '%e %M' "$@" >/dev/null 2>/dev/null; } \
               2>&1 | tail -1)
        times+=("${out% *}")
        (( ${out#* } > rss )) && rss=${out#* }
    done
    printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n |
                        sed -n "$(( (runs + 1) / 2 ))p")" "$rss"
}

mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", s > 0 ? b / s / 1e6 : 0 }'; }

row() {
    local label=$1 base=$2; shift 2
    read -r secs rss < <(measure "$@")
    local rate; rate=$(mbps "$secs")
    awk -v l="$label" -v r="$rate" -v b="$base" -v m="$rss" 'BEGIN {
        printf "%-34s %8s MB/s %7.2fx %8.1f MiB\n", l, r,
               b > 0 ? r / b : 0, m / 1024 }'
    last_rate=$rate
}

cores=$(nproc)
printf '%-34s %13s %8s %12s\n' "measurement" "throughput" "ratio" "peak RSS"
row "baseline: cat (read only)" 0 cat "$work/tree/data/corpus.txt"; read_rate=$last_rate
row "keysift -j1 file" "$read_rate" "$keysift" scan -q -j1 "$work/tree"
row "keysift -j$cores file" "$read_rate" "$keysift" scan -q "$work/tree"
row "baseline: cat layer.tar" 0 cat "$work/layer.tar"; tar_rate=$last_rate
row "keysift layer.tar" "$tar_rate" "$keysift" scan -q "$work/layer.tar"
row "baseline: gzip -dc" 0 gzip -dc "$work/layer.tar.gz"; gz_rate=$last_rate
row "keysift layer.tar.gz" "$gz_rate" "$keysift" scan -q "$work/layer.tar.gz"
row "baseline: zstd -dc" 0 zstd -dc "$work/layer.tar.zst"; zst_rate=$last_rate
row "keysift layer.tar.zst" "$zst_rate" "$keysift" scan -q "$work/layer.tar.zst"
echo "ratio: keysift's rate over the baseline row above it (1.00x = as fast as" \
     "only reading or decompressing)."
