#!/usr/bin/env bash
#
# make_store.sh OUTDIR [REPOS] [BIG_MB] - a registry store shaped like a
# backup of a busy registry, for the registry-scale tests: many
# repositories built on a few shared base and runtime layers.
#
# Made under OUTDIR:
#
#   store/      a distribution/registry v2 filesystem store with REPOS
#               repositories (default 50) named team-T/svc-N, each tagged
#               1.0, every tenth also 2.0. Every image is a base layer (one
#               of three), a runtime layer (one of six, BIG_MB megabytes of
#               text each, default 4) and a layer of its own. Secrets: a
#               GitHub token in base 0, an AWS key pair in base 1, a Slack
#               token in runtime 3, an npm token in every fifth image's own
#               layer. Every seventh image's own layer deletes base 0's
#               secret file with a whiteout, so some images ship that
#               token deleted and others not. Every fourth image uses OCI
#               media types and a zstd layer of its own, the rest Docker's.
#   store.txt   "repositories N", "tags N", "images N", "layers N" (distinct
#               layer digests) and "layer_uses N", one per line
#
# Nothing is downloaded and nothing is random: every run makes the same
# bytes. Needs bash, coreutils, tar, gzip, zstd, jq and awk.

set -euo pipefail

die() {
    echo "make_store.sh: $*" >&2
    exit 1
}

[ $# -ge 1 ] && [ $# -le 3 ] || {
    echo "usage: $0 OUTDIR [REPOS] [BIG_MB]" >&2
    exit 2
}
out=${1%/}
repos=${2:-50}
big_mb=${3:-4}
[ ! -e "$out/store" ] || die "$out/store exists; use an empty OUTDIR"
[ "$repos" -ge 6 ] 2>/dev/null || die "REPOS must be 6 or more, so that every shared layer is used"
for tool in tar gzip zstd jq awk sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/make-store.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
export LC_ALL=C

# shellcheck source=tests/images/image_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/image_lib.sh"

v2=$out/store/docker/registry/v2
mkdir -p "$v2/blobs" "$v2/repositories"

# BIG_MB megabytes of changelog-like text, different for each label.
big_text() {
    awk -v label="$1" -v bytes=$(($2 * 1000000)) 'BEGIN {
        n = 0; i = 0
        while (n < bytes) {
            line = sprintf("%s %08d: rebuilt against libfoo %d.%d, " \
                           "fixed issue #%d in the %s module\n", label, i,
                           i % 7, i % 13, (i * 7919) % 100000,
                           (i % 3) ? "network" : "storage")
            printf "%s", line
            n += length(line); i++
        }
    }'
}

# Makes a layer from the tree under $work/tree/NAME; sets LAYER_* vars.
layer_from() {
    local name=$1 how=${2:-gzip} ext=gz

    [ "$how" = zstd ] && ext=zst
    mk_tar "$work/tree/$name" "$work/$name.tar"
    compress "$how" "$work/$name.tar" "$work/$name.tar.$ext"
    LAYER_DIFF=sha256:$(sha "$work/$name.tar")
    LAYER_DIGEST=$(reg_blob "$v2" "$work/$name.tar.$ext")
    LAYER_SIZE=$(size "$work/$name.tar.$ext")
}

declare -a BASE_DIGEST BASE_DIFF BASE_SIZE RT_DIGEST RT_DIFF RT_SIZE

make_shared_layers() {
    local t=$work/tree

    put "$t/base0/etc/os-release" $'NAME="Base Linux"\nVERSION_ID=3\n'
    put "$t/base0/etc/profile.d/ci.sh" "# release automation
export GH_TOKEN=$(crc_token ghp store/base0)
"
    put "$t/base1/etc/os-release" $'NAME="Base Linux"\nVERSION_ID=4\n'
    put "$t/base1/root/.aws/credentials" "[default]
aws_access_key_id = $(aws_key_id store/base1-id)
aws_secret_access_key = $(aws_secret store/base1-secret)
"
    put "$t/base2/etc/os-release" $'NAME="Small Linux"\nVERSION_ID=1\n'
    for b in 0 1 2; do
        layer_from "base$b"
        BASE_DIGEST[b]=$LAYER_DIGEST
        BASE_DIFF[b]=$LAYER_DIFF
        BASE_SIZE[b]=$LAYER_SIZE
    done
    for r in 0 1 2 3 4 5; do
        mkdir -p "$t/rt$r/usr/share/doc/runtime-$r"
        big_text "runtime-$r" "$big_mb" \
            >"$t/rt$r/usr/share/doc/runtime-$r/changelog"
        [ "$r" != 3 ] || put "$t/rt$r/opt/runtime/notify.yaml" "slack:
  bot_token: $(slack_bot_token store/runtime3)
"
        layer_from "rt$r"
        RT_DIGEST[r]=$LAYER_DIGEST
        RT_DIFF[r]=$LAYER_DIFF
        RT_SIZE[r]=$LAYER_SIZE
    done
}

