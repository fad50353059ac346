# shellcheck shell=bash
#
# End-to-end cases for images read straight from a registry over HTTP:
# Debian's docker-registry, started on 127.0.0.1 by the test (plain, and
# with basic auth through an htpasswd file), images pushed to it with
# skopeo, and tests/registry/flaky_registry.py in front of it for Bearer
# tokens, rate limits, server errors, cut-off transfers and a registry
# that dies mid-scan. Every registry is stopped when the suite ends.
# Sourced by run.sh, whose helpers (and suite_images.sh's) it uses.

FLAKY=$here/../registry/flaky_registry.py
REG_PIDS=()

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# reg_start NAME PORT [htpasswd FILE]: a registry on 127.0.0.1:PORT,
# storing into $tmp/reg/data (shared by every registry of the suite).
reg_start() {
    local name=$1 port=$2 conf=$tmp/reg/$1.yml

    mkdir -p "$tmp/reg/data"
    {
        printf 'version: 0.1\nlog: {level: error}\n'
        printf 'storage:\n  filesystem: {rootdirectory: %s}\n' "$tmp/reg/data"
        printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
        [ "${3:-}" != htpasswd ] ||
            printf 'auth:\n  htpasswd: {realm: keysift-test, path: %s}\n' "$4"
    } >"$conf"
    docker-registry serve "$conf" >"$tmp/reg/$name.log" 2>&1 &
    REG_PIDS+=($!)
    reg_wait "$port"
}

# Waits until something answers on the port's /v2/.
reg_wait() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/v2/" && return 0
        sleep 0.1
    done
    return 1
}

# flaky_start PORT ARGS...: the faulty front, in front of the plain one.
flaky_start() {
    local port=$1

    shift
    python3 "$FLAKY" "$port" "http://127.0.0.1:$REG_PORT" "$@" \
        >>"$tmp/reg/flaky.out" 2>&1 &
    REG_PIDS+=($!)
    reg_wait "$port"
}

reg_stop_all() {
    local pid

    for pid in "${REG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${REG_PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    REG_PIDS=()
}

push() {
    skopeo --insecure-policy copy -q --dest-tls-verify=false "$1" \
        "docker://127.0.0.1:$REG_PORT/$2" >"$tmp/reg/push.log" 2>&1
}

# The findings of a report, as the images suite compares them.
reg_essence() {
    img_essence "$1"
}

suite_registry() {
    local img=$tmp/img tool

    begin "registry: a registry is started and images are pushed to it"
    for tool in docker-registry skopeo htpasswd python3 curl; do
        command -v "$tool" >/dev/null ||
            want "$tool is missing (make deps installs it)"
    done
    [ -d "$img/oci" ] || bash "$IMAGES_SCRIPT" "$img" >/dev/null 2>&1 ||
        want "could not make the fixture images"
    if [ -z "$why" ]; then
        REG_PORT=$(free_port)
        reg_start plain "$REG_PORT" || want "docker-registry did not start"
    fi
    if [ -z "$why" ]; then
        push "oci:$img/oci:demo:1.0" team/demo:1.0 &&
            push "oci:$img/oci:demo:1.0" team/demo:latest &&
            push "docker-archive:$img/docker.tar" other/app:2 ||
            want "skopeo could not push: $(tail -n 1 "$tmp/reg/push.log")"
    fi
    end_case
    if [ -n "$why" ]; then
        reg_stop_all
        return
    fi
    "$KEYSIFT" scan -q -f json --show-secrets "$img/oci" >"$tmp/reg-oci.json"

    registry_by_reference
    registry_whole
    registry_storage
    registry_basic_auth
    registry_faults
    registry_killed
    registry_shards
    reg_stop_all
}

