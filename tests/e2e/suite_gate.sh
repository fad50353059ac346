# shellcheck shell=bash
#
# End-to-end cases for keysift as a CI gate: SARIF against the OASIS
# schema, output that does not depend on -j, location fingerprints,
# baselines, keysift:allow marks, the project config (.keysift.yaml),
# --fail-on, snapshots and `keysift diff`, --staged and --diff, the
# pre-commit hooks, and the compiled-rules cache. Sourced by run.sh,
# whose helpers it uses.
#
# Most cases run with a rule file of their own (three token rules of
# different severities), so that they state exactly what is found and do
# not move when the built-in rules change; SARIF, -j and image cases use
# the built-in rules on the shared fixtures and on images assembled by
# tests/images/make_images.sh.

GATE_SCHEMA=$here/../schemas/sarif-schema-2.1.0.json
GATE_VALIDATE=$here/../schemas/validate.py
GATE_HOOKS=$here/../../.pre-commit-hooks.yaml

# gate_token PREFIX LABEL: PREFIX_ and 24 hex digits derived from LABEL.
gate_token() {
    printf '%s_%s' "$1" "$(printf '%s' "$2" | sha256sum | cut -c 1-24)"
}

gate_rules() {
    cat <<'EOF'
- id: gate.high
  name: Gate high token
  pattern: '\b(gth_[0-9a-f]{24})\b'
  severity: high
- id: gate.low
  name: Gate low token
  pattern: '\b(gtl_[0-9a-f]{24})\b'
  severity: low
- id: gate.critical
  name: Gate critical token
  pattern: '\b(gtc_[0-9a-f]{24})\b'
  severity: critical
EOF
}

# gks ARGS...: keysift with the gate rules only, secrets shown.
gks() {
    ks "$@" --rules-only --rules "$tmp/gate/rules.yaml" --show-secrets
}

# in_dir DIR COMMAND ARGS...: a helper run from DIR (not in a subshell,
# which would lose the exit status the helpers record).
in_dir() {
    local dir=$1

    shift
    pushd "$dir" >/dev/null || return
    "$@"
    popd >/dev/null || true
}

# The secrets of a JSON report, one per location, sorted.
gate_secrets() {
    jq -r '.findings[] | .secret as $s | .locations[] | $s' "${1:-$out}" |
        sort
}

# The number a JSON report gives for one suppression reason.
gate_suppressed() {
    jq -r --arg k "$1" '.summary.suppressed[$k]' "${2:-$out}"
}

# expect_secrets WANT...: the report's secrets are exactly these.
expect_secrets() {
    local want got

    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
    got=$(gate_secrets)
    [ "$got" = "$want" ] ||
        want "secrets reported: [$(tr '\n' ' ' <<<"$got")], want [$(tr '\n' ' ' <<<"$want")]"
}

expect_suppressed() {
    local got

    got=$(gate_suppressed "$1")
    [ "$got" = "$2" ] || want "suppressed.$1 is $got, want $2"
}

# The JSON report without its timing fields.
gate_untimed() {
    jq -S 'del(.summary.seconds, .summary.mb_per_second)' "$1"
}

# add_layer DIR FILE CONTENT: rebuilds the one image of the OCI layout DIR
# with one more gzip layer holding FILE, as a build adding a step would:
# new layer blob, config with the layer's diff_id, manifest, index.
add_layer() {
    local dir=$1 file=$2 content=$3 w=$tmp/gate/layer-work
    local m cfg layer new_cfg new_m

    rm -rf "$w" && mkdir -p "$w/root/$(dirname "$file")"
    printf '%s' "$content" >"$w/root/$file"
    tar --create --file="$w/layer.tar" --directory="$w/root" --sort=name \
        --mtime=@0 --owner=0 --group=0 --numeric-owner "$file"
    gzip -n -c "$w/layer.tar" >"$w/layer.tar.gz"
    m=$dir/blobs/sha256/$(jq -r '.manifests[0].digest' "$dir/index.json" |
        cut -d: -f2)
    cfg=$dir/blobs/sha256/$(jq -r .config.digest "$m" | cut -d: -f2)
    jq --arg d "sha256:$(sha256sum "$w/layer.tar" | cut -d' ' -f1)" \
        '.rootfs.diff_ids += [$d]' "$cfg" >"$w/config.json"
    new_cfg=$(gate_blob "$dir" "$w/config.json")
    layer=$(gate_blob "$dir" "$w/layer.tar.gz")
    jq --arg c "$new_cfg" --argjson cs "$(stat -c %s "$w/config.json")" \
        --arg l "$layer" --argjson ls "$(stat -c %s "$w/layer.tar.gz")" '
        .config.digest = $c | .config.size = $cs
        | .layers += [{mediaType:
                       "application/vnd.oci.image.layer.v1.tar+gzip",
                       digest: $l, size: $ls}]' "$m" >"$w/manifest.json"
    new_m=$(gate_blob "$dir" "$w/manifest.json")
    jq --arg m "$new_m" --argjson s "$(stat -c %s "$w/manifest.json")" \
        '.manifests[0].digest = $m | .manifests[0].size = $s' \
        "$dir/index.json" >"$w/index.json"
    cp "$w/index.json" "$dir/index.json"
    echo "$layer"
}

