# shellcheck shell=bash
#
# End-to-end cases for container images: OCI layouts, docker save archives
# (plain and compressed), registry stores, image references, platforms,
# broken images beside sound ones, and running processes. Sourced by
# run.sh, whose helpers it uses.
#
# The images come from tests/images/make_images.sh, which also writes
# expected.txt: every planted secret with its image, layer (or config
# field), layer digest, path chain and whether a later layer deleted it.
# Reports are compared with those rows by secret value, so the cases do
# not depend on rule ids or on the order of findings.

IMAGES_SCRIPT=$here/../images/make_images.sh

# expected.txt as a JSON array of rows.
# shellcheck disable=SC2016
IMG_ROWS='
[inputs | select(startswith("#") | not) | split("\t")
 | (.[1] | capture("^(?<ref>.*?)( \\[(?<platform>[^]]*)\\])?$")) as $r
 | {source: .[0], ref: $r.ref, platform: $r.platform, layer: .[2],
    digest: .[3], path: .[4],
    mismatch: (.[5] | test("do not hash")),
    deleted_by: (.[6] | if startswith("yes")
                        then capture("layer (?<n>[0-9]+)").n | tonumber
                        else null end),
    secret: (.[7] | gsub("\\\\n"; "\n"))}]
'

# Compares a JSON report with the rows of one source; prints problems.
# Every row must be found at its exact location, and (strict) the report
# must hold no location that no row explains.
# shellcheck disable=SC2016
IMG_CHECK='
def same_secret($e):
    .secret == $e.secret
    or (($e.secret | startswith("-----BEGIN"))
        and (.secret | startswith($e.secret[0:40])));
def at($e):
    .image == $e.ref
    and ($e.platform == null or .platform == $e.platform)
    and .deleted == ($e.deleted_by != null) and .deleted_by == $e.deleted_by
    and .digest_mismatch == $e.mismatch
    and (if $e.layer == "config"
         then .layer_index == null and .chain[1] == "config"
              and .config_field == $e.path and .chain[2] == $e.path
         else .layer_index == ($e.layer | tonumber)
              and .layer_digest == $e.digest
              and .chain[1] == "layer \($e.layer)"
              and (.chain[2:] | join(" / ")) == $e.path
              and .nested == ($e.path | test(" / "))
         end);
def show: "\(.chain | join(" / ")):\(.line):\(.column)"
          + (if .deleted then " deleted by \(.deleted_by)" else "" end);
. as $doc
| [$rows[] | select(.source == $src)] as $want
| ($want[] as $e
   | [$doc.findings[] | select(same_secret($e)) | .locations[]] as $locs
   | select([$locs[] | select(at($e))] | length == 0)
   | "\($e.ref)\(if $e.platform then " [\($e.platform)]" else "" end)"
     + " \($e.layer) \($e.path): not reported there ("
     + ([$locs[] | show] | join(", ") | if . == "" then "nowhere" else . end)
     + ")"),
  ([$doc.findings[].locations[]] | length) as $n
  | select($strict and $n != ($want | length))
  | "\($n) locations reported, want \($want | length)",
  ($doc.findings[].locations[] | select(.chain | any(test("\\.wh\\.")))
   | "whiteout file reported as a path: \(.chain | join(" / "))")
'

# img_check SOURCE [STRICT]: problems of the report in $out for SOURCE.
img_check() {
    if ! jq -e '.findings | type == "array"' "$out" >/dev/null 2>&1; then
        echo "stdout is not a JSON report: $(head -c 80 "$out")"
        return
    fi
    jq -r --arg src "$1" --argjson strict "${2:-true}" \
        --slurpfile rows "$tmp/img-rows.json" \
        "\$rows[0] as \$rows | $IMG_CHECK" "$out" 2>&1
}