registry_by_reference() {
    local ref=127.0.0.1:$REG_PORT/team/demo:1.0

    begin "registry: an image by reference gives its OCI layout's findings"
    ks scan --insecure -f json --show-secrets "docker://$ref"
    expect_rc 1
    [ "$(reg_essence "$out")" = "$(reg_essence "$tmp/reg-oci.json")" ] ||
        want "findings differ: $(diff <(reg_essence "$tmp/reg-oci.json") \
            <(reg_essence "$out") | grep '^[<>]' | head -n 2 | tr '\n' ' ')"
    jq -e --arg ref "docker://$ref" '[.findings[].locations[].image]
        | unique == [$ref]' "$out" >/dev/null || want "images not named $ref"
    # A bare HOST/REPO:TAG is a reference when no such path exists.
    ks scan --insecure -f json --show-secrets "$ref"
    [ "$(reg_essence "$out")" = "$(reg_essence "$tmp/reg-oci.json")" ] ||
        want "the bare reference $ref was not read from the registry"
    ks scan "docker://$ref"
    expect_rc 2
    grep -q "plain-HTTP registry" "$err" ||
        want "HTTPS to a plain registry gives no hint$(stderr_hint)"
    end_case
}

registry_whole() {
    local want_refs got_refs

    begin "registry: the host alone is every repository and tag"
    ks scan --insecure -f json "docker://127.0.0.1:$REG_PORT"
    expect_rc 1
    want_refs=$(printf 'docker://127.0.0.1:%s/%s\n' "$REG_PORT" \
        other/app:2 "$REG_PORT" team/demo:1.0 "$REG_PORT" team/demo:latest)
    got_refs=$(jq -r '[.findings[].locations[].image] | unique[]' "$out")
    [ "$got_refs" = "$want_refs" ] ||
        want "images $(tr '\n' ' ' <<<"$got_refs"), want $(tr '\n' ' ' \
            <<<"$want_refs")"
    jq -e '.summary.images == 3' "$out" >/dev/null ||
        want "$(jq .summary.images "$out") images, want 3"
    ks plan --insecure "docker://127.0.0.1:$REG_PORT"
    expect_rc 0
    [ "$(jq -r 'select(.type == "config") | .used_by[].image' "$out" |
        sort -u)" = "$want_refs" ] || want "plan does not list every image"
    end_case
}

# The storage the registry server itself wrote (as a backup of it holds
# it: _layers, _uploads, revisions and tag index links included), read
# from disk, gives what the registry serves.
registry_storage() {
    local ref=registry-store:$tmp/reg/data/team/demo:1.0

    begin "registry store written by the registry server: its images, the layout's findings"
    ks scan -f json --show-secrets "$ref"
    expect_rc 1
    [ "$(reg_essence "$out")" = "$(reg_essence "$tmp/reg-oci.json")" ] ||
        want "findings differ: $(diff <(reg_essence "$tmp/reg-oci.json") \
            <(reg_essence "$out") | grep '^[<>]' | head -n 2 | tr '\n' ' ')"
    ks scan -f json "$tmp/reg/data"
    expect_rc 1
    [ "$(jq -r '[.findings[].locations[].image] | unique[]' "$out")" = \
        "$(printf 'registry-store:%s/%s\n' "$tmp/reg/data" other/app:2 \
            "$tmp/reg/data" team/demo:1.0 "$tmp/reg/data" team/demo:latest)" ] ||
        want "images $(jq -c '[.findings[].locations[].image] | unique' \
            "$out")"
    end_case
}

registry_basic_auth() {
    local port user=keysift-ci pass auth cfg=$tmp/reg/docker-config.json
    local ref

    begin "registry: basic auth: clear error without credentials, docker config works, no leak"
    pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    htpasswd -Bbn "$user" "$pass" >"$tmp/reg/htpasswd" 2>/dev/null
    port=$(free_port)
    reg_start auth "$port" htpasswd "$tmp/reg/htpasswd" ||
        want "the registry with basic auth did not start"
    ref=docker://127.0.0.1:$port/team/demo:1.0
    ks scan --insecure "$ref"
    expect_rc 2
    grep -q "needs credentials" "$err" ||
        want "no clear authentication error$(stderr_hint)"
    auth=$(printf '%s:%s' "$user" "$pass" | base64 -w0)
    printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$port" "$auth" \
        >"$cfg"
    ks scan --insecure -v --registry-auth "$cfg" -f json --show-secrets \
        -o "$tmp/reg/auth-report.json" "$ref"
    expect_rc 1
    [ "$(reg_essence "$tmp/reg/auth-report.json")" = \
        "$(reg_essence "$tmp/reg-oci.json")" ] ||
        want "findings with credentials differ from the OCI layout's"
    KEYSIFT_REGISTRY_USER=$user KEYSIFT_REGISTRY_PASSWORD=wrong-$pass \
        ks scan --insecure "$ref"
    expect_rc 2
    grep -q "refused access" "$err" || want "wrong credentials not refused"
    cat "$out" "$err" "$tmp/reg/auth-report.json" >"$tmp/reg/all-output"
    grep -qF -e "$pass" -e "$auth" "$tmp/reg/all-output" &&
        want "the credentials appear in keysift's output"
    end_case
}

