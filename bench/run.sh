#!/usr/bin/env bash
# keysift's throughput benchmark: keysift against the limits of this
# machine and against peer scanners, all measured in one run.
#
#   bench/run.sh BUILD_DIR
#
# BUILD_DIR holds keysift and the bench helpers (make bench builds them).
# Environment:
#   BENCH_MB       corpus size in 10^6 bytes, uncompressed (default 1024)
#   BENCH_RUNS     runs per measurement; each figure is the median (3)
#   BENCH_PEER_MB  size of the sample the peer scanners get (192; they
#                  run at a few MB/s, keysift needs enough bytes that its
#                  start-up does not decide its figure)
#   BENCH_DIR      where the corpus is kept between runs
#                  (default BUILD_DIR/bench-corpus; regenerated when the
#                  size or the generator changes)
#   BENCH_JSON     where the results go as JSON (BUILD_DIR/bench.json)
#
# Every figure is MB/s of uncompressed bytes (10^6 bytes per second of
# wall time). Ratios compare rows of this run only.
set -euo pipefail

build=${1:?usage: bench/run.sh BUILD_DIR}
build=$(cd "$build" && pwd)
keysift=$build/keysift
gen=$build/bench/gen_corpus
limit=$build/bench/hs_limit
simd=$build/bench/simd_bench
size_mb=${BENCH_MB:-1024}
runs=${BENCH_RUNS:-3}
peer_mb=${BENCH_PEER_MB:-192}
corpus=${BENCH_DIR:-$build/bench-corpus}
json_out=${BENCH_JSON:-$build/bench.json}
cores=$(nproc)
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "bench: $*" >&2; exit 2; }

for tool in /usr/bin/time gzip igzip zstd bsdtar tar yara rg jq sha256sum \
    hyperfine; do
    command -v "$tool" >/dev/null ||
        die "$tool is missing; 'make deps' installs what the benchmark needs"
done
for f in "$keysift" "$gen" "$limit" "$simd"; do
    [ -x "$f" ] || die "$f is missing; run 'make bench'"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/keysift-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export KEYSIFT_CACHE_DIR=$work/cache     # warm after the first scan

# ---- the corpus ------------------------------------------------------------

tar_det() {     # a reproducible tar of directory $1 (contents) to file $2
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        -C "$1" -cf "$2" .
}

# Stores file $1 as a blob of OCI layout $2; prints its descriptor with
# media type $3.
put_blob() {
    local d
    d=$(sha256sum "$1" | cut -d' ' -f1)
    cp "$1" "$2/blobs/sha256/$d"
    jq -cn --arg t "$3" --arg d "sha256:$d" --argjson n "$(stat -c %s "$1")" \
        '{mediaType: $t, digest: $d, size: $n}'
}

# An OCI image layout from gzip layers: config, manifest, index.
make_image() {
    local dir=$1 oci=application/vnd.oci.image; shift
    local layers=() diffs=()
    mkdir -p "$dir/blobs/sha256"
    printf '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
    for tarfile in "$@"; do
        layers+=("$(put_blob "$tarfile.gz" "$dir" "$oci.layer.v1.tar+gzip")")
        diffs+=("\"sha256:$(sha256sum "$tarfile" | cut -d' ' -f1)\"")
    done
    jq -cn --argjson diffs "[$(IFS=,; echo "${diffs[*]}")]" \
        '{architecture: "amd64", os: "linux",
          config: {Env: ["PATH=/usr/bin"]},
          rootfs: {type: "layers", diff_ids: $diffs}}' > "$work/config.json"
    jq -cn --argjson cfg "$(put_blob "$work/config.json" "$dir" \
                                     "$oci.config.v1+json")" \
        --argjson layers "[$(IFS=,; echo "${layers[*]}")]" \
        --arg t "$oci.manifest.v1+json" \
        '{schemaVersion: 2, mediaType: $t, config: $cfg, layers: $layers}' \
        > "$work/manifest.json"
    jq -cn --argjson m "$(put_blob "$work/manifest.json" "$dir" \
                                   "$oci.manifest.v1+json")" \
        '{schemaVersion: 2, manifests: [$m + {annotations:
            {"org.opencontainers.image.ref.name": "bench"}}]}' \
        > "$dir/index.json"
}

