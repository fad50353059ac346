#!/usr/bin/env bash
#
# make_seeds.sh OUTDIR - the seed corpora of keysift's fuzz targets, one
# directory per target under OUTDIR:
#
#   reader/   plain text with tokens; a small tree as tar (ustar, pax, GNU
#             with a sparse file, v7), tar.gz, tar.zst, tar.xz, tar.bz2,
#             tar.lz4, zip (stored and deflated), a tar.gz holding a tar.gz
#             and a jar, gzip and zstd streams of plain text
#   image/    bundles (fuzz_common.h) of OCI layouts (one image, a
#             multi-platform index, Docker media types, schema 1), `docker
#             save` archives (classic with a linked layer, and the newer
#             form with an OCI layout inside) and an OCI archive
#   store/    bundles of registry stores: nested repositories, tags,
#             an index, schema 1, a missing blob, a linked tag
#   rules/    every built-in rule alone in a file of its own, and rule
#             files that use each feature or are wrong in some way
#   matcher/  the built-in rules' examples and negative examples, under
#             each entry name the target offers, with several chunk sizes
#
# Every run makes the same bytes; nothing is downloaded. Needs bash,
# coreutils, awk, GNU tar, bsdtar and python3; gzip and zstd add seeds
# when present.

set -euo pipefail

[ $# -eq 1 ] || {
    echo "usage: $0 OUTDIR" >&2
    exit 2
}
mkdir -p "$1"
out=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
patterns=$here/../../patterns
command -v bsdtar >/dev/null || {
    echo "make_seeds.sh: bsdtar is needed" >&2
    exit 1
}
work=$(mktemp -d "${TMPDIR:-/tmp}/make-seeds.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
export LC_ALL=C TZ=UTC
mkdir -p "$out"/{reader,image,store,rules,matcher}

have() { command -v "$1" >/dev/null; }

sha() { sha256sum "$1" | cut -c1-64; }

size() { wc -c <"$1" | tr -d ' '; }

# A zip of DIR's contents, the same bytes on every run (bsdtar would store
# each file's change time): zipball DIR OUT [stored].
zipball() {
    python3 - "$@" <<'PY'
import os, sys, zipfile
top, out = sys.argv[1], sys.argv[2]
how = zipfile.ZIP_STORED if sys.argv[3:] == ["stored"] else zipfile.ZIP_DEFLATED
with zipfile.ZipFile(out, "w", how) as z:
    for d, dirs, files in sorted(os.walk(top)):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(d, f)
            info = zipfile.ZipInfo(os.path.relpath(path, top), (2023, 11, 14, 22, 13, 20))
            info.compress_type = how
            with open(path, "rb") as src:
                z.writestr(info, src.read())
PY
}

# A tar of DIR's contents, the same bytes on every run: tarball FORMAT DIR
# OUT [BSDTAR-OPTION...]. pax headers would hold change times: GNU tar
# writes that format, without them.
tarball() {
    local format=$1 dir=$2 dest=$3

    shift 3
    find "$dir" -exec touch -h -d @1700000000 {} +
    if [ "$format" = pax ]; then
        tar --format=posix --sort=name --mtime=@1700000000 --owner=0 \
            --group=0 --numeric-owner -C "$dir" -cf "$dest" \
            --pax-option=delete=atime,delete=ctime,exthdr.name=%d/PaxHeaders/%f .
        return
    fi
    (cd "$dir" && find . -mindepth 1 | sort |
        bsdtar --format "$format" "$@" --uid 0 --gid 0 --uname root \
            --gname root -cf "$dest" -n -T -)
}

# ---------------------------------------------------------------------------
# Reader: archives and streams
# ---------------------------------------------------------------------------

tree=$work/tree
mkdir -p "$tree/app" "$tree/home/user/.ssh" "$tree/docs"
printf 'API_TOKEN=tok_0123456789abcdef\nAWS_ACCESS_KEY_ID=AKIAQ3EGRALMF5TWXJ7N\n' \
    >"$tree/app/config.txt"
printf 'PASSWORD=Xk9mQ2vL8pWz4rT\n' >"$tree/app/.env"
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END %s-----\n' \
    b3BlbnNzaC1rZXktdjEA 'OPENSSH PRIVATE KEY' >"$tree/home/user/.ssh/id_rsa"
# Over the target's 4 KiB block_max, so that it is streamed.
awk 'BEGIN {
    for (i = 0; i < 120; i++) printf "line %03d of text before the token\n", i
    print "token = tok_fedcba9876543210"
    for (i = 0; i < 20; i++) printf "line %03d after it\n", i
}' >"$tree/docs/notes.txt"
: >"$tree/docs/empty"
cp "$tree/app/config.txt" "$out/reader/plain.txt"