# Copies FILE into an OCI layout's blobs; prints its digest.
gate_blob() {
    local hex

    hex=$(sha256sum "$2" | cut -d' ' -f1)
    cp "$2" "$1/blobs/sha256/$hex"
    echo "sha256:$hex"
}

suite_gate() {
    local saved_cache=${KEYSIFT_CACHE_DIR-unset}

    mkdir -p "$tmp/gate"
    gate_rules >"$tmp/gate/rules.yaml"
    export KEYSIFT_CACHE_DIR=$tmp/gate/cache
    warm_rules
    warm_rules --rules "$tmp/gate/rules.yaml"

    begin "gate: images are assembled"
    bash "$here/../images/make_images.sh" "$tmp/gate/img" >"$out" 2>"$err" ||
        want "make_images.sh failed: $(tail -n 1 "$err")"
    end_case

    gate_sarif
    gate_jobs
    gate_fingerprints
    gate_baseline
    gate_inline_allow
    gate_config
    gate_fail_on
    gate_snapshots
    gate_changes
    gate_hooks
    gate_cache

    if [ "$saved_cache" = unset ]; then
        unset KEYSIFT_CACHE_DIR
    else
        export KEYSIFT_CACHE_DIR=$saved_cache
    fi
}

# ---- SARIF -------------------------------------------------------------

gate_validate() {
    /usr/bin/python3 "$GATE_VALIDATE" "$GATE_SCHEMA" "$1" 2>&1 | head -n 3
    return "${PIPESTATUS[0]}"
}

gate_sarif() {
    local img=$tmp/gate/img problems

    begin "sarif: a document the schema refuses is refused (the check works)"
    printf '{"version": "2.0.0", "runs": [{"results": [{}]}]}\n' \
        >"$tmp/gate/bad.sarif"
    problems=$(gate_validate "$tmp/gate/bad.sarif")
    [ -n "$problems" ] || want "validate.py accepted an invalid document"
    end_case

    begin "sarif: tree, archives and images validate against SARIF 2.1.0"
    ks scan -f sarif tree layer.tar.gz "$img/oci" "$img/docker.tar"
    expect_rc 1
    cp "$out" "$tmp/gate/all.sarif"
    problems=$(gate_validate "$tmp/gate/all.sarif") ||
        want "schema: ${problems:-validate.py failed}"
    expect_no_leak
    end_case

    begin "sarif: one result per location, keyed and placed as in JSON"
    ks scan -f json tree layer.tar.gz "$img/oci" "$img/docker.tar"
    want_none "$(jq -r --slurpfile s "$tmp/gate/all.sarif" '
        [.findings[] | .rule_id as $r | .locations[]
         | {r: $r, k: .fingerprint, l: .line, c: .column}] as $json
        | $s[0].runs[0] as $run
        | [$run.results[] | {r: .ruleId,
                             k: .partialFingerprints["keysiftLocation/v1"],
                             l: .locations[0].physicalLocation.region.startLine,
                             c: .locations[0].physicalLocation.region.startColumn}]
          as $sarif
        | (select($json != $sarif) | "results differ from the JSON locations"),
          ($run.tool.driver.rules | map(.id)) as $ids
          | (select(($ids | unique | length) != ($ids | length))
             | "a rule is described twice"),
            ($run.results[] | select($ids[.ruleIndex] != .ruleId)
             | "ruleIndex of \(.ruleId) is wrong"),
          ($run.results[] | select(.locations[0].logicalLocations)
           | .locations[0].logicalLocations[0]
           | select(.properties.image == null)
           | "logical location without an image"),
          (select([$run.results[] | select(.locations[0].logicalLocations)]
                  | length == 0) | "no image result has a logical location"),
          (select([$run.artifacts[]? | select(.parentIndex != null)]
                  | length == 0) | "no archive member is a nested artifact")
        ' "$out" 2>&1)"
    end_case

    begin "sarif: a scan with nothing found validates, exit 0"
    ks scan -f sarif clean
    expect_rc 0
    problems=$(gate_validate "$out") || want "schema: $problems"
    jq -e '.runs[0].results == []' "$out" >/dev/null ||
        want "results not empty"
    end_case
}