gen_hash=$(sha256sum "$here/gen_corpus.c" | cut -c1-16)
stamp="mb=$size_mb peer=$peer_mb gen=$gen_hash layers=4"
if [ "$(cat "$corpus/stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "bench: generating a ${size_mb} MB corpus in $corpus (kept for" \
         "the next run) ..." >&2
    rm -rf "$corpus"
    mkdir -p "$corpus"
    "$gen" --layers 4 "$size_mb" "$corpus/tree" >/dev/null
    "$gen" --layers 1 --seed 7 "$peer_mb" "$corpus/peer" >/dev/null
    tar_det "$corpus/tree" "$corpus/corpus.tar"
    for l in 0 1 2 3; do tar_det "$corpus/tree/layer$l" "$corpus/layer$l.tar"; done
    # Image layers are compressed the way image builders do (gzip's
    # default level); both gzip jobs run at once.
    gzip -6 -c "$corpus/corpus.tar" > "$corpus/corpus.tar.gz" &
    for l in 0 1 2 3; do gzip -6 -c "$corpus/layer$l.tar" > "$corpus/layer$l.tar.gz"; done
    wait
    zstd -q -3 -T1 -c "$corpus/corpus.tar" > "$corpus/corpus.tar.zst"
    make_image "$corpus/image" "$corpus"/layer[0-3].tar
    rm -f "$corpus"/layer[0-3].tar "$corpus"/layer[0-3].tar.gz
    printf 'aws_access_key_id = AKIAZ3MHQK2WQYXPLBCD\n' > "$corpus/small.txt"
    echo "$stamp" > "$corpus/stamp"
fi
bytes=$(stat -c %s "$corpus/corpus.tar")
peer_bytes=$(du -sb "$corpus/peer" | cut -f1)
tree_bytes=$(du -sb --apparent-size "$corpus/tree" | cut -f1)

# Warms the page cache (every input is read from memory, as the limits
# are) and the compiled-rules cache.
cat "$corpus/corpus.tar" "$corpus/corpus.tar.gz" "$corpus/corpus.tar.zst" \
    > /dev/null
find "$corpus/tree" "$corpus/image" "$corpus/peer" -type f -exec cat {} + \
    > /dev/null
"$keysift" scan -q "$corpus/small.txt" >/dev/null 2>&1 || true

# ---- measuring -------------------------------------------------------------

rows=$work/rows.jsonl
: > "$rows"

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure NAME BYTES KIND BASELINE CMD...: runs CMD $runs times, records
# the median wall time, MB/s and the peak RSS of the worst run.
measure() {
    local name=$1 nbytes=$2 kind=$3 base=$4; shift 4
    local times=() rss=0 t0 t1 m rc
    for _ in $(seq "$runs"); do
        t0=$(date +%s%N)
        rc=0
        /usr/bin/time -o "$work/time" -f '%M' "$@" >/dev/null 2>"$work/err" ||
            rc=$?
        t1=$(date +%s%N)
        # keysift exits 1 when it finds something; 2 is a failure.
        if [ "$rc" -ge 2 ] || { [ "$rc" -eq 1 ] && [ "$kind" != keysift ] &&
                                [ "$kind" != peer ]; }; then
            cat "$work/err" >&2
            die "'$*' failed (exit $rc)"
        fi
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')")
        m=$(tail -1 "$work/time")
        (( m > rss )) && rss=$m
    done
    local secs mbps
    secs=$(printf '%s\n' "${times[@]}" | median)
    mbps=$(awk -v b="$nbytes" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }')
    jq -cn --arg name "$name" --arg kind "$kind" --arg base "$base" \
        --argjson bytes "$nbytes" --argjson seconds "$secs" \
        --argjson mbps "$mbps" --argjson rss_kib "$rss" \
        --arg runs "$(IFS=,; echo "${times[*]}")" \
        '{name: $name, kind: $kind, baseline: $base, bytes: $bytes,
          seconds: $seconds, mbps: $mbps, peak_rss_mib: ($rss_kib / 1024),
          runs: ($runs | split(",") | map(tonumber))}' >> "$rows"
    printf '  %-34s %9s MB/s  %7.1f MiB\n' "$name" "$mbps" \
        "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" >&2
}

# A row whose figure the C driver measured itself (median inside).
limit_row() {
    local name=$1 threads=$2 out secs mbps
    out=$("$limit" --runs "$runs" --threads "$threads" "$corpus/corpus.tar")
    mbps=$(sed 's/.*mbps=\([^ ]*\).*/\1/' <<<"$out")
    secs=$(awk -v b="$bytes" -v r="$mbps" 'BEGIN { print b / r / 1e6 }')
    jq -cn --arg name "$name" --argjson bytes "$bytes" \
        --argjson seconds "$secs" --argjson mbps "$mbps" \
        '{name: $name, kind: "limit", baseline: "", bytes: $bytes,
          seconds: $seconds, mbps: $mbps, peak_rss_mib: null, runs: []}' \
        >> "$rows"
    printf '  %-34s %9s MB/s\n' "$name" "$mbps" >&2
}

