#!/usr/bin/env bash
#
# run.sh BINDIR SEEDDIR CORPUSDIR SECONDS [TARGET...] - runs each fuzz
# target (default: all five) for SECONDS, one after the other, and prints
# one line per target: executions, executions per second, the final
# coverage (libFuzzer's cov: edges and ft: features), the corpus size (the
# inputs libFuzzer keeps, seeds included) and the outcome. New inputs are
# kept in CORPUSDIR/TARGET, what a crash left in CORPUSDIR/artifacts, each
# run's log in CORPUSDIR/logs/TARGET.log.
# Exits 1 when any target crashed, leaked, hung or hit undefined
# behaviour.

set -uo pipefail

[ $# -ge 4 ] || {
    echo "usage: $0 BINDIR SEEDDIR CORPUSDIR SECONDS [TARGET...]" >&2
    exit 2
}
bin=$1 seeds=$2 corpus=$3 secs=$4
shift 4
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(reader image store rules matcher)

# Longest input per target: an archive needs room for a few headers and
# blocks, the rest are small documents.
max_len() {
    case $1 in
    reader) echo 65536 ;;
    image | matcher) echo 32768 ;;
    *) echo 16384 ;;
    esac
}

# The last value of libFuzzer's "NAME: N" in a log, or "?".
stat() {
    local v

    v=$(grep -oE "$1 *[0-9]+" "$2" | tail -n 1 | grep -oE '[0-9]+$')
    printf '%s' "${v:-?}"
}

# What went wrong, from the sanitizer's or libFuzzer's own words.
why() {
    local what='ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [^ ]+( [^ ]+)?'

    what+='|runtime error: .{0,60}|deadly signal|fuzz_[a-z]+: .{0,60}'
    grep -m 1 -oE "$what" "$1" || echo "exit status $2"
}

mkdir -p "$corpus/artifacts" "$corpus/logs"
failed=0
printf '%-8s %10s %8s %6s %6s %7s  %s\n' target execs exec/s cov ft corpus \
    result
for t in "${targets[@]}"; do
    log=$corpus/logs/$t.log
    mkdir -p "$corpus/$t"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin/fuzz_$t" -max_total_time="$secs" -max_len="$(max_len "$t")" \
        -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$corpus/artifacts/$t-" \
        "$corpus/$t" "$seeds/$t" >"$log" 2>&1
    rc=$?
    result=ok
    if [ $rc -ne 0 ]; then
        failed=1
        result="FAILED: $(why "$log" "$rc")"
        artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1)
        [ -z "$artifact" ] || result="$result (${artifact#Test unit written to })"
    fi
    printf '%-8s %10s %8s %6s %6s %7s  %s\n' "$t" \
        "$(stat 'stat::number_of_executed_units:' "$log")" \
        "$(stat 'stat::average_exec_per_sec:' "$log")" \
        "$(stat 'cov:' "$log")" "$(stat 'ft:' "$log")" \
        "$(stat 'corp:' "$log")" "$result"
done
[ $failed -eq 0 ] || echo "fuzz: a target failed; its log is in $corpus/logs"
exit $failed