# Lines "RULE SECRET-FINGERPRINT LAYER-INDEX CHAIN-INSIDE DELETED-BY" of a
# report, sorted: what two forms of one image must agree on.
img_essence() {
    jq -r '.findings[] | .rule_id as $r | .fingerprint as $f
           | .locations[] | [$r, $f, (.layer_index // "config"),
                             (.chain[2:] | join(" / ")),
                             (.deleted_by // "-")] | map(tostring)
           | join(" ")' "$1" | sort
}

# Distinct layer digests and layer uses of every image in a registry
# store, as "DISTINCT USES", read straight from its manifests.
store_layer_counts() {
    local v2=$1/docker/registry/v2 link digest

    for link in "$v2"/repositories/*/_manifests/tags/*/current/link \
        "$v2"/repositories/*/*/_manifests/tags/*/current/link \
        "$v2"/repositories/*/*/*/_manifests/tags/*/current/link; do
        [ -e "$link" ] || continue
        digest=$(cat "$link")
        store_manifest_layers "$v2" "$digest"
    done | awk '{ uses++; seen[$0] = 1 } END {
        n = 0; for (d in seen) n++; printf "%d %d\n", n, uses }'
}

store_manifest_layers() {
    local v2=$1 hex=${2#sha256:} blob child

    blob=$v2/blobs/sha256/${hex:0:2}/$hex/data
    if jq -e '.manifests' "$blob" >/dev/null 2>&1; then
        for child in $(jq -r '.manifests[].digest' "$blob"); do
            store_manifest_layers "$v2" "$child"
        done
    else
        jq -r '.layers[].digest' "$blob"
    fi
}

suite_images() {
    local img=$tmp/img

    begin "images: fixtures are assembled"
    if ! bash "$IMAGES_SCRIPT" "$img" >"$out" 2>"$err"; then
        want "make_images.sh failed: $(tail -n 1 "$err")"
    else
        jq -R -n "$IMG_ROWS" "$img/expected.txt" >"$tmp/img-rows.json" ||
            want "expected.txt does not parse"
    fi
    end_case
    [ -z "$why" ] || return

    images_oci "$img"
    images_docker_archive "$img"
    images_by_other_tools "$img"
    images_registry "$img"
    images_legacy "$img"
    images_references "$img"
    images_broken "$img"
    images_process
}

images_oci() {
    local img=$1 ref jar

    begin "oci layout: file, Env, history, jar member, deleted files, each where planted"
    ks scan -f json --show-secrets "$img/oci"
    expect_rc 1
    want_none "$(img_check oci)"
    end_case
    cp "$out" "$tmp/img-oci.json"

    begin "oci layout, text: image, layer, path chain and deletion shown"
    ks scan "$img/oci"
    expect_rc 1
    ref="oci:$img/oci:demo:1.0"
    jar="app/lib/app.jar / BOOT-INF/classes/application.properties"
    has_where "$ref / layer 2 / $jar:3:17" ||
        want "no where line for the jar member"
    has_where "$ref / layer 1 / app/secrets/old.key:1:1 (deleted by layer 3)" ||
        want "no where line for the deleted key"
    grep -q "$ref / config / Env\[2\]:1:" "$out" ||
        want "no where line for the config Env entry"
    expect_no_leak
    end_case
}

images_docker_archive() {
    local img=$1 form

    begin "docker save archive: the same findings as the OCI layout"
    ks scan -f json --show-secrets "$img/docker.tar"
    expect_rc 1
    want_none "$(img_check docker-archive)"
    [ "$(img_essence "$out")" = "$(img_essence "$tmp/img-oci.json")" ] ||
        want "findings differ from the OCI layout's: $(diff \
            <(img_essence "$tmp/img-oci.json") <(img_essence "$out") |
            grep '^[<>]' | head -n 2 | tr '\n' ' ')"
    end_case

    for form in gz zst; do
        begin "docker save archive compressed ($form): read as an image"
        case $form in
        gz) gzip -c "$img/docker.tar" >"$tmp/docker.tar.$form" ;;
        zst) zstd -q -c "$img/docker.tar" >"$tmp/docker.tar.$form" ;;
        esac
        ks scan -f json --show-secrets "$tmp/docker.tar.$form"
        expect_rc 1
        [ "$(img_essence "$out")" = "$(img_essence "$tmp/img-oci.json")" ] ||
            want "findings differ from the uncompressed archive's"
        jq -e --arg ref "docker-archive:$tmp/docker.tar.$form:demo:1.0" \
            '[.findings[].locations[] | select(.image != $ref)] | length == 0' \
            "$out" >/dev/null || want "image not named $ref"
        end_case
    done
}

# The same findings as the OCI layout, for an archive at $out.
same_as_oci() {
    [ "$(img_essence "$out")" = "$(img_essence "$tmp/img-oci.json")" ] ||
        want "findings differ from the OCI layout's: $(diff \
            <(img_essence "$tmp/img-oci.json") <(img_essence "$out") |
            grep '^[<>]' | head -n 2 | tr '\n' ' ')"
}