# Makes image I (variant V) of repository REPO; prints its manifest digest.
make_image() {
    local repo=$1 i=$2 v=$3 name=app-$2-$3 b=$(($2 % 3)) r=$(($2 % 6))
    local oci=$(($2 % 4 == 1)) how=gzip mt=$MT_DK_MANIFEST ct=$MT_DK_CONFIG
    local lt=$MT_DK_GZIP own_t=$MT_DK_GZIP cfg m

    put "$work/tree/$name/srv/app/build-info.txt" "repository=$repo
build=$i.$v
"
    [ $((i % 5)) -ne 0 ] || put "$work/tree/$name/srv/app/.npmrc" \
        "//registry.npmjs.org/:_authToken=$(crc_token npm "store/$name")
"
    [ $((i % 7)) -ne 3 ] || put "$work/tree/$name/etc/profile.d/.wh.ci.sh" ""
    if [ "$oci" = 1 ]; then
        how=zstd mt=$MT_OCI_MANIFEST ct=$MT_OCI_CONFIG lt=$MT_OCI_GZIP
        own_t=$MT_OCI_ZSTD
    fi
    layer_from "$name" "$how"
    jq -cn --arg d1 "${BASE_DIFF[b]}" --arg d2 "${RT_DIFF[r]}" \
        --arg d3 "$LAYER_DIFF" --arg repo "$repo" '{
        architecture: "amd64", os: "linux",
        config: {Env: ["PATH=/usr/bin:/bin", "SERVICE=\($repo)"]},
        rootfs: {type: "layers", diff_ids: [$d1, $d2, $d3]},
        history: [{created_by: "ADD base.tar /"},
                  {created_by: "ADD runtime.tar /"},
                  {created_by: "COPY srv/ /srv/"}]}' >"$work/$name.json"
    cfg=$(reg_blob "$v2" "$work/$name.json")
    for d in "${BASE_DIGEST[b]}" "${RT_DIGEST[r]}" "$LAYER_DIGEST" "$cfg"; do
        reg_link "$v2" "$repo" layer "$d"
    done
    jq -cn --arg mt "$mt" --arg ct "$ct" --arg lt "$lt" --arg ot "$own_t" \
        --arg cfg "$cfg" --argjson cs "$(size "$work/$name.json")" \
        --arg l1 "${BASE_DIGEST[b]}" --argjson s1 "${BASE_SIZE[b]}" \
        --arg l2 "${RT_DIGEST[r]}" --argjson s2 "${RT_SIZE[r]}" \
        --arg l3 "$LAYER_DIGEST" --argjson s3 "$LAYER_SIZE" '{
        schemaVersion: 2, mediaType: $mt,
        config: {mediaType: $ct, digest: $cfg, size: $cs},
        layers: [{mediaType: $lt, digest: $l1, size: $s1},
                 {mediaType: $lt, digest: $l2, size: $s2},
                 {mediaType: $ot, digest: $l3, size: $s3}]}' \
        >"$work/$name.manifest.json"
    m=$(reg_blob "$v2" "$work/$name.manifest.json")
    reg_tag "$v2" "$repo" "$v" "$m"
}

make_shared_layers
tags=0
for ((i = 0; i < repos; i++)); do
    repo=team-$((i % 8))/svc-$i
    make_image "$repo" "$i" 1.0
    tags=$((tags + 1))
    if [ $((i % 10)) -eq 0 ]; then
        make_image "$repo" "$i" 2.0
        tags=$((tags + 1))
    fi
done

# Every image has a layer of its own besides the 3 bases and 6 runtimes.
distinct=$((3 + 6 + tags))
cat >"$out/store.txt" <<EOF
repositories $repos
tags $tags
images $tags
layers $distinct
layer_uses $((tags * 3))
EOF
echo "made $out/store: $repos repositories, $tags images, $distinct" \
    "distinct layers ($((6 * big_mb)) MB of runtime text)"