r=$out/reader
tarball ustar "$tree" "$r/tree.tar"
tarball pax "$tree" "$r/tree.pax.tar"
tarball v7 "$tree" "$r/tree.v7.tar"
tarball ustar "$tree" "$r/tree.tar.gz" --gzip --options gzip:!timestamp
tarball ustar "$tree" "$r/tree.tar.bz2" --bzip2 || rm -f "$r/tree.tar.bz2"
tarball ustar "$tree" "$r/tree.tar.xz" --xz || rm -f "$r/tree.tar.xz"
tarball ustar "$tree" "$r/tree.tar.lz4" --lz4 || rm -f "$r/tree.tar.lz4"
zipball "$tree" "$r/tree.zip" stored
zipball "$tree" "$r/tree.deflate.zip"
if have zstd; then
    zstd -q -c "$r/tree.tar" >"$r/tree.tar.zst"
    zstd -q -c "$r/plain.txt" >"$r/plain.txt.zst"
fi
if have gzip; then
    gzip -n -c "$r/plain.txt" >"$r/plain.txt.gz"
fi
# A sparse member: holes read back as zeros.
if tar --version 2>/dev/null | grep -q GNU; then
    mkdir -p "$work/sparse"
    printf 'tok_00112233445566ff\n' |
        dd of="$work/sparse/holes" bs=1 seek=6000 conv=notrunc 2>/dev/null
    truncate -s 9000 "$work/sparse/holes"
    tar --sparse --format=gnu --mtime=@1700000000 --owner=0 --group=0 \
        -C "$work/sparse" -cf "$r/sparse.gnu.tar" holes
fi
# Archives inside an archive.
mkdir -p "$work/nest/lib"
tarball ustar "$tree" "$work/nest/inner.tar.gz" --gzip --options gzip:!timestamp
zipball "$tree" "$work/nest/lib/app.jar"
tarball ustar "$work/nest" "$r/nested.tar.gz" --gzip --options gzip:!timestamp

# ---------------------------------------------------------------------------
# Bundles: a directory as fuzz_common.h's text form, after a flags byte
# ---------------------------------------------------------------------------