# ---- -j ----------------------------------------------------------------

gate_jobs() {
    local img=$tmp/gate/img fmt

    for fmt in json sarif; do
        begin "-j1 and -j8 give the same $fmt (tree, archives, images)"
        ks scan -j1 -f "$fmt" --show-secrets tree layer.tar layer.tar.zst \
            "$img/oci" "$img/docker.tar" "$img/registry" "$img/bad-digest"
        cp "$out" "$tmp/gate/j1.$fmt"
        ks scan -j8 -f "$fmt" --show-secrets tree layer.tar layer.tar.zst \
            "$img/oci" "$img/docker.tar" "$img/registry" "$img/bad-digest"
        if [ "$fmt" = json ]; then
            cmp -s <(gate_untimed "$tmp/gate/j1.$fmt") \
                <(gate_untimed "$out") ||
                want "reports differ: $(diff <(gate_untimed \
                    "$tmp/gate/j1.$fmt") <(gate_untimed "$out") |
                    grep '^[<>]' | head -n 2 | tr '\n' ' ')"
            jq -e '.findings | length > 10' "$out" >/dev/null ||
                want "too few findings to compare"
        else
            cmp -s "$tmp/gate/j1.$fmt" "$out" || want "SARIF differs"
        fi
        end_case
    done

    begin "-j1 and -j8: only timing fields differ, byte for byte"
    ks scan -j1 -f json tree "$img/oci"
    jq -c '.summary.seconds = 0 | .summary.mb_per_second = 0' "$out" >"$tmp/gate/a.json"
    ks scan -j8 -f json tree "$img/oci"
    jq -c '.summary.seconds = 0 | .summary.mb_per_second = 0' "$out" >"$tmp/gate/b.json"
    cmp -s "$tmp/gate/a.json" "$tmp/gate/b.json" || want "reports differ"
    end_case
}

# ---- fingerprints ------------------------------------------------------