registry_faults() {
    local port log=$tmp/reg/flaky-faults.log

    begin "registry: Bearer tokens, 429, 503 and a cut-off blob are weathered"
    port=$(free_port)
    flaky_start "$port" "$log" --faults --user robot --password hunter2 ||
        want "the flaky front did not start"
    KEYSIFT_REGISTRY_USER=robot KEYSIFT_REGISTRY_PASSWORD=hunter2 \
        ks scan --insecure -f json --show-secrets \
        "docker://127.0.0.1:$port/team/demo:1.0"
    expect_rc 1
    [ "$(reg_essence "$out")" = "$(reg_essence "$tmp/reg-oci.json")" ] ||
        want "findings through the faults differ from the OCI layout's"
    grep -q '^200 GET /token' "$log" || want "no token was fetched"
    grep -q '^429 ' "$log" || want "no 429 was served"
    grep -q '^503 ' "$log" || want "no 503 was served"
    grep -q 'cut=half' "$log" || want "no transfer was cut off"
    grep -q '^206 GET .* range=bytes=[1-9]' "$log" ||
        want "a cut-off transfer was not resumed with a range request"
    ks scan --insecure "docker://127.0.0.1:$port/team/demo:1.0"
    expect_rc 2
    grep -q "refused the credentials" "$err" ||
        want "a token service refusing anonymous access gives no clear" \
            "error$(stderr_hint)"
    end_case
}

registry_killed() {
    local port log=$tmp/reg/flaky-stall.log pid flaky layer

    begin "registry: killed mid-scan: a clear error for that image, the rest scanned, exit 2"
    layer=$(jq -r '.findings[].locations[] | select(.layer_index == 2)
                   | .layer_digest' "$tmp/reg-oci.json" | head -n 1)
    port=$(free_port)
    flaky_start "$port" "$log" --stall "$layer" ||
        want "the flaky front did not start"
    flaky=${REG_PIDS[-1]}
    disown "$flaky"
    timeout -k 5 "$(slow 120)" "$KEYSIFT" scan --insecure -f json --show-secrets \
        "docker://127.0.0.1:$port/team/demo:1.0" "$tmp/img/bad-digest" \
        >"$out" 2>"$err" &
    pid=$!
    for _ in $(seq "$(slow 300)"); do
        grep -q 'cut=stall' "$log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q 'cut=stall' "$log" || want "the scan never reached the layer"
    kill -9 "$flaky" 2>/dev/null
    wait "$pid"
    rc=$?
    expect_rc 2
    grep -q "^keysift: error: docker://127.0.0.1:$port/team/demo:1.0: layer 2 ($layer): .*broke" \
        "$err" || want "no error naming the image and its layer$(stderr_hint)"
    jq -e '[.findings[].locations[] | select(.image
            | startswith("oci:"))] | length == 2' "$out" >/dev/null ||
        want "the other input was not scanned"
    end_case
}

registry_shards() {
    local k

    begin "registry: plan, shards and merge work on references"
    ks scan --insecure -f json "docker://127.0.0.1:$REG_PORT"
    cp "$out" "$tmp/reg/one.json"
    for k in 0 1; do
        ks scan --insecure --shard "$k/2" -o "$tmp/reg/part-$k.jsonl" \
            "docker://127.0.0.1:$REG_PORT"
        [ "$rc" -eq 0 ] || want "shard $k exit $rc$(stderr_hint)"
    done
    ks merge -f json "$tmp"/reg/part-{0,1}.jsonl
    expect_rc 1
    [ "$(jq -S .findings "$out")" = "$(jq -S .findings "$tmp/reg/one.json")" ] ||
        want "merged shards differ from one scan of the registry"
    end_case
}
