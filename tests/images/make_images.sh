#!/usr/bin/env bash
#
# make_images.sh OUTDIR - container images with planted secrets, assembled
# from generated layers the way image tools lay them out, for keysift's
# image tests and demos.
#
# Made under OUTDIR:
#
#   oci/          an OCI image layout, tagged demo:1.0: four layers (gzip,
#                 gzip, zstd, gzip) and a config, with secrets in files, in
#                 a jar inside a layer, in the config's Env and history, and
#                 two of them deleted by later layers (a whiteout file and an
#                 opaque directory)
#   docker.tar    the same image as a classic `docker save` archive
#   registry/     a registry's filesystem storage: 10 repositories (nested
#                 names among them), 1-2 tags each, one multi-platform
#                 manifest list, all on one base layer that holds a secret
#   legacy/       a registry store holding a Docker schema 1 image (no config
#                 blob; its settings are in the history), as registries
#                 wrote them until 2017
#   bad-digest/   an OCI layout where one image's layer bytes do not hash to
#                 their digest, next to a sound image
#   missing-blob/ a registry store where one manifest names a layer blob that
#                 is not there and one tag links to a missing manifest, next
#                 to sound repositories
#   bad-index/    an OCI layout whose index.json is not JSON (its blobs are
#                 sound, but nothing can reach them)
#   expected.txt  every planted secret: source, image, layer or config field,
#                 path, whether a later layer deleted it, and its value
#
# Nothing is downloaded and nothing is random: tokens are derived from
# sha256 of fixed labels and archives get fixed times and owners, so every
# run makes the same bytes. GitHub and npm tokens carry a valid CRC-32.
#
# Needs: bash, coreutils, findutils, tar, gzip, zstd, jq, awk (mawk or gawk),
# and bsdtar (Debian package libarchive-tools) or zip to make the jar.

set -euo pipefail

usage() {
    echo "usage: $0 OUTDIR" >&2
    exit 2
}

die() {
    echo "make_images.sh: $*" >&2
    exit 1
}