# bundle DIR FLAGS > file
bundle() {
    local dir=$1 p

    printf "\\x$(printf %02x "$2")"
    (cd "$dir" && find . -mindepth 1 \( -type f -o -type l \) | sort) |
        while read -r p; do
            p=${p#./}
            if [ -L "$dir/$p" ]; then
                printf '%s -> %s\n' "$p" "$(readlink "$dir/$p")"
            else
                printf '%s\n' "$p"
                cat "$dir/$p"
            fi
            printf '\n%%%%\n'
        done
}

MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_GZIP=application/vnd.oci.image.layer.v1.tar+gzip
MT_OCI_TAR=application/vnd.oci.image.layer.v1.tar
MT_DK_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DK_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DK_CONFIG=application/vnd.docker.container.image.v1+json
MT_DK_GZIP=application/vnd.docker.image.rootfs.diff.tar.gzip
MT_DK_V1=application/vnd.docker.distribution.manifest.v1+prettyjws

# Two layers: the first holds secrets, the second whites one out.
mkdir -p "$work/l1/app" "$work/l2/app" "$work/l2/opt"
cp "$tree/app/config.txt" "$tree/app/.env" "$work/l1/app/"
printf 'tok_0a1b2c3d4e5f6071\n' >"$work/l1/app/secret.txt"
: >"$work/l2/app/.wh.secret.txt"
: >"$work/l2/opt/.wh..wh..opq"
tarball ustar "$work/l1" "$work/layer1.tar"
tarball ustar "$work/l1" "$work/layer1.tar.gz" --gzip --options gzip:!timestamp
tarball ustar "$work/l2" "$work/layer2.tar"

# blob DIR FILE: stores FILE under DIR by its digest; prints the digest.
blob() {
    local hex

    hex=$(sha "$2")
    mkdir -p "$1"
    cp "$2" "$1/$hex"
    printf 'sha256:%s' "$hex"
}

# desc MEDIATYPE FILE [EXTRA]: a descriptor of FILE.
desc() {
    printf '{"mediaType":"%s","digest":"sha256:%s","size":%s%s}' \
        "$1" "$(sha "$2")" "$(size "$2")" "${3:-}"
}

# config OS ARCH > file: a config whose fields hold secrets.
config() {
    local f='{"architecture":"%s","os":"%s","config":{'

    f+='"Env":["PATH=/usr/bin","API_TOKEN=tok_13579bdf02468ace"],'
    f+='"Cmd":["sh","-c","echo tok_2468ace013579bdf"],'
    f+='"Entrypoint":["/entry"],"Labels":{"key":"AKIAQ3EGRALMF5TWXJ7N"}},'
    f+='"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]},'
    f+='"history":[{"created_by":"RUN echo PASSWORD=Xk9mQ2vL8pWz4rT > /app/.env"},'
    f+='{"created_by":"RUN rm /app/secret.txt","empty_layer":true}]}'
    # shellcheck disable=SC2059
    printf "$f" "$2" "$1" "$(sha "$work/layer1.tar")" \
        "$(sha "$work/layer2.tar")"
}

# manifest TYPE CONFIGTYPE LAYERTYPE CONFIG > file
manifest() {
    printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s]}' \
        "$1" "$(desc "$2" "$4")" "$(desc "$3" "$work/layer1.tar.gz")" \
        "$(desc "${3%+gzip}" "$work/layer2.tar")"
}

# oci_layout DIR CONFIGTYPE MANIFESTTYPE LAYERTYPE: a one-image layout.
oci_layout() {
    local dir=$1 blobs=$1/blobs/sha256

    mkdir -p "$blobs"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
    config linux amd64 >"$work/config.json"
    blob "$blobs" "$work/config.json" >/dev/null
    blob "$blobs" "$work/layer1.tar.gz" >/dev/null
    blob "$blobs" "$work/layer2.tar" >/dev/null
    manifest "$3" "$2" "$4" "$work/config.json" >"$work/manifest.json"
    blob "$blobs" "$work/manifest.json" >/dev/null
    printf '{"schemaVersion":2,"manifests":[%s]}' \
        "$(desc "$3" "$work/manifest.json" \
            ',"annotations":{"org.opencontainers.image.ref.name":"latest"}')" \
        >"$dir/index.json"
}

i=$out/image
oci_layout "$work/oci" "$MT_OCI_CONFIG" "$MT_OCI_MANIFEST" "$MT_OCI_GZIP"
bundle "$work/oci" 0 >"$i/oci"
bundle "$work/oci" $((0x18)) >"$i/oci-tag"
bundle "$work/oci" $((0x10 | 0x08 | 0x04)) >"$i/oci-named-platform"
bundle "$work/oci" $((0x01)) >"$i/oci-archive"
bundle "$work/oci" $((0x01 | 0x02)) >"$i/oci-archive-gzip"

# A multi-platform index, nested under the top one, with an attestation.
multi=$work/multi
cp -r "$work/oci" "$multi"
config linux arm64 >"$work/config-arm.json"
blob "$multi/blobs/sha256" "$work/config-arm.json" >/dev/null
manifest "$MT_OCI_MANIFEST" "$MT_OCI_CONFIG" "$MT_OCI_GZIP" \
    "$work/config-arm.json" >"$work/manifest-arm.json"
