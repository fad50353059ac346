#!/usr/bin/env bash
# Start-up benchmark: what a CI gate pays to scan a small change. Scans a
# directory of 10 small files with the built-in rules, with the compiled
# database cache warm (loaded from disk) and cold (compiled, as on a first
# run or with --no-cache), both measured in this run on this machine.
#
#   bench/startup.sh BUILD/keysift
#
# STARTUP_RUNS (default 20 warm, a quarter of that cold) sets the runs per
# measurement; the figure is the median wall time. Uses hyperfine when it
# is installed (STARTUP_NO_HYPERFINE=1 says not to), else timestamps taken
# around each run. The goal: warm under 50 ms.
set -euo pipefail

keysift=${1:?usage: bench/startup.sh KEYSIFT}
runs=${STARTUP_RUNS:-20}
cold_runs=$(( runs / 4 > 2 ? runs / 4 : 3 ))
work=$(mktemp -d "${TMPDIR:-/tmp}/keysift-startup.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/change"
for i in $(seq 10); do
    printf 'line %d of a small source file\nsetting_%d = "value"\n' \
        "$i" "$i" >"$work/change/file$i.txt"
done
export KEYSIFT_CACHE_DIR=$work/cache

# median_ms RUNS PREPARE COMMAND...: median wall time in milliseconds.
median_ms() {
    local n=$1 prepare=$2 times=() start end
    shift 2
    for _ in $(seq "$n"); do
        eval "$prepare"
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || [ $? -eq 1 ]
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n |
        awk -v n="$n" '{ a[NR] = $1 } END { printf "%.1f", a[int((n + 1) / 2)] / 1000 }'
}

if [ -z "${STARTUP_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null; then
    hf() {   # hf RUNS PREPARE COMMAND: median ms from hyperfine
        local n=$1 prepare=$2
        shift 2
        hyperfine -N -r "$n" -i --prepare "$prepare" --export-json \
            "$work/hf.json" "$*" >/dev/null 2>&1
        awk '/"median"/ { gsub(/[^0-9.e-]/, "", $2); printf "%.1f", $2 * 1000; exit }' \
            "$work/hf.json"
    }
    tool=hyperfine
    "$keysift" scan -q "$work/change" >/dev/null || true   # fills the cache
    warm=$(hf "$runs" "true" "$keysift scan -q $work/change")
    cold=$(hf "$cold_runs" "rm -rf $work/cache" "$keysift scan -q $work/change")
    nocache=$(hf "$cold_runs" "true" "$keysift scan -q --no-cache $work/change")
else
    tool="date +%s%N around each run"
    "$keysift" scan -q "$work/change" >/dev/null || true
    warm=$(median_ms "$runs" true "$keysift" scan -q "$work/change")
    cold=$(median_ms "$cold_runs" "rm -rf $work/cache" "$keysift" scan -q \
        "$work/change")
    nocache=$(median_ms "$cold_runs" true "$keysift" scan -q --no-cache \
        "$work/change")
fi

printf 'start-up, 10 small files, built-in rules (%s, median)\n' "$tool"
printf '%-40s %10s %8s\n' "measurement" "wall" "ratio"
awk -v w="$warm" -v c="$cold" -v n="$nocache" 'BEGIN {
    # Ratios are computed first: in a print statement "(c > 0 ...)"
    # would be read as a redirection to a file named 0.
    rn = 0; rw = 0; goal = "NOT met"
    if (c > 0) { rn = n / c; rw = w / c }
    if (w < 50) goal = "met"
    printf "%-40s %7.1f ms %7.2fx\n", "baseline: cold cache (compile, store)", c, 1
    printf "%-40s %7.1f ms %7.2fx\n", "--no-cache (compile only)", n, rn
    printf "%-40s %7.1f ms %7.2fx\n", "warm cache (load)", w, rw
    printf "goal: warm under 50 ms: %s\n", goal
}'