[ $# -eq 1 ] || usage
out=${1%/}
[ -n "$out" ] || out=/

for tool in tar gzip zstd jq awk sha256sum find; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
if command -v bsdtar >/dev/null; then
    zipper=bsdtar
elif command -v zip >/dev/null; then
    zipper=zip
else
    die "bsdtar (package libarchive-tools) or zip is needed to make a jar"
fi

for d in oci registry legacy bad-digest missing-blob bad-index; do
    [ ! -e "$out/$d" ] || die "$out/$d exists; use an empty OUTDIR"
done
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/make-images.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
expected=$work/expected.txt
export LC_ALL=C

# The shared pieces: media types, secrets, layers and blobs.
# shellcheck source=tests/images/image_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/image_lib.sh"

# One line of expected.txt.
expect() {
    local secret=${8//$'\n'/\\n}

    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" \
        "$6" "$7" "$secret" >>"$expected"
}

# ---------------------------------------------------------------------------
# The demo image: four layers and a config
# ---------------------------------------------------------------------------

GH_DEMO=$(crc_token ghp demo/settings)
NPM_OLD=$(crc_token npm demo/npmrc)
NPM_BUILD=$(crc_token npm demo/history)
SLACK_DEMO=$(slack_bot_token demo/env)
AWS_ID=$(aws_key_id demo/aws-id)
AWS_SECRET=$(aws_secret demo/aws-secret)
PEM_OLD=$(pem_rsa_key demo/old-key)

make_demo_layers() {
    local r=$work/demo jar=$work/jar

    put "$r/1/etc/os-release" $'NAME="Demo Linux"\nVERSION_ID=1.0\n'
    put "$r/1/app/README.md" "# demo

A service that reads its settings from config/.
"
    put "$r/1/app/config/settings.env" "APP_ENV=production
LOG_LEVEL=info
GITHUB_TOKEN=$GH_DEMO
"
    put "$r/2/app/secrets/old.key" "$PEM_OLD
"
    chmod 600 "$r/2/app/secrets/old.key"
    put "$r/2/app/tmp/.npmrc" "//registry.npmjs.org/:_authToken=$NPM_OLD
"
    put "$r/2/app/bin/start.sh" $'#!/bin/sh\nexec java -jar /app/lib/app.jar\n'
    chmod 755 "$r/2/app/bin/start.sh"

    put "$jar/META-INF/MANIFEST.MF" "Manifest-Version: 1.0
Main-Class: org.springframework.boot.loader.JarLauncher
"
    put "$jar/BOOT-INF/classes/application.properties" \
        "spring.application.name=demo
server.port=8080
aws.accessKeyId=$AWS_ID
aws.secretAccessKey=$AWS_SECRET
"
    find "$jar" -exec touch -h -d @0 {} +
    mkdir -p "$r/3/app/lib"
    if [ "$zipper" = bsdtar ]; then
        # From a tar, which carries no access times: read from the files,
        # they would make every run's jar different.
        mk_tar "$jar" "$work/jar.tar"
        bsdtar --format zip -cf "$r/3/app/lib/app.jar" "@$work/jar.tar"
    else
        (cd "$jar" && zip -q -X -r "$r/3/app/lib/app.jar" META-INF BOOT-INF)
    fi

    put "$r/4/app/secrets/.wh.old.key" ""
    put "$r/4/app/tmp/.wh..wh..opq" ""
    put "$r/4/app/tmp/ready" ""

    for i in 1 2 3 4; do
        mk_tar "$r/$i" "$work/demo-$i.tar"
    done
    compress gzip "$work/demo-1.tar" "$work/demo-1.tar.gz"
    compress gzip "$work/demo-2.tar" "$work/demo-2.tar.gz"
    compress zstd "$work/demo-3.tar" "$work/demo-3.tar.zst"
    compress gzip "$work/demo-4.tar" "$work/demo-4.tar.gz"
}

# The config: rootfs.diff_ids are the uncompressed layers' digests.
make_demo_config() {
    jq -cn \
        --arg d1 "sha256:$(sha "$work/demo-1.tar")" \
        --arg d2 "sha256:$(sha "$work/demo-2.tar")" \
        --arg d3 "sha256:$(sha "$work/demo-3.tar")" \
        --arg d4 "sha256:$(sha "$work/demo-4.tar")" \
        --arg slack "SLACK_TOKEN=$SLACK_DEMO" \
        --arg npm "/bin/sh -c export NPM_TOKEN=$NPM_BUILD && npm ci" '{
        architecture: "amd64", os: "linux",
        created: "2024-01-01T00:00:00Z",
        config: {
            Env: ["PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "APP_ENV=production", $slack],
            Cmd: ["/app/bin/start.sh"],
            WorkingDir: "/app",
            Labels: {"org.opencontainers.image.title": "demo",
                     "org.opencontainers.image.version": "1.0",
                     "maintainer": "platform@example.com"}
        },
        rootfs: {type: "layers", diff_ids: [$d1, $d2, $d3, $d4]},
        history: [
            {created: "2024-01-01T00:00:00Z",
             created_by: "/bin/sh -c #(nop) ADD file:rootfs.tar in / "},
            {created: "2024-01-01T00:00:00Z",
             created_by: "COPY app/ /app/ # buildkit"},
            {created: "2024-01-01T00:00:00Z", created_by: $npm},
            {created: "2024-01-01T00:00:00Z",
             created_by: ("RUN /bin/sh -c rm -rf /app/secrets/old.key " +
                          "/app/tmp/* && touch /app/tmp/ready # buildkit")},
            {created: "2024-01-01T00:00:00Z", created_by: ("ENV " + $slack),
             empty_layer: true},
            {created: "2024-01-01T00:00:00Z",
             created_by: "CMD [\"/app/bin/start.sh\"]", empty_layer: true}
        ]
    }' >"$work/demo-config.json"
}

# Records the demo image's secrets for one source; LAYER_DIGESTS are the
# four digests as that source names them.
expect_demo() {
    local src=$1 ref=$2 cfg=$3 l1=$4 l2=$5 l3=$6 l4=$7

    expect "$src" "$ref" 0 "$l1" app/config/settings.env github-pat no \
        "$GH_DEMO"
    expect "$src" "$ref" 1 "$l2" app/secrets/old.key private-key \
        "yes (whiteout in layer 3: $l4)" "$PEM_OLD"
    expect "$src" "$ref" 1 "$l2" app/tmp/.npmrc npm-token \
        "yes (opaque app/tmp in layer 3: $l4)" "$NPM_OLD"
    expect "$src" "$ref" 2 "$l3" \
        "app/lib/app.jar / BOOT-INF/classes/application.properties" \
        aws-access-key-id no "$AWS_ID"
    expect "$src" "$ref" 2 "$l3" \
        "app/lib/app.jar / BOOT-INF/classes/application.properties" \
        aws-secret-access-key no "$AWS_SECRET"
    expect "$src" "$ref" config "$cfg" "Env[2]" slack-bot-token no \
        "$SLACK_DEMO"
    expect "$src" "$ref" config "$cfg" "history[4].created_by" \
        slack-bot-token no "$SLACK_DEMO"
    expect "$src" "$ref" config "$cfg" "history[2].created_by" npm-token no \
        "$NPM_BUILD"
}

# (1) the OCI layout.
make_oci() {
    local dir=$out/oci cfg l1 l2 l3 l4 m

    oci_layout "$dir"
    cfg=$(oci_blob "$dir" "$work/demo-config.json")
    l1=$(oci_blob "$dir" "$work/demo-1.tar.gz")
    l2=$(oci_blob "$dir" "$work/demo-2.tar.gz")
    l3=$(oci_blob "$dir" "$work/demo-3.tar.zst")
    l4=$(oci_blob "$dir" "$work/demo-4.tar.gz")
    jq -cn --arg mt "$MT_OCI_MANIFEST" --arg ct "$MT_OCI_CONFIG" \
        --arg gz "$MT_OCI_GZIP" --arg zs "$MT_OCI_ZSTD" \
        --arg cfg "$cfg" --argjson cs "$(size "$work/demo-config.json")" \
        --arg l1 "$l1" --argjson s1 "$(size "$work/demo-1.tar.gz")" \
        --arg l2 "$l2" --argjson s2 "$(size "$work/demo-2.tar.gz")" \
        --arg l3 "$l3" --argjson s3 "$(size "$work/demo-3.tar.zst")" \
        --arg l4 "$l4" --argjson s4 "$(size "$work/demo-4.tar.gz")" '{
        schemaVersion: 2, mediaType: $mt,
        config: {mediaType: $ct, digest: $cfg, size: $cs},
        layers: [{mediaType: $gz, digest: $l1, size: $s1},
                 {mediaType: $gz, digest: $l2, size: $s2},
                 {mediaType: $zs, digest: $l3, size: $s3},
                 {mediaType: $gz, digest: $l4, size: $s4}]
    }' >"$work/demo-manifest.json"
    m=$(oci_blob "$dir" "$work/demo-manifest.json")
    jq -cn --arg it "$MT_OCI_INDEX" --arg mt "$MT_OCI_MANIFEST" \
        --arg m "$m" --argjson ms "$(size "$work/demo-manifest.json")" '{
        schemaVersion: 2, mediaType: $it,
        manifests: [{mediaType: $mt, digest: $m, size: $ms,
                     platform: {architecture: "amd64", os: "linux"},
                     annotations: {"org.opencontainers.image.ref.name":
                                   "demo:1.0"}}]
    }' >"$dir/index.json"
    expect_demo oci "oci:$dir:demo:1.0" "$cfg" "$l1" "$l2" "$l3" "$l4"
    note oci/ "OCI layout, demo:1.0, 4 layers (gzip, gzip, zstd, gzip)," \
        "manifest ${m:0:19}..."
}