blob "$multi/blobs/sha256" "$work/manifest-arm.json" >/dev/null
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s,%s]}' \
    "$MT_OCI_INDEX" \
    "$(desc "$MT_OCI_MANIFEST" "$work/manifest.json" \
        ',"platform":{"os":"linux","architecture":"amd64"}')" \
    "$(desc "$MT_OCI_MANIFEST" "$work/manifest-arm.json" \
        ',"platform":{"os":"linux","architecture":"arm64","variant":"v8"}')" \
    "$(desc "$MT_OCI_MANIFEST" "$work/config.json" \
        ',"platform":{"os":"unknown","architecture":"unknown"}')" \
    >"$work/index-inner.json"
blob "$multi/blobs/sha256" "$work/index-inner.json" >/dev/null
printf '{"schemaVersion":2,"manifests":[%s]}' \
    "$(desc "$MT_OCI_INDEX" "$work/index-inner.json" \
        ',"annotations":{"org.opencontainers.image.ref.name":"latest"}')" \
    >"$multi/index.json"
bundle "$multi" 0 >"$i/oci-multi"
bundle "$multi" $((0x04)) >"$i/oci-multi-platform"

# Docker schema 1: no config blob, history in v1Compatibility strings.
schema1() {
    local f='{"schemaVersion":1,"mediaType":"%s","name":"team/app",'

    f+='"tag":"1.0","architecture":"amd64","fsLayers":['
    f+='{"blobSum":"sha256:%s"},{"blobSum":"sha256:%s"}],"history":['
    f+='{"v1Compatibility":"{\\"os\\":\\"linux\\",\\"config\\":{\\"Env\\":'
    f+='[\\"API_TOKEN=tok_0f1e2d3c4b5a6978\\"]},\\"container_config\\":'
    f+='{\\"Cmd\\":[\\"/bin/sh\\",\\"-c\\",\\"rm /app/secret.txt\\"]}}"},'
    f+='{"v1Compatibility":"{\\"container_config\\":{\\"Cmd\\":'
    f+='[\\"/bin/sh\\",\\"-c\\",\\"echo PASSWORD=Xk9mQ2vL8pWz4rT\\"]}}"}]}'
    # shellcheck disable=SC2059
    printf "$f" "$MT_DK_V1" "$(sha "$work/layer2.tar")" \
        "$(sha "$work/layer1.tar.gz")"
}
s1=$work/schema1
mkdir -p "$s1/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' >"$s1/oci-layout"
schema1 >"$work/schema1.json"
blob "$s1/blobs/sha256" "$work/schema1.json" >/dev/null
blob "$s1/blobs/sha256" "$work/layer1.tar.gz" >/dev/null
blob "$s1/blobs/sha256" "$work/layer2.tar" >/dev/null
printf '{"schemaVersion":2,"manifests":[%s]}' \
    "$(desc "$MT_DK_V1" "$work/schema1.json")" >"$s1/index.json"
bundle "$s1" 0 >"$i/oci-schema1"

# Classic `docker save`: <id>/layer.tar, the config as <hex>.json, and a
# second image sharing the first layer through a link.
ds=$work/docker-save
id1=$(printf 'layer one' | sha256sum | cut -c1-64)
id2=$(printf 'layer two' | sha256sum | cut -c1-64)
mkdir -p "$ds/$id1" "$ds/$id2"
cp "$work/layer1.tar" "$ds/$id1/layer.tar"
cp "$work/layer2.tar" "$ds/$id2/layer.tar"
printf '1.0' >"$ds/$id1/VERSION"
chex=$(sha "$work/config.json")
cp "$work/config.json" "$ds/$chex.json"
mkdir -p "$ds/shared"
ln -s "../$id1/layer.tar" "$ds/shared/layer.tar"
f='[{"Config":"%s.json","RepoTags":["team/app:latest","team/app:1.0"],'
f+='"Layers":["%s/layer.tar","%s/layer.tar"]},'
f+='{"Config":"%s.json","RepoTags":null,"Layers":["shared/layer.tar"],'
f+='"LayerSources":{"sha256:%s":{"mediaType":'
f+='"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"}}}]'
# shellcheck disable=SC2059
printf "$f" "$chex" "$id1" "$id2" "$chex" "$id2" >"$ds/manifest.json"
printf '{"team/app":{"latest":"%s"}}' "$id2" >"$ds/repositories"
bundle "$ds" $((0x01)) >"$i/docker-save"
bundle "$ds" $((0x01 | 0x10 | 0x08)) >"$i/docker-save-tag"
bundle "$ds" $((0x01 | 0x02 | 0x04)) >"$i/docker-save-gzip"