echo "bench: limits of this machine ($cores cores)" >&2
measure "read: cat corpus.tar" "$bytes" limit "" cat "$corpus/corpus.tar"
limit_row "hyperscan only -j1" 1
limit_row "hyperscan only -j$cores" "$cores"
measure "gzip -dc" "$bytes" limit "" gzip -dc "$corpus/corpus.tar.gz"
measure "igzip -dc" "$bytes" limit "" igzip -dc "$corpus/corpus.tar.gz"
measure "zstd -dc" "$bytes" limit "" zstd -dc "$corpus/corpus.tar.zst"
measure "bsdtar -xOf corpus.tar.gz" "$bytes" limit "" \
    bsdtar -xOf "$corpus/corpus.tar.gz"

echo "bench: keysift end to end" >&2
for j in 1 "$cores"; do
    measure "keysift tar -j$j" "$bytes" keysift "hyperscan only -j$j" \
        "$keysift" scan -q -j"$j" "$corpus/corpus.tar"
    measure "keysift tar.gz -j$j" "$bytes" keysift "igzip -dc" \
        "$keysift" scan -q -j"$j" "$corpus/corpus.tar.gz"
    measure "keysift tar.zst -j$j" "$bytes" keysift "zstd -dc" \
        "$keysift" scan -q -j"$j" "$corpus/corpus.tar.zst"
    measure "keysift image -j$j" "$bytes" keysift "" \
        "$keysift" scan -q -j"$j" "oci:$corpus/image"
    measure "keysift directory -j$j" "$tree_bytes" keysift "" \
        "$keysift" scan -q -j"$j" "$corpus/tree"
done

echo "bench: peers on a ${peer_mb} MB sample, same patterns" >&2
"$keysift" rules export --format yara -o "$work/rules.yar" 2>"$work/yara.skip"
"$keysift" rules export --format rg -o "$work/rules.rg" 2>"$work/rg.skip"
yara_skipped=$(sed -n 's/.*skipped \([0-9]*\) .*/\1/p' "$work/yara.skip")
rg_skipped=$(sed -n 's/.*skipped \([0-9]*\) .*/\1/p' "$work/rg.skip")
yara_rules=$(grep -c '^rule ' "$work/rules.yar")
rg_rules=$(grep -c . "$work/rules.rg")
measure "keysift sample -j$cores" "$peer_bytes" keysift "" \
    "$keysift" scan -q -j"$cores" "$corpus/peer"
measure "yara sample -p$cores" "$peer_bytes" peer "keysift sample -j$cores" \
    yara -w -r -c -p "$cores" "$work/rules.yar" "$corpus/peer"
measure "ripgrep -f sample" "$peer_bytes" peer "keysift sample -j$cores" \
    rg -a -c --no-messages -j "$cores" -f "$work/rules.rg" "$corpus/peer"

echo "bench: start-up on one small file" >&2
# hyperfine runs keysift without a shell; a cold run starts from an empty
# rules cache, so it compiles every pattern.
startup() {     # prints the median milliseconds
    local out=$work/startup.json
    KEYSIFT_CACHE_DIR=$2 hyperfine -N -i --style none --warmup "$3" \
        --runs "$1" ${4:+--prepare "$4"} --export-json "$out" \
        "$keysift scan -q $corpus/small.txt" >/dev/null 2>&1
    jq '.results[0].median * 1000 | . * 10 | round / 10' "$out"
}
cold_ms=$(startup 5 "$work/cold" 0 "rm -rf $work/cold")
warm_ms=$(startup 30 "$KEYSIFT_CACHE_DIR" 3)
printf '  %-34s %9s ms\n  %-34s %9s ms\n' "start-up, cold cache" "$cold_ms" \
    "start-up, warm cache" "$warm_ms" >&2

echo "bench: vectorised kernels (one core, in memory)" >&2
"$simd" > "$work/simd.json"
jq -r '.[] | "  \(.kernel) \(.path): \(.mbps) MB/s"' "$work/simd.json" >&2

# ---- the report ------------------------------------------------------------

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
jq -s --arg host "$(uname -srm)" --arg cpu "$cpu" \
    --argjson cores "$cores" --argjson runs "$runs" \
    --argjson cold "$cold_ms" --argjson warm "$warm_ms" \
    --argjson yskip "${yara_skipped:-0}" --argjson rskip "${rg_skipped:-0}" \
    --argjson yrules "$yara_rules" --argjson rrules "$rg_rules" \
    --slurpfile simd "$work/simd.json" \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    '{date: $date, machine: {kernel: $host, cpu: $cpu, cores: $cores},
      runs_per_figure: $runs, rows: .,
      startup_ms: {cold_cache: $cold, warm_cache: $warm},
      peers: {yara: {rules: $yrules, skipped: $yskip},
              ripgrep: {patterns: $rrules, skipped: $rskip}},
      kernels: $simd[0]}' "$rows" > "$work/result.json"
"$here/report.sh" "$work/result.json"
cp "$work/result.json" "$json_out"
echo "bench: results written to $json_out" >&2