# The image as other tools write it: skopeo's oci-archive and
# docker-archive (layers recompressed with gzip, since Docker's format has
# no zstd), and the archive `docker save` writes since Docker 25: an OCI
# layout and a manifest.json in one tar, layers named blobs/sha256/HEX.
images_by_other_tools() {
    local img=$1 gz=$tmp/skopeo-gz manifest

    begin "skopeo oci-archive, skopeo docker-archive, Docker 25 save: same findings"
    if ! command -v skopeo >/dev/null; then
        skip_case "skopeo is not installed (make deps installs it)"
        return
    fi
    if ! skopeo --insecure-policy copy -q "oci:$img/oci:demo:1.0" \
            "oci-archive:$tmp/skopeo-oci.tar:demo:1.0" 2>"$err" ||
        ! skopeo --insecure-policy copy -q --dest-compress \
            --dest-compress-format gzip "oci:$img/oci:demo:1.0" \
            "oci:$gz:demo:1.0" 2>"$err" ||
        ! skopeo --insecure-policy copy -q "oci:$gz:demo:1.0" \
            "docker-archive:$tmp/skopeo-docker.tar:demo:1.0" 2>"$err"; then
        want "skopeo failed: $(tail -n 1 "$err")"
        end_case
        return
    fi
    manifest=$(jq -r '.manifests[0].digest | sub(":"; "/")' "$gz/index.json")
    jq -c '[{Config: ("blobs/" + (.config.digest | sub(":"; "/"))),
             RepoTags: ["demo:1.0"],
             Layers: [.layers[].digest | "blobs/" + sub(":"; "/")]}]' \
        "$gz/blobs/$manifest" >"$gz/manifest.json"
    tar -C "$gz" -cf "$tmp/docker25.tar" oci-layout index.json manifest.json \
        blobs

    ks scan -f json --show-secrets "$tmp/skopeo-oci.tar"
    expect_rc 1
    same_as_oci
    ks scan -f json --show-secrets "$tmp/skopeo-docker.tar"
    expect_rc 1
    same_as_oci
    ks scan -f json --show-secrets "$tmp/docker25.tar"
    expect_rc 1
    same_as_oci
    jq -e '[.findings[].locations[] | select(.layer_index == 1)
            | select(.deleted)] | length == 2' "$out" >/dev/null ||
        want "the Docker 25 archive lost the deleted files"
    end_case
}

images_registry() {
    local img=$1 counts distinct uses

    begin "registry store: every repository:tag, shared base layer read once"
    ks scan -f json --show-secrets "$img/registry"
    expect_rc 1
    want_none "$(img_check registry)"
    read -r distinct uses <<<"$(store_layer_counts "$img/registry")"
    jq -e --argjson d "$distinct" --argjson u "$uses" \
        '.summary.images == 13 and .summary.layers_scanned == $d
         and .summary.layers_reused == ($u - $d)' "$out" >/dev/null ||
        want "stats $(jq -c '.summary | {images, layers_scanned,
            layers_reused}' "$out"), want 13 images, $distinct layers" \
            "scanned, $((uses - distinct)) reused"
    counts=$(jq '[.findings[] | select(.secret | startswith("ghp_"))
                  | .locations | length] | add' "$out")
    [ "$counts" = 13 ] ||
        want "base layer token under $counts images, want 13"
    end_case
}

images_legacy() {
    local img=$1

    begin "registry store, Docker schema 1: layers, Env and history located"
    ks scan -f json --show-secrets "$img/legacy"
    expect_rc 1
    want_none "$(img_check legacy)"
    end_case
}

images_references() {
    local img=$1

    begin "references: oci:DIR:TAG and an unknown tag"
    ks scan -f json --show-secrets "oci:$img/oci:demo:1.0"
    expect_rc 1
    want_none "$(img_check oci)"
    ks scan "oci:$img/oci:2.0"
    expect_rc 2
    grep -q "no image is tagged 2.0" "$err" ||
        want "no error naming the missing tag$(stderr_hint)"
    end_case

    begin "references: docker-archive:FILE:REPO:TAG"
    ks scan -f json --show-secrets "docker-archive:$img/docker.tar:demo:1.0"
    expect_rc 1
    want_none "$(img_check docker-archive)"
    end_case

    begin "references: registry-store:ROOT/REPO:TAG picks one image"
    ks scan -f json "registry-store:$img/registry/tools/ci/runner:1.0"
    expect_rc 1
    jq -e --arg ref "registry-store:$img/registry/tools/ci/runner:1.0" \
        '[.findings[].locations[].image] | unique == [$ref]' "$out" \
        >/dev/null || want "images $(jq -c '[.findings[].locations[].image]
            | unique' "$out"), want only tools/ci/runner:1.0"
    end_case

    begin "--platform: one platform of a manifest list"
    ks scan -f json --platform linux/arm64 \
        "registry-store:$img/registry/library/nginx:latest"
    expect_rc 1
    jq -e '[.findings[].locations[].platform] | unique
           == ["linux/arm64/v8"]' "$out" >/dev/null ||
        want "platforms $(jq -c '[.findings[].locations[].platform]
            | unique' "$out"), want linux/arm64/v8 alone"
    ks scan --platform amd64 "$img/oci"
    expect_rc 2
    grep -q -- "--platform wants OS/ARCH" "$err" ||
        want "no usage error for a malformed --platform$(stderr_hint)"
    end_case

    begin "references: a prefix naming nothing is an error naming it"
    ks scan "oci:$tmp/nowhere" "$img/oci"
    expect_rc 2
    grep -q "^keysift: error: oci:$tmp/nowhere: no image source" "$err" ||
        want "no error naming oci:$tmp/nowhere$(stderr_hint)"
    grep -q "GitHub" "$out" || want "the good input was not scanned"
    end_case
}