# The newer form: manifest.json beside an OCI layout.
dn=$work/docker-new
cp -r "$work/oci" "$dn"
f='[{"Config":"blobs/sha256/%s","RepoTags":["team/app:latest"],'
f+='"Layers":["blobs/sha256/%s","blobs/sha256/%s"]}]'
# shellcheck disable=SC2059
printf "$f" "$chex" "$(sha "$work/layer1.tar.gz")" "$(sha "$work/layer2.tar")" \
    >"$dn/manifest.json"
bundle "$dn" $((0x01)) >"$i/docker-save-oci"

# Docker's media types (last: it rewrites the manifest the others share).
oci_layout "$work/docker-types" "$MT_DK_CONFIG" "$MT_DK_MANIFEST" "$MT_DK_GZIP"
bundle "$work/docker-types" 0 >"$i/oci-docker-types"

# ---------------------------------------------------------------------------
# Registry stores
# ---------------------------------------------------------------------------

# store_blob V2 FILE: a blob where a registry keeps it.
store_blob() {
    local hex

    hex=$(sha "$2")
    mkdir -p "$1/blobs/sha256/${hex:0:2}/$hex"
    cp "$2" "$1/blobs/sha256/${hex:0:2}/$hex/data"
}

# store_tag V2 REPO TAG FILE: tags the manifest FILE in REPO.
store_tag() {
    local repo=$1/repositories/$2 hex

    hex=$(sha "$4")
    store_blob "$1" "$4"
    mkdir -p "$repo/_manifests/tags/$3/current" \
        "$repo/_manifests/revisions/sha256/$hex"
    printf 'sha256:%s' "$hex" >"$repo/_manifests/tags/$3/current/link"
    printf 'sha256:%s' "$hex" >"$repo/_manifests/revisions/sha256/$hex/link"
    for layer in "$work/layer1.tar.gz" "$work/layer2.tar"; do
        mkdir -p "$repo/_layers/sha256/$(sha "$layer")"
        printf 'sha256:%s' "$(sha "$layer")" \
            >"$repo/_layers/sha256/$(sha "$layer")/link"
    done
}

st=$out/store
v2=$work/store/docker/registry/v2
for f in config.json config-arm.json layer1.tar.gz layer2.tar \
    manifest-arm.json; do
    store_blob "$v2" "$work/$f"
done
store_tag "$v2" team/app 1.0 "$work/manifest.json"
bundle "$work/store" 0 >"$st/one"
bundle "$work/store" $((0x01 | 0x02 | 0x04)) >"$st/named-tag"
bundle "$work/store" $((0x01 | 0x10)) >"$st/list-only"
store_tag "$v2" team/app 2.0 "$work/index-inner.json"
store_tag "$v2" team/app/api 1.0 "$work/schema1.json"
store_tag "$v2" library/base latest "$work/manifest-arm.json"
bundle "$work/store" 0 >"$st/many"
bundle "$work/store" $((0x01 | 0x08)) >"$st/many-platform"
bundle "$work/store" $((0x01 | 0x02 | 0x10)) >"$st/many-repo-list"
# A tag whose link is a symbolic link, a tag naming a missing blob, and
# the store at v2/ instead of docker/registry/v2/.
mkdir -p "$v2/repositories/team/odd/_manifests/tags/gone/current" \
    "$v2/repositories/team/odd/_manifests/tags/linked"
printf 'sha256:%064d' 0 \
    >"$v2/repositories/team/odd/_manifests/tags/gone/current/link"
ln -s ../../../../app/_manifests/tags/1.0/current \
    "$v2/repositories/team/odd/_manifests/tags/linked/current"
bundle "$work/store" 0 >"$st/odd"
mkdir -p "$work/store-v2"
cp -r "$v2" "$work/store-v2/v2"
bundle "$work/store-v2" $((0x01)) >"$st/v2-root"

# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