# (2) the classic `docker save` archive: uncompressed layer.tar members in
# directories named by made-up v1 IDs, the config named by its digest.
make_docker_save() {
    local dir=$work/save cfg parent="" id i layers=() digests=()

    mkdir -p "$dir"
    cfg=$(sha "$work/demo-config.json")
    cp "$work/demo-config.json" "$dir/$cfg.json"
    for i in 1 2 3 4; do
        id=$(printf '%s %s' "$parent" "$(sha "$work/demo-$i.tar")" |
            sha256sum | cut -c1-64)
        mkdir -p "$dir/$id"
        cp "$work/demo-$i.tar" "$dir/$id/layer.tar"
        printf '1.0' >"$dir/$id/VERSION"
        jq -cn --arg id "$id" --arg parent "$parent" '{id: $id} +
            (if $parent == "" then {} else {parent: $parent} end)' \
            >"$dir/$id/json"
        layers+=("$id/layer.tar")
        digests+=("sha256:$(sha "$work/demo-$i.tar")")
        parent=$id
    done
    jq -cn --arg cfg "$cfg.json" '[{Config: $cfg, RepoTags: ["demo:1.0"],
        Layers: $ARGS.positional}]' --args "${layers[@]}" >"$dir/manifest.json"
    jq -cn --arg id "$parent" '{demo: {"1.0": $id}}' >"$dir/repositories"
    find "$dir" -exec touch -h -d @0 {} +
    (cd "$dir" && find . -mindepth 1 -printf '%P\n' | sort) >"$work/list"
    tar --create --file="$out/docker.tar" --directory="$dir" \
        --no-recursion --files-from="$work/list" --format=gnu --mtime=@0 \
        --owner=0 --group=0 --numeric-owner
    expect_demo docker-archive "docker-archive:$out/docker.tar:demo:1.0" \
        "sha256:$cfg" "${digests[@]}"
    note docker.tar "classic docker save of demo:1.0, image ID" \
        "sha256:${cfg:0:12}..."
}

