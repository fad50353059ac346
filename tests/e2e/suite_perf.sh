# shellcheck shell=bash
# End-to-end cases for the fast paths: in-process gzip and zstd, entries
# handed between workers by reference, several layers at once, and the
# rules export and profile commands. Sourced by run.sh.
#
# The speed of these paths is measured by `make bench`; here they must
# only give exactly the findings the plain paths give.

# A tree of files big enough to cross the reader's 4 MiB blocks many
# times, with AWS key ids planted at varied offsets, packed as tar, two
# gzip members, zstd, and a corrupt and a truncated copy.
perf_fixtures() {
    local dir=$tmp/perf i size
    mkdir -p "$dir/tree/d1" "$dir/tree/d2"
    for i in $(seq 1 60); do
        size=$(( (i * 7919 % 97 + 1) * 2048 ))
        [ $((i % 20)) -eq 0 ] && size=$((4 * 1048576 + i * 1000))
        {
            yes "ordinary line $i of text, nothing to see here" |
                head -c "$size"
            printf '\naws_access_key_id = AKIA%s\n' "$(printf 'k%s' "$i" |
                sha256sum | tr 'a-f0-9' 'QRSTUVWXYZ234567' | cut -c1-16)"
            yes "more text after the key in file $i" | head -c $((size / 3))
        } > "$dir/tree/d$((i % 2 + 1))/file$i.txt"
    done
    # One file past the 8 MiB block size, so it is streamed.
    { yes "a long file" | head -c 9437184
      printf '\ntoken AKIAQ3XW7RTZ5YUVK2MP here\n'; } > "$dir/tree/d1/big.txt"
    tar -C "$dir/tree" -cf "$dir/all.tar" .
    local half=$(( $(stat -c %s "$dir/all.tar") / 2 ))
    { head -c "$half" "$dir/all.tar" | gzip -1
      tail -c +"$((half + 1))" "$dir/all.tar" | gzip -1; } > "$dir/two-members.tar.gz"
    gzip -1 -c "$dir/all.tar" > "$dir/all.tar.gz"
    zstd -q -1 -c "$dir/all.tar" > "$dir/all.tar.zst"
    cp "$dir/all.tar.gz" "$dir/damaged.tar.gz"
    printf '\377\377\377\377\377\377\377\377' |
        dd of="$dir/damaged.tar.gz" bs=1 seek=5000 conv=notrunc 2>/dev/null
    # A gzip header, then bytes no deflate stream starts with.
    printf '\037\213\010\000\000\000\000\000\000\003\377\377\377\377' \
        > "$dir/corrupt.gz"
    head -c $(( $(stat -c %s "$dir/all.tar.zst") / 2 )) "$dir/all.tar.zst" \
        > "$dir/truncated.tar.zst"
    # A pre-POSIX tar has no magic, only a header checksum.
    tar -C "$dir/tree" --format=v7 -cf - d2/file1.txt | gzip -1 \
        > "$dir/v7.tar.gz"
}

# Findings as "secret path line column", sorted; archive paths lose
# their leading "./" and the archive name, so every form compares equal.
perf_findings() {
    jq -r '.findings[] | .secret as $s | .locations[]
           | "\($s) \(.chain[-1] | sub("^\\./"; "") |
                    sub("^.*/perf/tree/"; "")) \(.line) \(.column)"' \
        "$out" | sort
}