images_broken() {
    local img=$1 store

    begin "broken images (digest, blob, manifest, index): sound ones scanned, exit 2"
    ks scan -f json --show-secrets "$img/bad-digest" "$img/missing-blob" \
        "$img/bad-index"
    expect_rc 2
    expect_diag_format
    want_none "$(img_check bad-digest false)"
    want_none "$(img_check missing-blob false)"
    [ "$(jq '[.findings[].locations[]] | length' "$out")" = 5 ] ||
        want "$(jq '[.findings[].locations[]] | length' "$out") locations," \
            "want the 5 of the sound images"
    store="registry-store:$img/missing-blob"
    grep -q "^keysift: warning: oci:$img/bad-digest:tampered:1.0: layer 0 .*do not match" \
        "$err" || want "no digest mismatch warning naming the image"
    grep -q "^keysift: error: $store/broken/app:1.0: layer 1 .*blob is missing" \
        "$err" || want "no missing-blob error naming the image and layer"
    grep -q "^keysift: error: $store/broken/gone:1.0: manifest .* is missing" \
        "$err" || want "no missing-manifest error naming the image"
    grep -q "^keysift: error: $img/bad-index/index.json: index is not valid JSON" \
        "$err" || want "no error naming the broken index.json"
    end_case

    begin "a digest mismatch alone is a warning: findings, exit 1"
    ks scan -q "$img/bad-digest"
    expect_rc 1
    grep -q "(layer digest mismatch)" "$out" ||
        want "text report does not flag the mismatch"
    end_case
}

# A process in a root of its own (a chroot holding only what `sleep`
# needs), with a token in its environment and one in a file of its root,
# and a link out to the host's /etc that must not be followed.
images_process() {
    local root=$tmp/proc-root lib pid token env_token jail=()

    begin "--pid: the environment and the root filesystem of a process"
    if [ "$(id -u)" -eq 0 ]; then
        jail=("$(command -v chroot)" "$root")
    elif unshare -r true 2>/dev/null; then
        jail=("$(command -v unshare)" -r "$(command -v chroot)" "$root")
    else
        skip_case "needs root or user namespaces to give a process its own root"
        return
    fi
    mkdir -p "$root/bin" "$root/etc/app"
    cp /bin/sleep "$root/bin/"
    for lib in $(ldd /bin/sleep | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp "$lib" "$root$lib"
    done
    token=$(cut -f 1 <<<"$github_row")
    env_token=$(jq -r '[.[] | select(.secret | startswith("xoxb-"))][0].secret' \
        "$tmp/expected.json")
    printf 'GITHUB_TOKEN=%s\n' "$token" >"$root/etc/app/app.env"
    ln -s /etc "$root/etc/host"
    env -i PATH=/bin "SLACK_BOT_TOKEN=$env_token" "${jail[@]}" /bin/sleep 60 &
    pid=$!
    sleep 0.3
    ks scan -f json --show-secrets --pid "$pid"
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    expect_rc 1
    jq -e --arg p "$pid" --arg s "$env_token" '[.findings[]
        | select(.secret == $s) | .locations[]
        | select(.input == "pid:\($p)" and
                 .chain == ["/proc/\($p)/environ", "SLACK_BOT_TOKEN"])]
        | length == 1' "$out" >/dev/null ||
        want "environment token not at /proc/$pid/environ / SLACK_BOT_TOKEN"
    jq -e --arg p "$pid" --arg s "$token" '[.findings[]
        | select(.secret == $s) | .locations[]
        | select(.chain == ["/proc/\($p)/root/etc/app/app.env"])]
        | length == 1' "$out" >/dev/null ||
        want "file token not at /proc/$pid/root/etc/app/app.env"
    jq -e '[.findings[].locations[].chain[] | select(test("/etc/host"))]
           | length == 0' "$out" >/dev/null ||
        want "the link to the host's /etc was followed"
    end_case

    begin "--pid: a process that does not exist is an error naming it"
    ks scan --pid 999999999
    expect_rc 2
    grep -q "^keysift: error: pid:999999999: no such process" "$err" ||
        want "no error naming pid:999999999$(stderr_hint)"
    ks scan --pid x1
    expect_rc 2
    end_case
}