# ---------------------------------------------------------------------------
# Registry stores
# ---------------------------------------------------------------------------

GH_BASE=$(crc_token ghp registry/base)
SLACK_API=$(slack_bot_token registry/api)

# The base layer every registry image starts from.
make_base_layer() {
    local r=$work/base

    put "$r/etc/os-release" $'NAME="Base Linux"\nVERSION_ID=3\n'
    put "$r/etc/profile.d/ci.sh" "# CI access for release scripts
export GH_TOKEN=$GH_BASE
"
    put "$r/usr/bin/true" $'#!/bin/sh\nexit 0\n'
    mk_tar "$r" "$work/base.tar"
    compress gzip "$work/base.tar" "$work/base.tar.gz"
}

# Makes an image in a store and prints its manifest digest and size.
# Usage: reg_image V2 REPO NAME ARCH [FILE CONTENT]
reg_image() {
    local v2=$1 repo=$2 name=$3 arch=$4 r=$work/own/$3-$4
    local base own cfg m

    put "$r/srv/$name/build-info.txt" "repository=$repo
arch=$arch
"
    [ $# -lt 6 ] || put "$r/$5" "$6"
    mk_tar "$r" "$r.tar"
    compress gzip "$r.tar" "$r.tar.gz"
    jq -cn --arg arch "$arch" --arg repo "$repo" \
        --arg d1 "sha256:$(sha "$work/base.tar")" \
        --arg d2 "sha256:$(sha "$r.tar")" '{
        architecture: $arch, os: "linux",
        config: {Env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                 Labels: {"org.opencontainers.image.source":
                          ("https://git.example.com/" + $repo)}},
        rootfs: {type: "layers", diff_ids: [$d1, $d2]},
        history: [{created_by: "/bin/sh -c #(nop) ADD file:base.tar in / "},
                  {created_by: "COPY srv/ /srv/ # buildkit"}]
    }' >"$r.config.json"
    base=$(reg_blob "$v2" "$work/base.tar.gz")
    own=$(reg_blob "$v2" "$r.tar.gz")
    cfg=$(reg_blob "$v2" "$r.config.json")
    for d in "$base" "$own" "$cfg"; do
        reg_link "$v2" "$repo" layer "$d"
    done
    jq -cn --arg mt "$MT_DK_MANIFEST" --arg ct "$MT_DK_CONFIG" \
        --arg lt "$MT_DK_GZIP" --arg cfg "$cfg" \
        --argjson cs "$(size "$r.config.json")" \
        --arg l1 "$base" --argjson s1 "$(size "$work/base.tar.gz")" \
        --arg l2 "$own" --argjson s2 "$(size "$r.tar.gz")" '{
        schemaVersion: 2, mediaType: $mt,
        config: {mediaType: $ct, digest: $cfg, size: $cs},
        layers: [{mediaType: $lt, digest: $l1, size: $s1},
                 {mediaType: $lt, digest: $l2, size: $s2}]
    }' >"$r.manifest.json"
    m=$(reg_blob "$v2" "$r.manifest.json")
    reg_link "$v2" "$repo" revision "$m"
    echo "$m $(size "$r.manifest.json") $own"
}