suite_perf() {
    local dir=$tmp/perf want_list got
    perf_fixtures

    begin "perf: the tree, read one file per worker, is the reference"
    ks scan -f json --show-secrets -j2 "$dir/tree"
    expect_rc 1
    perf_findings > "$tmp/perf-want"
    [ "$(wc -l < "$tmp/perf-want")" -eq 61 ] ||
        want "$(wc -l < "$tmp/perf-want") findings, want 61"
    end_case
    want_list=$(cat "$tmp/perf-want")

    for input in all.tar all.tar.gz two-members.tar.gz all.tar.zst; do
        for j in 1 2; do
            begin "perf: $input at -j$j gives the tree's findings"
            ks scan -f json --show-secrets -j"$j" "$dir/$input"
            expect_rc 1
            got=$(perf_findings)
            [ "$got" = "$want_list" ] ||
                want "findings differ: $(diff <(echo "$want_list") \
                    <(echo "$got") | head -3 | tr '\n' ' ')"
            end_case
        done
    done

    begin "perf: a pre-POSIX tar in gzip is read as a tar"
    ks scan -f json "$dir/v7.tar.gz"
    expect_rc 1
    jq -e '.findings[0].locations[0].chain[-1] == "d2/file1.txt"' "$out" \
        >/dev/null || want "not located in d2/file1.txt$(stderr_hint)"
    end_case

    begin "perf: corrupt gzip: error names the input and the damage"
    ks scan "$dir/corrupt.gz"
    expect_rc 2
    grep -q "^keysift: error: $dir/corrupt.gz: .*gzip data is corrupt" \
        "$err" || want "no 'gzip data is corrupt' error$(stderr_hint)"
    end_case

    begin "perf: damaged tar.gz: error names the input, the rest is read"
    ks scan "$dir/damaged.tar.gz" "$dir/all.tar"
    expect_rc 2
    grep -q "^keysift: error: $dir/damaged.tar.gz.*corrupt or truncated" \
        "$err" || want "no error naming damaged.tar.gz$(stderr_hint)"
    [ "$(sed -n 's/^keysift: \([0-9]*\) findings.*/\1/p' "$err")" -ge 61 ] ||
        want "all.tar was not scanned in full$(stderr_hint)"
    end_case

    begin "perf: truncated zstd: error says truncated, earlier files found"
    ks scan -f json --show-secrets "$dir/truncated.tar.zst"
    expect_rc 2
    grep -q "zstd stream is truncated" "$err" ||
        want "no 'zstd stream is truncated' error$(stderr_hint)"
    [ "$(jq '.findings | length' "$out")" -gt 0 ] ||
        want "no findings from the part before the cut"
    end_case

    suite_perf_export
    suite_perf_profile
}

suite_perf_export() {
    local dir=$tmp/perf

    begin "perf: rules export --format yara: one rule each, all compile"
    ks rules export --format yara -o "$tmp/rules.yar"
    expect_rc 0
    grep -q '^keysift: exported [0-9]* of [0-9]* rules; skipped [0-9]* ' \
        "$err" || want "no export summary on stderr$(stderr_hint)"
    if command -v yara >/dev/null; then
        yara -w -r "$tmp/rules.yar" "$dir/tree" > "$tmp/yara.out" 2>&1 ||
            want "yara rejects the export: $(head -c 200 "$tmp/yara.out")"
        grep -q '^keysift_aws_access_key_id ' "$tmp/yara.out" ||
            want "yara did not find the planted AWS key ids"
    fi
    end_case

    begin "perf: rules export --format rg: ripgrep takes every pattern"
    ks rules export --format rg
    expect_rc 0
    [ "$(head -c 5 "$out")" = "(?-u)" ] || want "patterns are not byte-wise"
    if command -v rg >/dev/null; then
        cp "$out" "$tmp/rules.rg"
        rg -c --regex-size-limit 1G --dfa-size-limit 1G -f "$tmp/rules.rg" \
            "$dir/tree/d1/file2.txt" > "$tmp/rg.out" 2>&1 ||
            want "ripgrep rejects the export: $(head -c 200 "$tmp/rg.out")"
    fi
    end_case

    begin "perf: rules export without --format: exit 2 with the choices"
    ks rules export
    expect_rc 2
    grep -q -- '--format yara or --format rg' "$err" ||
        want "no hint naming the formats$(stderr_hint)"
    end_case
}

suite_perf_profile() {
    local dir=$tmp/perf n
    # Two families keep the per-rule passes quick under the sanitizers.
    local rules=(--rules-only --rules "$root/patterns/aws.yaml"
                 --rules "$root/patterns/github.yaml")

    n=$(cat "$root/patterns/aws.yaml" "$root/patterns/github.yaml" |
        grep -c '^ *- id:')
    begin "perf: rules profile: shares, candidates and findings per rule"
    ks rules profile "${rules[@]}" --top 0 -f json "$dir/tree/d2"
    expect_rc 0
    jq -e --argjson n "$n" '(.rules | length) == $n and
           ([.rules[].share] | add) > 0.99 and
           ([.rules[].share] | add) < 1.01 and
           (.rules[] | select(.id == "aws.access-key-id") |
            .findings == 30 and .candidates >= 30)' \
        "$out" >/dev/null ||
        want "profile JSON is wrong: $(head -c 200 "$out")"
    end_case

    begin "perf: rules profile text: the costliest first, --top cuts"
    ks rules profile "${rules[@]}" --top 5 "$dir/tree/d2"
    expect_rc 0
    [ "$(grep -c '%' "$out")" -eq 5 ] ||
        want "want 5 rule rows$(stderr_hint)"
    grep -q 'more rules; --top 0 shows all' "$out" ||
        want "no note about the rules left out"
    end_case

    begin "perf: rules profile with no corpus: exit 2 with a hint"
    ks rules profile
    expect_rc 2
    grep -q "wants a corpus" "$err" || want "no hint$(stderr_hint)"
    end_case
}