gate_fingerprints() {
    local d=$tmp/gate/fp t a b c

    t=$(gate_token gth fp/one)
    mkdir -p "$d/repo/src" "$d/repo/copy"
    printf 'TOKEN=%s\n' "$t" >"$d/repo/src/app.env"
    printf 'TOKEN=%s\n' "$t" >"$d/repo/copy/app.env"

    begin "fingerprint: the same whatever the scanned directory is called"
    gks scan -f json "$d/repo"
    a=$(jq -r '[.findings[].locations[].fingerprint] | join(" ")' "$out")
    in_dir "$d/repo" gks scan -f json .
    b=$(jq -r '[.findings[].locations[].fingerprint] | join(" ")' "$out")
    gks scan -f json "$d/repo/"
    c=$(jq -r '[.findings[].locations[].fingerprint] | join(" ")' "$out")
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] ||
        want "fingerprints differ: [$a] [$b] [$c]"
    jq -e '[.findings[].locations[].fingerprint] | unique | length == 2' \
        "$out" >/dev/null || want "one secret in two files: want two keys"
    jq -e '.findings | length == 1' "$out" >/dev/null ||
        want "one secret in two files: want one finding"
    end_case

    begin "fingerprint: lines inserted above and around do not change it"
    printf '# header\n\n\nOTHER=1\n  TOKEN=%s # moved\n' "$t" \
        >"$d/repo/src/app.env"
    gks scan -f json "$d/repo"
    b=$(jq -r '[.findings[].locations[].fingerprint] | join(" ")' "$out")
    [ "$a" = "$b" ] || want "fingerprints moved with the line: [$a] [$b]"
    end_case

    begin "fingerprint: an image path keys the same in every image form"
    ks scan -f json "$tmp/gate/img/oci"
    a=$(jq -r '[.findings[].locations[] | "\(.path) \(.fingerprint)"]
               | sort | join(",")' "$out")
    ks scan -f json "$tmp/gate/img/docker.tar"
    b=$(jq -r '[.findings[].locations[] | "\(.path) \(.fingerprint)"]
               | sort | join(",")' "$out")
    [ -n "$a" ] && [ "$a" = "$b" ] || want "keys differ between forms"
    end_case
}

# ---- baselines ---------------------------------------------------------

gate_baseline() {
    local d=$tmp/gate/base old1 old2 new1

    old1=$(gate_token gth base/old1)
    old2=$(gate_token gtl base/old2)
    new1=$(gate_token gth base/new1)
    mkdir -p "$d/repo/src" "$d/repo/deploy"
    printf 'A=1\nKEY=%s\n' "$old1" >"$d/repo/src/app.env"
    printf 'token: %s\n' "$old2" >"$d/repo/deploy/ci.yml"

    begin "baseline create: fingerprints and locations, no secret, exit 0"
    in_dir "$d/repo" gks baseline create -o ../base.json
    expect_rc 0
    expect_stdout_empty
    jq -e '.keysift_baseline == 1 and (.findings | length == 2)
           and all(.findings[]; (.fingerprint | test("^[0-9a-f]{32}$"))
                   and .path and .line and .rule_id)' "$d/base.json" \
        >/dev/null || want "baseline shape: $(head -c 200 "$d/base.json")"
    grep -qF -e "${old1:4}" -e "${old2:4}" "$d/base.json" &&
        want "a secret is in the baseline"
    end_case

    begin "baseline create: the same bytes when nothing changed"
    in_dir "$d/repo" gks baseline create
    cmp -s "$out" "$d/base.json" || want "baseline differs on a rerun"
    end_case

    begin "--baseline: nothing new passes, suppressed count reported"
    in_dir "$d/repo" gks scan -f json --baseline ../base.json .
    expect_rc 0
    expect_secrets
    expect_suppressed baseline 2
    in_dir "$d/repo" gks scan --baseline ../base.json .
    grep -q '2 suppressed (2 baseline)' "$err" ||
        want "summary does not count the suppressed: $(tail -n 1 "$err")"
    end_case

    begin "--baseline: one new secret fails with exactly that finding"
    printf 'NEW=%s\n' "$new1" >>"$d/repo/src/app.env"
    in_dir "$d/repo" gks scan -f json --baseline ../base.json .
    expect_rc 1
    expect_secrets "$new1"
    expect_suppressed baseline 2
    end_case

    begin "--baseline: removing it passes again"
    printf 'A=1\nKEY=%s\n' "$old1" >"$d/repo/src/app.env"
    in_dir "$d/repo" gks scan -f json --baseline ../base.json .
    expect_rc 0
    expect_secrets
    end_case

    begin "--baseline: lines inserted above a baselined secret keep it old"
    printf '# config\n\nX=1\nY=2\nA=1\n    KEY=%s\n' "$old1" \
        >"$d/repo/src/app.env"
    in_dir "$d/repo" gks scan -f json --baseline ../base.json .
    expect_rc 0
    expect_secrets
    expect_suppressed baseline 2
    end_case

    begin "--baseline: the secret moved to another file is new"
    mv "$d/repo/src/app.env" "$d/repo/src/moved.env"
    in_dir "$d/repo" gks scan -f json --baseline ../base.json .
    expect_rc 1
    expect_secrets "$old1"
    mv "$d/repo/src/moved.env" "$d/repo/src/app.env"
    end_case

    begin "--baseline: a file that is not a baseline is an error naming it"
    printf '{"findings": []}\n' >"$d/not-base.json"
    in_dir "$d/repo" gks scan --baseline ../not-base.json .
    expect_rc 2
    expect_stdout_empty
    grep -q 'not-base.json: not a keysift baseline' "$err" ||
        want "stderr: $(head -n 1 "$err")"
    end_case
}

# ---- inline allow ------------------------------------------------------

gate_inline_allow() {
    local d=$tmp/gate/allow a b c e

    a=$(gate_token gth allow/a)
    b=$(gate_token gth allow/b)
    c=$(gate_token gth allow/c)
    e=$(gate_token gth allow/e)
    mkdir -p "$d"
    {
        printf 'KEY=%s # keysift:allow\n' "$a"
        printf 'const k = "%s"; // keysift:allow test key\n' "$b"
        printf '<!-- keysift:allow --> <key>%s</key>\n' "$c"
        printf '# keysift:allow (on the line above: does not count)\n'
        printf 'KEY=%s\n' "$e"
    } >"$d/app.txt"
    printf 'COPY=%s\n' "$a" >"$d/other.txt"

    begin "keysift:allow: suppresses the marked lines and nothing else"
    gks scan -f json "$d"
    expect_rc 1
    expect_secrets "$e" "$a"
    expect_suppressed inline_allow 3
    jq -e '.summary.suppressed.total == 3' "$out" >/dev/null ||
        want "suppressed.total is not 3"
    jq -e --arg a "$a" '.findings[] | select(.secret == $a)
                        | .locations | length == 1
                          and (.[0].path | endswith("other.txt"))' \
        "$out" >/dev/null || want "the unmarked copy in other.txt is not reported"
    end_case

    begin "keysift:allow: counted in the text summary"
    gks scan "$d"
    grep -q '3 suppressed (3 inline allow)' "$err" ||
        want "summary: $(grep suppressed "$err")"
    end_case
}

# ---- the project config ------------------------------------------------

gate_config() {
    local d=$tmp/gate/cfg src ven doc low val hash

    src=$(gate_token gth cfg/src)
    ven=$(gate_token gth cfg/vendor)
    doc=$(gate_token gth cfg/doc)
    low=$(gate_token gtl cfg/low)
    val=$(gate_token gth cfg/value)
    hash=$(gate_token gth cfg/hash)
    mkdir -p "$d/repo/src" "$d/repo/vendor/lib" "$d/repo/docs"
    printf 'K=%s\nL=%s\nV=%s\nH=%s\n' "$src" "$low" "$val" "$hash" \
        >"$d/repo/src/app.env"
    printf 'K=%s\n' "$ven" >"$d/repo/vendor/lib/x.env"
    printf 'K=%s\n' "$doc" >"$d/repo/docs/guide.md"

    begin "config: allowed paths suppress those files only"
    printf 'allow-paths: ["vendor/", "*.md"]\n' >"$d/repo/.keysift.yaml"
    gks scan -f json "$d/repo"
    expect_rc 1
    expect_secrets "$src" "$low" "$val" "$hash"
    expect_suppressed allowed_path 2
    end_case

    begin "config: allowed values suppress matching secrets only"
    # A prefix: the whole value in the config would be a finding there.
    printf 'allow-values: ["^%s"]\n' "${val:0:14}" >"$d/repo/.keysift.yaml"
    gks scan -f json "$d/repo"
    expect_secrets "$src" "$low" "$hash" "$ven" "$doc"
    expect_suppressed allowed_value 1
    end_case

    begin "config: allowed secrets by SHA-256 suppress that secret only"
    printf 'allow-secrets: ["sha256:%s"]\n' \
        "$(printf '%s' "$hash" | sha256sum | cut -d' ' -f1)" \
        >"$d/repo/.keysift.yaml"
    gks scan -f json "$d/repo"
    expect_secrets "$src" "$low" "$val" "$ven" "$doc"
    expect_suppressed allowed_secret 1
    end_case

    begin "config: disabled rules suppress that rule's findings only"
    printf 'disable-rules: [gate.low]\n' >"$d/repo/.keysift.yaml"
    gks scan -f json "$d/repo"
    expect_secrets "$src" "$val" "$hash" "$ven" "$doc"
    expect_suppressed disabled_rule 1
    end_case

    begin "config: min-severity leaves lower findings out, counted"
    printf 'min-severity: medium\n' >"$d/repo/.keysift.yaml"
    gks scan -f json "$d/repo"
    expect_secrets "$src" "$val" "$hash" "$ven" "$doc"
    expect_suppressed below_min_severity 1
    end_case

    begin "config: an unknown key is an error naming it and its line"
    printf 'fail-on: high\nallow-path: [vendor/]\n' >"$d/repo/.keysift.yaml"
    gks scan "$d/repo"
    expect_rc 2
    expect_stdout_empty
    grep -qF "$d/repo/.keysift.yaml:2: unknown key 'allow-path'" "$err" ||
        want "stderr: $(head -n 1 "$err")"
    end_case

    begin "config: a disabled rule that names no rule is an error"
    printf 'disable-rules: [gate.nope]\n' >"$d/repo/.keysift.yaml"
    gks scan "$d/repo"
    expect_rc 2
    grep -q "'gate.nope' names no rule" "$err" ||
        want "stderr: $(head -n 1 "$err")"
    end_case

    begin "config: --no-config ignores it, --config FILE names another"
    gks scan -f json --no-config "$d/repo"
    expect_rc 1
    expect_secrets "$src" "$low" "$val" "$hash" "$ven" "$doc"
    printf 'allow-paths: [src/]\n' >"$d/other.yaml"
    gks scan -f json --config "$d/other.yaml" "$d/repo"
    expect_secrets "$ven" "$doc"
    end_case

    begin "config: extra rule files load relative to the config"
    gate_rules | sed 's/gate\./extra./; s/gt\([hlc]\)_/gx\1_/' \
        >"$d/repo/extra.yaml"
    printf 'rules: [extra.yaml]\n' >"$d/repo/.keysift.yaml"
    printf 'X=%s\n' "$(gate_token gxh cfg/extra)" >"$d/repo/src/x.env"
    gks scan -f json "$d/repo"
    jq -e '[.findings[] | select(.rule_id | startswith("extra."))]
           | length == 1' "$out" >/dev/null ||
        want "no finding of the extra rules"
    rm -f "$d/repo/src/x.env" "$d/repo/.keysift.yaml"
    end_case
}

gate_fail_on() {
    local d=$tmp/gate/failon low

    low=$(gate_token gtl failon/low)
    mkdir -p "$d/repo"
    printf 'L=%s\n' "$low" >"$d/repo/a.env"

    begin "--fail-on high: a low finding is reported, exit 0"
    gks scan -f json --fail-on high "$d/repo"
    expect_rc 0
    expect_secrets "$low"
    end_case

    begin "--fail-on low, and the default (any finding): exit 1"
    gks scan -q --fail-on low "$d/repo"
    expect_rc 1
    gks scan -q "$d/repo"
    expect_rc 1
    end_case

    begin "--fail-on on the command line wins over the config's fail-on"
    printf 'fail-on: critical\n' >"$d/repo/.keysift.yaml"
    gks scan -q "$d/repo"
    expect_rc 0
    gks scan -q --fail-on info "$d/repo"
    expect_rc 1
    end_case

    begin "--fail-on: a bad severity is a usage error"
    gks scan --fail-on severe "$d/repo"
    expect_rc 2
    grep -q 'info, low, medium, high or critical' "$err" ||
        want "stderr: $(head -n 1 "$err")"
    end_case
}

# ---- snapshots and diff ------------------------------------------------

gate_snapshots() {
    local d=$tmp/gate/snap new_layer secret

    mkdir -p "$d"
    cp -a "$tmp/gate/img/oci" "$d/oci"
    secret=$(gate_token gth snap/new)

    begin "snapshot: inputs, image and layer digests, rules, findings"
    ks scan -q -f json -o "$d/old-report.json" --snapshot "$d/old.json" \
        --rules "$tmp/gate/rules.yaml" "$d/oci"
    expect_rc 1
    want_none "$(jq -r --slurpfile r "$d/old-report.json" \
        --slurpfile idx "$d/oci/index.json" --arg v "$("$KEYSIFT" version)" \
        --arg in "$d/oci" '
        (select(.keysift_snapshot != 1) | "no format number"),
        (select("keysift \(.tool.version)" != $v) | "tool version"),
        (select(.rules.hash != $r[0].rules_hash) | "rules hash"),
        (select(.inputs != [$in]) | "inputs \(.inputs)"),
        (select(.images[0].manifest_digest != $idx[0].manifests[0].digest)
         | "manifest digest"),
        (select((.images[0].layers | length) != 4) | "layer digests"),
        (select(.findings != $r[0].findings) | "findings differ from -f json"),
        (select(.created | test("^[0-9-]{10}T[0-9:]{8}Z$") | not)
         | "created \(.created)")' "$d/old.json" 2>&1)"
    cp "$d/old.json" "$out"
    expect_no_leak
    end_case

    begin "diff: a layer added with a secret is exactly one new finding"
    new_layer=$(add_layer "$d/oci" app/conf/new.env "TOKEN=$secret
")
    ks scan -q --snapshot "$d/new.json" --rules "$tmp/gate/rules.yaml" \
        "$d/oci"
    expect_rc 1
    ks diff -f json "$d/old.json" "$d/new.json"
    expect_rc 1
    want_none "$(jq -r --arg s "${secret:0:4}" --arg l "$new_layer" '
        (select((.new | length) != 1) | "\(.new | length) new, want 1"),
        (.new[] | select(.rule_id != "gate.high"
                         or .location.layer_index != 4
                         or .location.path != "app/conf/new.env"
                         or (.secret | startswith($s) | not))
         | "new: \(.rule_id) \(.location.path)"),
        (select((.resolved | length) != 0) | "resolved is not empty"),
        (select(.unchanged < 5) | "unchanged \(.unchanged)"),
        (select(.images[0].change != "changed"
                or .images[0].layers_added != [$l])
         | "image change: \(.images)")' "$out" 2>&1)"
    end_case

    begin "diff, text: the new finding and the layer; reversed: resolved"
    ks diff "$d/old.json" "$d/new.json"
    expect_rc 1
    grep -q '^new \[high\] Gate high token (gate.high)$' "$out" ||
        want "no 'new' line: $(head -n 1 "$out")"
    grep -qF "layer added:   $new_layer" "$out" || want "no layer line"
    grep -q '1 new, 0 resolved' "$err" || want "summary: $(cat "$err")"
    ks diff -q "$d/new.json" "$d/old.json"
    expect_rc 0
    grep -q '^resolved \[high\]' "$out" || want "no 'resolved' line"
    ks diff -q "$d/new.json" "$d/new.json"
    expect_rc 0
    expect_stdout_empty
    end_case

    begin "diff: a file that is not a snapshot is an error naming it"
    ks diff "$d/old.json" "$d/old-report.json"
    expect_rc 2
    grep -q 'old-report.json: not a keysift snapshot' "$err" ||
        want "stderr: $(head -n 1 "$err")"
    ks diff "$d/old.json"
    expect_rc 2
    end_case
}

# ---- only what a change adds -------------------------------------------

gate_changes() {
    local d=$tmp/gate/git old new marked

    old=$(gate_token gth git/old)
    new=$(gate_token gth git/new)
    marked=$(gate_token gth git/marked)
    if ! command -v git >/dev/null; then
        begin "--staged: git is installed"
        want "git is not installed (make deps installs it)"
        end_case
        return
    fi
    mkdir -p "$d"
    (
        cd "$d" && git init -q . && git config user.email t@example.com &&
            git config user.name test && git config commit.gpgsign false &&
            printf 'A=1\nOLD=%s\n' "$old" >app.env && git add app.env &&
            git commit -q -m one
    ) || {
        begin "--staged: a git repository is made"
        want "git init or commit failed"
        end_case
        return
    }
    printf '# top\nA=1\nOLD=%s\nNEW=%s\nM=%s # keysift:allow\n' \
        "$old" "$new" "$marked" >"$d/app.env"
    mkdir -p "$d/sub dir"
    head -c 64 /dev/zero >"$d/sub dir/blob.bin"
    (cd "$d" && git add -A)

    begin "--staged: only the added lines, at their lines in the new file"
    in_dir "$d" gks scan -f json --staged
    expect_rc 1
    expect_secrets "$new"
    jq -e '.findings[0].locations[0] | .path == "app.env" and .line == 4
           and .column == 5' "$out" >/dev/null ||
        want "location: $(jq -c '.findings[0].locations[0]' "$out")"
    expect_suppressed inline_allow 1
    end_case

    begin "--diff -: the same from git diff on standard input"
    (cd "$d" && git diff --cached) >"$d/change.diff"
    cp "$out" "$tmp/gate/staged.json"
    in_dir "$d" ks_redirect "$d/change.diff" scan -f json --diff - \
        --rules-only --rules "$tmp/gate/rules.yaml" --show-secrets
    expect_rc 1
    [ "$(gate_secrets)" = "$(gate_secrets "$tmp/gate/staged.json")" ] ||
        want "differs from --staged"
    grep -q "blob.bin: binary change not scanned" "$err" ||
        want "no warning for the binary change"
    end_case

    begin "--staged outside a work tree: an error saying so"
    in_dir "$tmp/gate" gks scan --staged
    expect_rc 2
    grep -q 'not inside a git work tree' "$err" ||
        want "stderr: $(head -n 1 "$err")"
    end_case

    begin "--staged with INPUTs is a usage error"
    gks scan --staged tree
    expect_rc 2
    end_case
}

# The hooks' commands, run as pre-commit would run them.
gate_hooks() {
    local d=$tmp/gate/git entry

    begin "pre-commit: each hook's entry runs and fails on a staged secret"
    [ -s "$GATE_HOOKS" ] || want "no .pre-commit-hooks.yaml"
    for entry in $(awk -F': ' '/^ *entry:/ { gsub(/ /, "+", $2); print $2 }' \
        "$GATE_HOOKS"); do
        entry=${entry//+/ }
        case $entry in keysift\ *) ;; *) want "entry '$entry'" ;; esac
        # shellcheck disable=SC2086  # the entry is split as pre-commit does
        in_dir "$d" ks ${entry#keysift } --rules-only \
            --rules "$tmp/gate/rules.yaml" app.env
        case $entry in
        *--staged*) [ "$rc" -eq 2 ] || want "'$entry FILE' is not refused" ;;
        *) [ "$rc" -eq 1 ] || want "'$entry app.env' exit $rc, want 1" ;;
        esac
        if [ "${entry#*--staged}" != "$entry" ]; then
            # shellcheck disable=SC2086
            in_dir "$d" ks ${entry#keysift } --rules-only \
                --rules "$tmp/gate/rules.yaml"
            [ "$rc" -eq 1 ] || want "'$entry' exit $rc, want 1"
        fi
    done
    grep -q 'id: keysift$' "$GATE_HOOKS" || want "no hook with id keysift"
    end_case
}

# ---- the compiled-rules cache ------------------------------------------

# Every run here compiles the default rules, minutes each under valgrind:
# under a wrapper these runs are of the bare binary, and test_db_cache
# runs the cache's code under valgrind instead.
gate_cache() {
    local c=$tmp/gate/race-cache file files
    local KEYSIFT=$KEYSIFT_BIN

    begin "cache: a corrupt cache file is ignored, rebuilt, same findings"
    KEYSIFT_CACHE_DIR=$c ks scan -f json tree
    # One file per compiled database group (all rules, filtered, paths).
    files=$(find "$c" -type f | wc -l)
    file=$(find "$c" -name '*.hsdb' | head -n 1)
    if [ -z "$file" ]; then
        want "no cache file written in $c"
    else
        gate_untimed "$out" >"$tmp/gate/cold.json"
        printf 'not a database' | dd of="$file" bs=1 seek=20 conv=notrunc \
            2>/dev/null
        cp "$file" "$tmp/gate/corrupt.hsdb"
        KEYSIFT_CACHE_DIR=$c ks scan -f json tree
        expect_rc 1
        cmp -s <(gate_untimed "$out") "$tmp/gate/cold.json" ||
            want "findings changed with a corrupt cache"
        cmp -s "$file" "$tmp/gate/corrupt.hsdb" &&
            want "the corrupt file was not replaced"
        KEYSIFT_CACHE_DIR=$c ks scan -f json --no-cache tree
        cmp -s <(gate_untimed "$out") "$tmp/gate/cold.json" ||
            want "--no-cache gives other findings"
    fi
    end_case

    begin "cache: two cold runs racing both succeed and leave one copy"
    rm -rf "$c"
    for n in 1 2; do
        KEYSIFT_CACHE_DIR=$c timeout -k 5 "$KS_TIMEOUT" "$KEYSIFT" scan \
            -f json tree >"$tmp/gate/race$n.json" 2>/dev/null &
    done
    wait
    for n in 1 2; do
        cmp -s <(gate_untimed "$tmp/gate/race$n.json") \
            "$tmp/gate/cold.json" || want "racing run $n: other findings"
    done
    [ "$(find "$c" -type f | wc -l)" -eq "$files" ] ||
        want "cache holds: $(find "$c" -type f -printf '%f '), want $files files"
    end_case
}