# Tags a single-platform image and records its base-layer secret.
reg_tagged() {
    local store=$1 v2=$2 repo=$3 tag=$4 m=$5 src=$6

    reg_tag "$v2" "$repo" "$tag" "$m"
    expect "$src" "registry-store:$store/$repo:$tag" 0 \
        "sha256:$(sha "$work/base.tar.gz")" etc/profile.d/ci.sh github-pat \
        no "$GH_BASE"
}

# (3) a registry store of 10 repositories.
make_registry() {
    local store=$out/registry v2 line m amd as arm bs list img tags
    local -a repos=(library/alpine team/api team/web team/app/worker
                    tools/ci tools/ci/runner etl ml/train proxy)

    v2=$store/docker/registry/v2
    mkdir -p "$v2/blobs" "$v2/repositories"
    for repo in "${repos[@]}"; do
        line=$(reg_image "$v2" "$repo" "${repo//\//-}" amd64)
        read -r m _ _ <<<"$line"
        reg_tagged "$store" "$v2" "$repo" 1.0 "$m" registry
    done
    # Two tags on one manifest, and a second image for team/api with a
    # secret of its own.
    m=$(cat "$v2/repositories/library/alpine/_manifests/tags/1.0/current/link")
    reg_tagged "$store" "$v2" library/alpine latest "$m" registry
    line=$(reg_image "$v2" team/api team-api-2 amd64 srv/api/.env \
        "SLACK_BOT_TOKEN=$SLACK_API
")
    read -r m _ img <<<"$line"
    reg_tagged "$store" "$v2" team/api 2.0 "$m" registry
    expect registry "registry-store:$store/team/api:2.0" 1 "$img" \
        srv/api/.env slack-bot-token no "$SLACK_API"

    # library/nginx:latest is a manifest list of two platforms.
    line=$(reg_image "$v2" library/nginx nginx amd64)
    read -r amd as _ <<<"$line"
    line=$(reg_image "$v2" library/nginx nginx arm64)
    read -r arm bs _ <<<"$line"
    jq -cn --arg lt "$MT_DK_LIST" --arg mt "$MT_DK_MANIFEST" \
        --arg a "$amd" --argjson sa "$as" --arg b "$arm" --argjson sb "$bs" '{
        schemaVersion: 2, mediaType: $lt,
        manifests: [{mediaType: $mt, digest: $a, size: $sa,
                     platform: {architecture: "amd64", os: "linux"}},
                    {mediaType: $mt, digest: $b, size: $sb,
                     platform: {architecture: "arm64", os: "linux",
                                variant: "v8"}}]
    }' >"$work/nginx-list.json"
    list=$(reg_blob "$v2" "$work/nginx-list.json")
    reg_tag "$v2" library/nginx latest "$list"
    for p in linux/amd64 linux/arm64/v8; do
        expect registry "registry-store:$store/library/nginx:latest [$p]" 0 \
            "sha256:$(sha "$work/base.tar.gz")" etc/profile.d/ci.sh \
            github-pat no "$GH_BASE"
    done
    tags=$(find "$v2/repositories" -path '*/_manifests/tags/*/current/link' |
        wc -l)
    note registry/ "registry store: 10 repositories (tools/ci/runner nested" \
        "under the repository tools/ci), $tags tags, 13 images" \
        "(library/nginx:latest is a 2-platform manifest list), one base" \
        "layer shared by all"
}

# ---------------------------------------------------------------------------
# A registry store from before 2017: a Docker schema 1 manifest
# ---------------------------------------------------------------------------

GH_LEGACY=$(crc_token ghp legacy/layer)
NPM_LEGACY=$(crc_token npm legacy/env)