# Each built-in rule alone, so that each compiles and tests its examples.
for f in "$patterns"/*.yaml; do
    awk -v dir="$out/rules" -v base="$(basename "$f" .yaml)" '
        /^  - id:/ { if (file) close(file)
                     n++; file = sprintf("%s/%s-%02d.yaml", dir, base, n)
                     print "rules:" > file }
        n && /^    |^  - id:|^$/ { print >> file }
    ' "$f"
done

rule() { printf '%s' "$2" >"$out/rules/$1.yaml"; }

rule features 'rules:
  - id: t.token
    name: Token
    pattern: (?x) \b (tok_[0-9a-f]{16}) \b  # a comment
    severity: critical
    confidence: high
    entropy: 3.0
    keywords: [tok_]
    references: [https://example.com/docs]
    examples: ["a tok_0123456789abcdef b"]
    negative_examples: ["tok_0000000000000000"]
  - id: t.lower
    name: Lowered on a bad checksum
    pattern: \b(ghp_[0-9A-Za-z]{36})\b
    validate: crc32-base62
    on_invalid: lower
    generic: false
  - id: t.env
    name: Env file password
    path: (?i)\.env$
    example_path: app/.env
    pattern: PASSWORD=(\S{8,64})
    generic: true
    examples: ["PASSWORD=Xk9mQ2vL8pWz4rT"]
  - id: t.keyfile
    name: Key file
    path: (?:^|/)id_(?:rsa|ed25519)$
    examples: [home/u/.ssh/id_rsa]
    negative_examples: [home/u/.ssh/id_rsa.pub]
'
rule lookaround 'rules:
  - id: t.look
    name: Lookaround, prefiltered
    pattern: (?<![A-Za-z0-9])(key_[a-z]{8})(?![a-z])
    examples: [" key_abcdefgh "]
  - id: t.bigrepeat
    name: A large bounded repeat
    pattern: secret=([A-Za-z0-9]{10,5000})
    min_entropy: 2
  - id: t.anchor
    name: Anchored at the end
    pattern: (?m)^token:([a-z]{12})$
'
rule bare-list '- id: t.bare
  name: A bare list of rules
  pattern: bare_[0-9]{8}
  categories: [x]
  tags: [y]
  negative_example: unused field
'
rule broken 'rules:
  - id: t.dup
    name: One
    pattern: a(b
  - id: t.dup
    name: Two
    pattern: ""
  - id: "bad id!"
    pattern: x*
    severity: extreme
    confidence: sure
    validate: no-such-check
    entropy: 9
  - name: no id
'
rule not-yaml 'rules: [ {id: x, name: "unterminated
'
rule anchors 'base: &b
  name: Aliased
  pattern: alias_[0-9]{6}
rules:
  - <<: *b
    id: t.alias
  - id: t.alias2
    name: *b
'

# ---------------------------------------------------------------------------
# Matcher: the rules' own examples, under each entry name
# ---------------------------------------------------------------------------

# The quoted examples of one rule file, one a line.
examples() {
    awk '/^    (negative_)?examples:/ { on = 1; next }
         /^    [a-z_]+:/ { on = 0 }
         on && /^      - / { sub(/^      - /, ""); print }' "$1" |
        sed -e "s/^'\\(.*\\)'\$/\\1/" -e 's/^"\(.*\)"$/\1/'
}

n=0
for f in "$patterns"/*.yaml; do
    n=$((n + 1))
    # Byte 0 picks the entry name, bytes 1-2 the chunk size.
    {
        printf "\\x$(printf %02x $((n % 8)))\\x$(printf %02x $((n * 37 % 256)))\\x00"
        examples "$f"
    } | head -c 30000 >"$out/matcher/$(basename "$f" .yaml)"
done
for name in 0 1 2 3 4 5 6 7; do
    {
        printf "\\x$(printf %02x "$name")\\x40\\x00"
        cat "$tree/app/config.txt" "$tree/app/.env" \
            "$tree/home/user/.ssh/id_rsa" "$tree/docs/notes.txt"
    } >"$out/matcher/tree-$name"
done

for d in reader image store rules matcher; do
    printf '%s: %s seeds\n' "$d" "$(find "$out/$d" -type f | wc -l)"
done
