# shellcheck shell=bash
#
# End-to-end cases for registry-scale scans: the plan of a store, shards
# merged back into one report, the layer results cache across an
# interrupted run, and the progress line. Sourced by run.sh, whose helpers
# it uses.
#
# The store comes from tests/images/make_store.sh: 50 repositories on
# three shared base layers and six shared runtime layers, some images
# deleting a base layer's secret with a whiteout, so merging shards must
# see deletions made by layers another shard read.

STORE_SCRIPT=$here/../images/make_store.sh

# "DIGEST REF INDEX" for every layer use in a registry store, read
# straight from its tags and manifests (single-platform images).
store_uses() {
    local root=$1 v2=$1/docker/registry/v2 link repo tag hex

    find "$v2/repositories" -path '*/_manifests/tags/*/current/link' |
        sort | while read -r link; do
        repo=${link#"$v2/repositories/"}
        repo=${repo%%/_manifests/*}
        tag=${link%/current/link}
        tag=${tag##*/}
        hex=$(cut -d: -f2 <"$link")
        jq -r --arg ref "registry-store:$root/$repo:$tag" \
            '.layers | to_entries[] | "\(.value.digest) \($ref) \(.key)"' \
            "$v2/blobs/sha256/${hex:0:2}/$hex/data"
    done | sort
}

# The findings of a JSON report, in a form two reports can be compared by.
findings_of() {
    jq -S '.findings' "$1"
}

cache_entries() {
    find "$1" -name '*.json' 2>/dev/null | wc -l
}

suite_scale() {
    local st=$tmp/scale

    begin "scale: a store of 50 repositories on shared layers is assembled"
    bash "$STORE_SCRIPT" "$st" 50 6 >"$out" 2>"$err" ||
        want "make_store.sh failed: $(tail -n 1 "$err")"
    end_case
    [ -z "$why" ] || return

    ks scan -f json --show-secrets -j1 "$st/store"
    cp "$out" "$tmp/scale-one.json"

    scale_plan "$st"
    scale_shards "$st"
    scale_merge_errors "$st"
    scale_cache "$st"
    scale_progress "$st"
}

scale_plan() {
    local st=$1 want_uses got_uses

    begin "plan: every unique layer once, with every image and index using it"
    ks plan "$st/store"
    expect_rc 0
    want_uses=$(store_uses "$st/store")
    got_uses=$(jq -r 'select(.type == "layer") | .digest as $d
                      | .used_by[] | "\($d) \(.image) \(.layer_index)"' \
        "$out" | sort)
    [ "$want_uses" = "$got_uses" ] ||
        want "layer uses differ from the manifests': $(diff \
            <(echo "$want_uses") <(echo "$got_uses") | grep '^[<>]' |
            head -n 2 | tr '\n' ' ')"
    [ "$(jq -r 'select(.type == "layer") | .digest' "$out" | sort -u |
        wc -l)" = "$(grep '^layers ' "$st/store.txt" | cut -d' ' -f2)" ] ||
        want "unique layer count differs from the store's"
    [ "$(jq -r 'select(.type == "layer") | .digest' "$out" | wc -l)" = \
        "$(jq -r 'select(.type == "layer") | .digest' "$out" | sort -u |
            wc -l)" ] || want "a layer is listed twice"
    jq -r 'select(.type == "layer") | .digest' "$out" | sort -c 2>/dev/null ||
        want "layers are not in digest order"
    [ "$(jq -c 'select(.type == "config")' "$out" | wc -l)" = 55 ] ||
        want "not one line per image config"
    ks plan "$st/store"
    cp "$out" "$tmp/plan-a"
    ks plan "$st/store"
    cmp -s "$out" "$tmp/plan-a" || want "two plans of one store differ"
    end_case

    begin "plan --shard K/N: the four shards partition the layers"
    for k in 0 1 2 3; do
        ks plan --shard "$k/4" "$st/store"
        jq -r --argjson k "$k" 'select(.type == "layer")
            | if .shard == $k then .digest else "WRONG \(.digest)" end' \
            "$out"
    done | sort >"$tmp/plan-shards"
    grep -q WRONG "$tmp/plan-shards" && want "a line is in the wrong shard"
    [ "$(cat "$tmp/plan-shards")" = "$(jq -r 'select(.type == "layer")
        | .digest' "$tmp/plan-a")" ] ||
        want "the shards' layers are not exactly the store's"
    end_case
}

scale_shards() {
    local st=$1 k

    begin "4 shards merged: the findings of one unsharded scan, deletions too"
    for k in 0 1 2 3; do
        ks scan --shard "$k/4" -o "$tmp/shard-$k.jsonl" "$st/store"
        [ "$rc" -eq 0 ] || want "shard $k exit $rc$(stderr_hint)"
        expect_stdout_empty
    done
    ks merge -f json --show-secrets "$tmp"/shard-{0,1,2,3}.jsonl
    expect_rc 1
    [ "$(findings_of "$out")" = "$(findings_of "$tmp/scale-one.json")" ] ||
        want "merged findings differ: $(diff <(findings_of \
            "$tmp/scale-one.json") <(findings_of "$out") | grep '^[<>]' |
            head -n 3 | tr '\n' ' ' | cut -c 1-200)"
    jq -e '[.findings[].locations[] | select(.deleted)] | length > 0' \
        "$out" >/dev/null || want "no deleted finding in the merged report"
    jq -e --slurpfile one "$tmp/scale-one.json" \
        '.summary.layers_scanned == $one[0].summary.layers_scanned
         and .summary.images == $one[0].summary.images' "$out" >/dev/null ||
        want "merged stats $(jq -c '.summary | {images, layers_scanned}' \
            "$out") differ from one scan's"
    end_case

    begin "shards share no layer: each distinct layer is read by one shard"
    for k in 0 1 2 3; do
        jq -r 'select(.record == "layer") | .digest' "$tmp/shard-$k.jsonl"
    done | sort >"$tmp/shard-layers"
    [ "$(sort -u "$tmp/shard-layers" | wc -l)" = "$(wc -l \
        <"$tmp/shard-layers")" ] || want "a layer was read by two shards"
    [ "$(wc -l <"$tmp/shard-layers")" = "$(grep '^layers ' \
        "$st/store.txt" | cut -d' ' -f2)" ] ||
        want "$(wc -l <"$tmp/shard-layers") layers read, want every one"
    end_case
}

scale_merge_errors() {
    local st=$1

    begin "merge: a missing shard, a damaged file and other rules are errors"
    ks merge -f json "$tmp"/shard-{0,1,2}.jsonl
    expect_rc 2
    grep -q "no results in the merged files (is a shard's output missing?)" \
        "$err" || want "no error for the missing shard$(stderr_hint)"
    head -c 2000 "$tmp/shard-3.jsonl" >"$tmp/torn.jsonl"
    ks merge -f json "$tmp"/shard-{0,1,2}.jsonl "$tmp/torn.jsonl"
    expect_rc 2
    grep -q "^keysift: error: $tmp/torn.jsonl: line [0-9]*: not JSON" "$err" ||
        want "no error naming the torn file and line$(stderr_hint)"
    ks merge --rules-only --rules "$tmp/fx/rules/one.yaml" \
        "$tmp/shard-0.jsonl"
    expect_rc 2
    grep -q "made with other rules" "$err" ||
        want "no error for records of other rules$(stderr_hint)"
    ks merge -j 2 "$tmp/shard-0.jsonl"
    expect_rc 2
    ks scan --shard 4/4 "$st/store"
    expect_rc 2
    ks scan --shard 0/2 -f sarif "$st/store"
    expect_rc 2
    end_case
}

scale_cache() {
    local st=$1 cache=$tmp/scale-cache pid entries total

    begin "cache: a killed scan's finished layers are not read again"
    total=$(grep '^layers ' "$st/store.txt" | cut -d' ' -f2)
    "$KEYSIFT" scan -q -j1 --cache "$cache" -o "$tmp/killed.json" \
        "$st/store" 2>/dev/null &
    pid=$!
    for _ in $(seq "$(slow 2000)"); do
        [ "$(cache_entries "$cache")" -ge 1 ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.005
    done
    kill -STOP "$pid" 2>/dev/null
    entries=$(cache_entries "$cache")
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ "$entries" -lt 1 ] || [ "$entries" -ge "$total" ]; then
        want "could not stop the scan part-way ($entries of $total layers" \
            "were done)"
    fi
    ks scan -f json --show-secrets -j1 --cache "$cache" "$st/store"
    expect_rc 1
    jq -e --argjson c "$entries" --argjson t "$total" \
        '.summary.layers_cached == $c and .summary.layers_scanned == $t - $c' \
        "$out" >/dev/null ||
        want "rerun $(jq -c '.summary | {layers_cached, layers_scanned}' \
            "$out"), want $entries from the cache, $((total - entries)) read"
    [ "$(findings_of "$out")" = "$(findings_of "$tmp/scale-one.json")" ] ||
        want "findings differ from an uninterrupted scan's"
    end_case

    begin "cache: a damaged entry is read again; a full cache reads nothing"
    find "$cache" -name '*.json' | head -n 1 | xargs -r truncate -s 10
    ks scan -f json --show-secrets --cache "$cache" "$st/store"
    jq -e '.summary.layers_scanned == 1' "$out" >/dev/null ||
        want "$(jq '.summary.layers_scanned' "$out") layers read after one" \
            "entry was damaged, want 1"
    [ "$(findings_of "$out")" = "$(findings_of "$tmp/scale-one.json")" ] ||
        want "findings differ after the damaged entry"
    ks scan -f json --show-secrets --cache "$cache" "$st/store"
    jq -e --argjson t "$total" '.summary.layers_scanned == 0
        and .summary.layers_cached == $t' "$out" >/dev/null ||
        want "a full cache still read $(jq '.summary.layers_scanned' "$out")"
    ks scan -f json --show-secrets --cache "$cache" --max-depth 1 \
        "$st/store"
    jq -e '.summary.layers_cached == 0' "$out" >/dev/null ||
        want "entries made with --max-depth 3 served a --max-depth 1 scan"
    [ "$(stat -c %a "$cache")" = 700 ] || want "cache directory not 0700"
    [ -z "$(find "$cache" -type f ! -perm 600)" ] ||
        want "cache entries not mode 0600"
    end_case
}

scale_progress() {
    local st=$1 log=$tmp/progress.log

    begin "progress: a live line on a terminal, erased at the end; none in pipes"
    if ! command -v script >/dev/null; then
        skip_case "script (util-linux) is not installed"
        return
    fi
    # Standard input, last, arrives a second late (scaled, so that the
    # layers are done by then under valgrind too): the line must keep
    # moving while nothing finishes.
    script -qfec "sh -c '(sleep $(slow 1); echo late) | $KEYSIFT scan -j1 \
        -o /dev/null $st/store -'" "$log" >/dev/null 2>&1
    [ "$(grep -o $'\r\e\\[Kkeysift: [0-9]*/[0-9]* layers' "$log" |
        wc -l)" -ge 5 ] || want "the progress line was not redrawn while" \
            "the scan waited"
    grep -q $'\r\e\\[Kkeysift: 64/64 layers' "$log" ||
        want "no progress line shows every layer done"
    # The last progress line is erased before the summary is written.
    tr '\r' '\n' <"$log" | grep -v '^$' | grep -a 'keysift:' | tail -n 3 |
        grep -q 'layers,' && want "a progress line is left on the screen"
    grep -qa 'findings\? (' "$log" || want "no summary after the progress"
    ks scan -j1 -o /dev/null "$st/store"
    grep -q $'\e\\[K' "$err" && want "progress bytes in piped stderr"
    ks scan -j1 --progress -q -o /dev/null "$st/store"
    [ -s "$err" ] && want "-q still draws: $(head -c 60 "$err")"
    (sleep 1; echo late) | timeout -k 5 "$KS_TIMEOUT" "$KEYSIFT" scan -j1 \
        --progress -o /dev/null "$st/store" - 2>"$err"
    grep -q '^keysift: progress: [0-9]*/[0-9]* layers' "$err" ||
        want "--progress wrote no plain progress line to a pipe"
    grep -q $'\e' "$err" && want "--progress on a pipe wrote escapes"
    end_case
}