# legacy/app:0.9, two layers and no config blob: its settings live in the
# history's v1Compatibility strings, top step first.
make_legacy() {
    local store=$out/legacy v2 r=$work/legacy l0 l1 m top base

    v2=$store/docker/registry/v2
    mkdir -p "$v2/blobs" "$v2/repositories"
    put "$r/0/etc/os-release" $'NAME="Old Linux"\nVERSION_ID=7\n'
    put "$r/1/opt/legacy/config.ini" "[git]
token = $GH_LEGACY
"
    for i in 0 1; do
        mk_tar "$r/$i" "$r/$i.tar"
        compress gzip "$r/$i.tar" "$r/$i.tar.gz"
    done
    l0=$(reg_blob "$v2" "$r/0.tar.gz")
    l1=$(reg_blob "$v2" "$r/1.tar.gz")
    for d in "$l0" "$l1"; do
        reg_link "$v2" legacy/app layer "$d"
    done
    top=$(jq -cn --arg env "NPM_TOKEN=$NPM_LEGACY" '{
        id: "b2", parent: "a1", os: "linux", architecture: "amd64",
        config: {Env: ["PATH=/usr/bin:/bin", $env], Cmd: ["/opt/legacy/run"]},
        container_config: {Cmd: ["/bin/sh", "-c", ("#(nop) ENV " + $env)]}}')
    base=$(jq -cn '{id: "a1", container_config:
        {Cmd: ["/bin/sh", "-c", "#(nop) ADD file:old-linux in / "]}}')
    jq -n --arg l0 "$l0" --arg l1 "$l1" --arg top "$top" --arg base "$base" '{
        schemaVersion: 1, name: "legacy/app", tag: "0.9",
        architecture: "amd64",
        fsLayers: [{blobSum: $l1}, {blobSum: $l0}],
        history: [{v1Compatibility: $top}, {v1Compatibility: $base}]
    }' >"$r/manifest.json"
    m=$(reg_blob "$v2" "$r/manifest.json")
    reg_tag "$v2" legacy/app 0.9 "$m"
    expect legacy "registry-store:$store/legacy/app:0.9" 1 "$l1" \
        opt/legacy/config.ini github-pat no "$GH_LEGACY"
    expect legacy "registry-store:$store/legacy/app:0.9" config - \
        'Env[1]' npm-token no "$NPM_LEGACY"
    expect legacy "registry-store:$store/legacy/app:0.9" config - \
        'history[1].created_by' npm-token no "$NPM_LEGACY"
    note legacy/ "registry store with one Docker schema 1 image," \
        "legacy/app:0.9 (settings only in its history)"
}

# ---------------------------------------------------------------------------
# Broken sources, each next to sound images where the format allows
# ---------------------------------------------------------------------------

GH_GOOD=$(crc_token ghp broken/good)
GH_TAMPERED=$(crc_token ghp broken/tampered)

# An OCI image of one layer holding FILE=CONTENT, written into layout DIR
# and listed in index.json under REF_NAME. Prints the manifest descriptor.
# With TAMPER, the layer blob's bytes are replaced after it was named.
small_oci_image() {
    local dir=$1 name=$2 file=$3 content=$4 tamper=${5:-} r=$work/small/$2
    local layer cfg m

    put "$r/root/$file" "$content"
    mk_tar "$r/root" "$r/layer.tar"
    compress gzip "$r/layer.tar" "$r/layer.tar.gz"
    jq -cn --arg d "sha256:$(sha "$r/layer.tar")" '{
        architecture: "amd64", os: "linux", config: {},
        rootfs: {type: "layers", diff_ids: [$d]}}' >"$r/config.json"
    layer=$(oci_blob "$dir" "$r/layer.tar.gz")
    cfg=$(oci_blob "$dir" "$r/config.json")
    if [ -n "$tamper" ]; then
        put "$r/root/$file" "$tamper"
        mk_tar "$r/root" "$r/changed.tar"
        compress gzip "$r/changed.tar" "$dir/blobs/sha256/${layer#sha256:}"
    fi
    jq -cn --arg mt "$MT_OCI_MANIFEST" --arg ct "$MT_OCI_CONFIG" \
        --arg gz "$MT_OCI_GZIP" --arg cfg "$cfg" \
        --argjson cs "$(size "$r/config.json")" --arg l "$layer" \
        --argjson ls "$(size "$r/layer.tar.gz")" '{
        schemaVersion: 2, mediaType: $mt,
        config: {mediaType: $ct, digest: $cfg, size: $cs},
        layers: [{mediaType: $gz, digest: $l, size: $ls}]
    }' >"$r/manifest.json"
    m=$(oci_blob "$dir" "$r/manifest.json")
    jq -cn --arg mt "$MT_OCI_MANIFEST" --arg m "$m" --arg n "$name" \
        --argjson s "$(size "$r/manifest.json")" '{mediaType: $mt,
        digest: $m, size: $s,
        annotations: {"org.opencontainers.image.ref.name": $n}}'
    echo "$layer" >"$r/layer-digest"
}

# (4a) a layer whose bytes do not match its digest, beside a sound image.
make_bad_digest() {
    local dir=$out/bad-digest good bad

    oci_layout "$dir"
    good=$(small_oci_image "$dir" good:1.0 app/.env "GITHUB_TOKEN=$GH_GOOD
")
    bad=$(small_oci_image "$dir" tampered:1.0 app/.env "GITHUB_TOKEN=none
" "GITHUB_TOKEN=$GH_TAMPERED
")
    jq -cn --arg it "$MT_OCI_INDEX" --argjson a "$good" --argjson b "$bad" \
        '{schemaVersion: 2, mediaType: $it, manifests: [$a, $b]}' \
        >"$dir/index.json"
    expect bad-digest "oci:$dir:good:1.0" 0 \
        "$(cat "$work/small/good:1.0/layer-digest")" app/.env github-pat no \
        "$GH_GOOD"
    expect bad-digest "oci:$dir:tampered:1.0" 0 \
        "$(cat "$work/small/tampered:1.0/layer-digest")" app/.env \
        "github-pat (layer bytes do not hash to the digest)" no "$GH_TAMPERED"
    note bad-digest/ "OCI layout: good:1.0, and tampered:1.0 whose layer" \
        "does not hash to its digest"
}

# (4b) a manifest naming a missing layer blob, a tag linking to a missing
# manifest, beside sound repositories.
make_missing_blob() {
    local store=$out/missing-blob v2 line m own gone

    v2=$store/docker/registry/v2
    mkdir -p "$v2/blobs" "$v2/repositories"
    for repo in good/one good/two; do
        line=$(reg_image "$v2" "$repo" "${repo//\//-}" amd64)
        read -r m _ _ <<<"$line"
        reg_tagged "$store" "$v2" "$repo" 1.0 "$m" missing-blob
    done
    line=$(reg_image "$v2" broken/app broken-app amd64)
    read -r m _ own <<<"$line"
    rm -r "$v2/blobs/sha256/${own:7:2}/${own#sha256:}"
    reg_tagged "$store" "$v2" broken/app 1.0 "$m" missing-blob
    gone=sha256:$(printf 'never pushed' | sha256sum | cut -c1-64)
    reg_tag "$v2" broken/gone 1.0 "$gone"
    note missing-blob/ "registry store: good/one:1.0, good/two:1.0;" \
        "broken/app:1.0 lacks its layer 1 (${own:0:19}...);" \
        "broken/gone:1.0 links to a missing manifest (${gone:0:19}...)"
}

# (4c) an index.json that is not JSON; the blobs of a sound image remain.
make_bad_index() {
    local dir=$out/bad-index

    oci_layout "$dir"
    small_oci_image "$dir" lost:1.0 app/.env "GITHUB_TOKEN=$GH_GOOD
" >/dev/null
    printf '{"schemaVersion": 2, "manifests": [{"mediaType": "%s",' \
        "$MT_OCI_MANIFEST" >"$dir/index.json"
    note bad-index/ "OCI layout whose index.json is cut short (not JSON);" \
        "nothing in it can be reached"
}

# ---------------------------------------------------------------------------

# Notes what was made under NAME, for the summary printed at the end.
note() {
    local name=$1

    shift
    summary+=("$name"$'\t'"$*")
}

summary=()
cat >"$expected" <<'EOF'
# Planted secrets, one per line, tab-separated: source, image reference,
# layer index (0 = base) or "config", the layer's digest as the source
# names it (or the config's), path in the layer (" / " enters an archive
# inside it) or config field, kind, deleted by a later layer, and the
# secret (newlines written as \n). Images of a registry manifest list
# carry their platform in [].
EOF
make_demo_layers
make_demo_config
make_oci
make_docker_save
make_base_layer
make_registry
make_legacy
make_bad_digest
make_missing_blob
make_bad_index
cp "$expected" "$out/expected.txt"

note expected.txt "$(grep -vc '^#' "$out/expected.txt") planted secrets"
echo "made in $out (the jar with $zipper):"
for entry in "${summary[@]}"; do
    fold -s -w 62 <<<"${entry#*$'\t'}" |
        awk -v name="${entry%%$'\t'*}" '{
            sub(/ +$/, ""); printf "  %-14s%s\n", NR == 1 ? name : "", $0 }'
done
