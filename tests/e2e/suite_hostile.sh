# shellcheck shell=bash
#
# End-to-end cases for hostile input: archives, streams, trees and images
# crafted to crash the scanner, hang it, exhaust its memory, lead it out of
# what it was pointed at or stop a bulk run. Sourced by run.sh, whose
# helpers it uses; E2E_ONLY=hostile runs it alone.
#
# Every case scans the hostile input beside a good one (good.tar.gz, the
# generated layer with its planted secrets) and checks, besides the
# command's exit status and message:
#
#   - the good input's GitHub token is still reported, at good.tar.gz;
#   - peak RSS stays under 300 MB (/usr/bin/time -f %M);
#   - every diagnostic is one "keysift: error|warning: WHERE: MESSAGE" line.
#
# Limits reached are warnings, which leave the exit status alone: such a
# case exits 1, for the good input's findings. Bad input is an error on
# that input: exit 2.
#
# Covered elsewhere, and not repeated here: a truncated tar.gz beside a
# tree (run.sh, "good and bad inputs together"); corrupt gzip and a
# truncated zstd alone (suite_perf.sh); a FIFO in a tree and symlinks out
# of a tree and in a loop (run.sh, test_hostile_dirs); missing blobs,
# digest mismatches, missing manifests and an index.json that is not JSON
# (suite_images.sh, "broken images").
#
# Fixtures are made at test time under $tmp/hostile; the 20 GiB bomb is
# 1280 copies of one gzip member of 16 MiB of zeros, about 20 MB on disk.
# HOSTILE_RSS_LOG=FILE appends each case's peak RSS (KiB) and name to FILE.

HOSTILE_RSS_LIMIT_KIB=$((300 * 1000))
# The long line: 200 MB, or 16 MiB under a wrapper (valgrind is slow).
HOSTILE_LINE_BYTES=$([ -n "$KEYSIFT_WRAP" ] && echo 16777216 || echo 209715200)

# hostile_run ARGS...: `keysift scan -f json --show-secrets ARGS...
# good.tar.gz` under /usr/bin/time, from $tmp/hostile; peak RSS in
# $hrss.
hostile_run() {
    local dir=$tmp/hostile

    limit=$KS_TIMEOUT
    (cd "$dir" && timeout -k 5 "$KS_TIMEOUT" /usr/bin/time -f %M \
        -o "$dir/rss" "$KEYSIFT" scan -f json --show-secrets "$@" \
        good.tar.gz) </dev/null >"$out" 2>"$err"
    rc=$?
    hrss=$(tail -n 1 "$dir/rss" 2>/dev/null)
}

# The checks every case shares (see the top of this file).
hostile_common() {
    [ -z "${HOSTILE_RSS_LOG:-}" ] ||
        printf '%s\t%s\n' "${hrss:-?}" "$name" >>"$HOSTILE_RSS_LOG"
    expect_diag_format
    # Under KEYSIFT_WRAP (valgrind) the peak would be the wrapper's.
    if [ -n "$KEYSIFT_WRAP" ]; then
        :
    elif [ -z "$hrss" ] || ! [ "$hrss" -lt "$HOSTILE_RSS_LIMIT_KIB" ] 2>/dev/null; then
        want "peak RSS ${hrss:-unknown} KiB, limit $HOSTILE_RSS_LIMIT_KIB KiB"
    fi
    jq -e --arg t "$github_token" '[.findings[] | select(.secret == $t)
        | .locations[] | select(.input == "good.tar.gz")] | length > 0' \
        "$out" >/dev/null 2>&1 || want "the good input was not scanned"
}

# expect_err REGEX: a stderr line matches (grep -E).
expect_err() {
    grep -Eq -- "$1" "$err" || want "no stderr line matching '$1'$(stderr_hint)"
}

# expect_found SECRET WHERE: SECRET is reported at chain WHERE (" / ").
expect_found() {
    jq -e --arg s "$1" --arg w "$2" '[.findings[] | select(.secret == $s)
        | .locations[] | select(.chain | join(" / ") == $w)] | length > 0' \
        "$out" >/dev/null 2>&1 || want "$1 not reported at $2"
}

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

# A tar made by Python's tarfile, so that names and links can be anything.
# Arguments: OUTPUT, then NAME=CONTENT, NAME<FILE (content from FILE),
# NAME->TARGET (symlink) or NAME=>TARGET (hard link) members; NAME and
# CONTENT take \x and \n escapes.
hostile_tar() {
    python3 - "$@" <<'EOF'
import io, sys, tarfile

def raw(s):
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")

# GNU format with latin-1 keeps every name byte as it is given (PAX
# would store names that are not ASCII as UTF-8).
with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT,
                  encoding="latin-1") as t:
    for spec in sys.argv[2:]:
        for sep, kind in (("=>", tarfile.LNKTYPE), ("->", tarfile.SYMTYPE),
                          ("<", "file"), ("=", tarfile.REGTYPE)):
            if sep in spec:
                name, value = spec.split(sep, 1)
                break
        info = tarfile.TarInfo(raw(name).decode("latin-1"))
        if kind in (tarfile.REGTYPE, "file"):
            data = raw(value) if kind != "file" else open(value, "rb").read()
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        else:
            info.type = kind
            info.linkname = value
            t.addfile(info)
EOF
}

# The 20 GiB bomb, as a plain gzip stream and as one tar entry in gzip.
hostile_bombs() {
    local dir=$1 i

    head -c 16777216 /dev/zero | gzip -9 -n >"$dir/zeros.gz"
    for i in $(seq 1 1280); do cat "$dir/zeros.gz"; done >"$dir/bomb.gz"
    # A tar header for one 20 GiB file, then the zeros: a tar.gz bomb.
    python3 - "$dir/header.tar" <<'EOF'
import sys, tarfile
info = tarfile.TarInfo("bomb/zeros.bin")
info.size = 1280 * 16777216
with open(sys.argv[1], "wb") as f:
    f.write(info.tobuf(format=tarfile.PAX_FORMAT))
EOF
    { gzip -9 -n -c "$dir/header.tar"; cat "$dir/bomb.gz"; } >"$dir/bomb.tar.gz"
    rm -f "$dir/zeros.gz" "$dir/header.tar"
}

# An archive 50 levels deep: a tar.gz of a tar.gz of ... of a secret.
hostile_nested() {
    local dir=$1 work=$1/nest i

    mkdir -p "$work"
    printf 'token = %s\n' "$github_token" >"$work/level0.txt"
    tar -C "$work" -czf "$work/level1.tar.gz" level0.txt
    for i in $(seq 2 50); do
        tar -C "$work" -czf "$work/level$i.tar.gz" "level$((i - 1)).tar.gz"
    done
    mv "$work/level50.tar.gz" "$dir/nested50.tar.gz"
    rm -rf "$work"
}

# A tar with a damaged header between two sound entries.
hostile_corrupt_tar() {
    local dir=$1

    hostile_tar "$dir/corrupt.tar" \
        "first.env=AWS_ACCESS_KEY_ID=$(cut -f 1 <<<"$aws_id_row")\n" \
        "second.txt=$(printf 'x%.0s' $(seq 1 600))" "third.txt=tail\n"
    # Garbage over the second header, checksum and all.
    printf 'garbage header %.0s' $(seq 1 30) |
        dd of="$dir/corrupt.tar" bs=1 seek=1024 conv=notrunc \
            2>/dev/null
}

hostile_fixtures() {
    local dir=$tmp/hostile

    mkdir -p "$dir"
    cp layer.tar.gz "$dir/good.tar.gz"
    gzip -dc layer.tar.gz | head -c 30000 | gzip -1 >"$dir/truncated.tar.gz"
    zstd -q -c layer.tar | head -c 2000 >"$dir/truncated.tar.zst"
    hostile_corrupt_tar "$dir"
    hostile_bombs "$dir"
    hostile_nested "$dir"
    mkdir -p "$dir/outside"
    printf 'OUTSIDE_TOKEN=%s\n' "$github_token" >"$dir/outside/secret.env"
    hostile_tar "$dir/escape.tar" \
        "../../x=token $github_token\n" \
        "/etc/passwd=token $github_token\n" \
        "link-out->$dir/outside/secret.env" \
        "link-up->../../../../../../etc/shadow" \
        "hard-out=>$dir/outside/secret.env" \
        "hard-etc=>/etc/passwd"
    hostile_tar "$dir/names.tar" \
        "bad-\xff\xfe-name.env=token $github_token\n" \
        "nul\x00tail.env=token $github_token\n" \
        "binary.dat=\x00\x00\xff\xfe token $github_token \x00\xc3\x28\n"
    # A name that would forge a diagnostic line and clear the terminal,
    # on a nested archive that is cut short, so that it is reported.
    hostile_tar "$dir/forge.tar" \
        "x\nkeysift: error: forged\x1b[2J.tar.gz<$dir/truncated.tar.gz"
}

# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

# keysift scan truncated.tar.gz truncated.tar.zst good.tar.gz
#   -> exit 2; an error naming each truncated stream.
hostile_truncated() {
    begin "hostile: truncated gzip and zstd streams: errors naming them, exit 2"
    hostile_run truncated.tar.gz truncated.tar.zst
    expect_rc 2
    expect_err '^keysift: error: truncated\.tar\.gz.*(truncated|corrupt)'
    expect_err '^keysift: error: truncated\.tar\.zst.*(truncated|corrupt)'
    hostile_common
    end_case
}

# A token after 4 KiB of zeros, compressed with xz, bzip2 and lz4 (and
# gzip and zstd, which keysift decompresses itself): keysift scan
# zeros.txt.* good.tar.gz -> exit 1, the token found in each. Zeros at the
# start used to pass for an empty tar, hiding what follows them.
hostile_zero_prefix() {
    local dir=$tmp/hostile c files=()

    { head -c 4096 /dev/zero; printf 'token %s\n' "$github_token"; } \
        >"$dir/zeros.txt"
    for c in xz bzip2 lz4 gzip zstd; do
        command -v "$c" >/dev/null || continue
        "$c" -q -c "$dir/zeros.txt" >"$dir/zeros.txt.$c" && files+=("zeros.txt.$c")
    done

    begin "hostile: streams starting with zeros are scanned, not taken as empty tars"
    hostile_run "${files[@]}"
    expect_rc 1
    for c in "${files[@]}"; do
        expect_found "$github_token" "$c"
    done
    hostile_common
    end_case
}

# keysift scan corrupt.tar good.tar.gz
#   -> exit 2; "corrupt or truncated" naming corrupt.tar; the entry before
#      the damage is still reported.
hostile_corrupt_header() {
    begin "hostile: corrupt tar header: error naming it, earlier entry found, exit 2"
    hostile_run corrupt.tar
    expect_rc 2
    expect_err '^keysift: error: corrupt\.tar.*corrupt or truncated'
    expect_found "$(cut -f 1 <<<"$aws_id_row")" "corrupt.tar / first.env"
    hostile_common
    end_case
}

# keysift scan bomb.gz bomb.tar.gz good.tar.gz
#   -> exit 1; a warning "limit reached: ... (--max-ratio) ..." on each.
hostile_bomb() {
    local input

    begin "hostile: 20 GiB gzip bombs (stream and tar entry) stop at --max-ratio, exit 1"
    hostile_run bomb.gz bomb.tar.gz
    expect_rc 1
    for input in bomb.gz bomb.tar.gz; do
        expect_err "^keysift: warning: ${input//./\\.}.*limit reached: .*--max-ratio"
    done
    hostile_common
    end_case

    # keysift scan --max-ratio 0 --max-bytes 200M bomb.tar.gz good.tar.gz
    #   -> exit 1; a warning naming --max-bytes.
    begin "hostile: the bomb without the ratio stops at --max-bytes, exit 1"
    hostile_run --max-ratio 0 --max-bytes 200M bomb.tar.gz
    expect_rc 1
    expect_err '^keysift: warning: bomb\.tar\.gz / bomb/zeros\.bin: limit '\
'reached: more than 200M bytes'
    expect_err '^keysift: warning: .*--max-bytes'
    hostile_common
    end_case
}

# keysift scan nested50.tar.gz good.tar.gz
#   -> exit 1; one warning naming --max-depth; the innermost secret is not
#      reached (it is compressed 47 levels further in).
hostile_nesting() {
    begin "hostile: archives nested 50 deep: --max-depth warning, exit 1"
    hostile_run nested50.tar.gz
    expect_rc 1
    expect_err '^keysift: warning: nested50\.tar\.gz( / level[0-9]+\.tar\.gz){3}: '\
'limit reached: .*--max-depth'
    [ "$(grep -c 'max-depth' "$err")" -eq 1 ] ||
        want "want one --max-depth warning, got $(grep -c 'max-depth' "$err")"
    hostile_common
    end_case

    # keysift scan --max-depth 22 nested50.tar.gz good.tar.gz
    begin "hostile: archives nested 50 deep, opened 22 levels: no crash, exit 1"
    hostile_run --max-depth 22 nested50.tar.gz
    expect_rc 1
    expect_err '^keysift: warning: nested50\.tar\.gz( / level[0-9]+\.tar\.gz){22}: '\
'limit reached: .*--max-depth'
    hostile_common
    end_case
}

# keysift scan escape.tar good.tar.gz, from a directory of its own
#   -> exit 1; "../../x" and "/etc/passwd" reported as entry names; links
#      neither followed nor created; nothing written anywhere.
hostile_escape() {
    local dir=$tmp/hostile

    begin "hostile: ../../x, /etc/passwd and links out are names, never paths"
    hostile_run escape.tar
    expect_rc 1
    expect_found "$github_token" "escape.tar / ../../x"
    expect_found "$github_token" "escape.tar / /etc/passwd"
    [ "$(jq '[.findings[].locations[] | select(.chain[0] == "escape.tar")]
             | length' "$out")" = 2 ] ||
        want "escape.tar: want exactly the 2 named entries reported"
    grep -q OUTSIDE_TOKEN "$out" && want "a link's target was read"
    [ -e "$tmp/x" ] || [ -e "$dir/../../x" ] && want "../../x was created"
    hostile_common
    end_case
}

# keysift scan names.tar names-dir good.tar.gz
#   -> exit 1; valid JSON whatever the bytes; the token in a file named
#      with invalid UTF-8, and the one among NULs and invalid UTF-8, found.
hostile_names() {
    local dir=$tmp/hostile

    mkdir -p "$dir/names-dir"
    printf 'token %s\n' "$github_token" >"$dir/names-dir/"$'\xff\xfe'".env"
    printf '\0\0\377token %s\0\303\050' "$github_token" >"$dir/names-dir/nul.bin"

    begin "hostile: invalid UTF-8 and NULs in names and contents: found, valid JSON"
    hostile_run names.tar names-dir
    expect_rc 1
    jq -e . "$out" >/dev/null 2>&1 || want "the report is not valid JSON"
    [ "$(jq '[.findings[].locations[] | select(.chain[0] == "names.tar")]
             | length' "$out")" = 3 ] ||
        want "names.tar: want the token in each of its 3 entries"
    [ "$(jq '[.findings[].locations[] | select(.chain[0]
             | startswith("names-dir"))] | length' "$out")" = 2 ] ||
        want "names-dir: want the token in each of its 2 files"
    hostile_common
    end_case

    # keysift scan forge.tar good.tar.gz -> exit 1; a warning on the
    # truncated member whose name, newline and escape, is escaped.
    begin "hostile: a name forging a diagnostic line is escaped on stderr"
    hostile_run forge.tar
    expect_rc 1
    expect_err '^keysift: warning: forge\.tar / x\\nkeysift: error: forged\\x1b'
    grep -q '^keysift: error: forged' "$err" && want "a forged error line"
    grep -q $'\x1b' "$err" && want "an escape byte reached stderr"
    hostile_common
    end_case

    begin "hostile: invalid UTF-8 names in the text report: one line each, exit 1"
    (cd "$dir" && timeout -k 5 "$KS_TIMEOUT" "$KEYSIFT" scan names-dir) \
        </dev/null >"$out" 2>"$err"
    rc=$?
    expect_rc 1
    [ "$(grep -c 'where:' "$out")" -eq 2 ] ||
        want "want 2 where lines, got $(grep -c 'where:' "$out")"
    end_case
}

# A directory with a two-directory symlink loop, /dev/zero and /dev/null
# as device nodes, and a FIFO: keysift scan devices good.tar.gz -> exit 1,
# nothing read from them (a read of the zero device would never end).
hostile_specials() {
    local dir=$tmp/hostile/devices

    begin "hostile: device nodes, FIFOs and symlink loops in a tree are skipped"
    if [ "$(id -u)" -ne 0 ]; then
        skip_case "mknod needs root"
        return
    fi
    mkdir -p "$dir/a" "$dir/b"
    ln -s ../b "$dir/a/to-b"
    ln -s ../a "$dir/b/to-a"
    mknod "$dir/zero" c 1 5
    mknod "$dir/null" c 1 3
    mkfifo "$dir/fifo"
    printf 'plain text\n' >"$dir/a/readme"
    hostile_run -v devices
    expect_rc 1
    expect_err '^keysift: [0-9]+ special files, symlinks and pseudo-filesystems skipped'
    hostile_common
    end_case
}

# A FIFO named as an input, fed without end:
# keysift scan --max-time 2 endless good.tar.gz -> exit 1, a warning naming
# --max-time, the good input scanned.
hostile_endless() {
    local dir=$tmp/hostile writer

    begin "hostile: an endless FIFO named as input stops at --max-time, exit 1"
    rm -f "$dir/endless"
    mkfifo "$dir/endless"
    yes 'an endless line of nothing much' >"$dir/endless" 2>/dev/null &
    writer=$!
    hostile_run --max-time 2 endless
    kill "$writer" 2>/dev/null
    wait "$writer" 2>/dev/null
    expect_rc 1
    expect_err '^keysift: warning: endless: limit reached: more than 2 s .*--max-time'
    hostile_common
    end_case
}

# A file keysift may not read, in a tree and named. Root reads anything,
# so as root the scan runs as nobody (setpriv), in a copy nobody may read.
hostile_unreadable() {
    local dir=$tmp/hostile-perm as=()

    begin "hostile: unreadable files: a warning in a tree, an error when named"
    mkdir -p "$dir/tree"
    cp "$tmp/hostile/good.tar.gz" "$dir/"
    printf 'token %s\n' "$github_token" >"$dir/tree/locked.env"
    printf 'token %s\n' "$github_token" >"$dir/locked.env"
    chmod 000 "$dir/tree/locked.env" "$dir/locked.env"
    if [ "$(id -u)" -eq 0 ]; then
        if ! command -v setpriv >/dev/null ||
            ! setpriv --reuid=65534 --regid=65534 --clear-groups true \
                2>/dev/null; then
            skip_case "root ignores modes and setpriv cannot drop to nobody"
            return
        fi
        # nobody must reach the binary and the fixtures.
        chmod 711 "$tmp"
        chmod 755 "$dir" "$dir/tree"
        chmod 644 "$dir/good.tar.gz"
        as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        if ! "${as[@]}" test -x "$KEYSIFT" || ! "${as[@]}" test -r \
            "$dir/good.tar.gz"; then
            chmod 700 "$tmp"
            skip_case "nobody cannot reach $KEYSIFT or the fixtures"
            return
        fi
    fi
    # The rules compiled beforehand, for nobody to read: compiling them
    # is not what this case measures.
    KEYSIFT_CACHE_DIR=$dir/rules warm_rules
    KEYSIFT_CACHE_DIR=$dir/rules "$KEYSIFT" scan -q /dev/null >/dev/null 2>&1
    chmod -R a+rX "$dir/rules" 2>/dev/null
    (cd "$dir" && HOME=$dir KEYSIFT_CACHE_DIR=$dir/rules timeout -k 5 \
        "$KS_TIMEOUT" /usr/bin/time -f %M -o "$dir/rss" "${as[@]}" \
        "$KEYSIFT" scan -f json --show-secrets tree locked.env \
        good.tar.gz) </dev/null >"$out" 2>"$err"
    rc=$?
    chmod 700 "$tmp"
    hrss=$(tail -n 1 "$dir/rss" 2>/dev/null)
    expect_rc 2
    expect_err '^keysift: warning: tree/locked\.env: cannot open: Permission denied'
    expect_err '^keysift: error: locked\.env: Permission denied'
    hostile_common
    end_case
}

# keysift scan long-line.txt good.tar.gz -> exit 1; the token at the end
# of one 200 MB line is found at line 1 and its real column.
hostile_long_line() {
    local file=$tmp/hostile/long-line.txt

    begin "hostile: a 200 MB single line: token at its end found, exit 1"
    { head -c "$HOSTILE_LINE_BYTES" /dev/zero | tr '\0' a
      printf ' %s\n' "$github_token"; } >"$file"
    hostile_run long-line.txt
    rm -f "$file"
    expect_rc 1
    jq -e --arg t "$github_token" --argjson c $((HOSTILE_LINE_BYTES + 2)) \
        '[.findings[] | select(.secret == $t) | .locations[]
          | select(.input == "long-line.txt" and .line == 1
                   and .column == $c)] | length == 1' "$out" >/dev/null 2>&1 ||
        want "token not at long-line.txt:1:$((HOSTILE_LINE_BYTES + 2))"
    hostile_common
    end_case
}

hostile_entries() {
    local dir=$tmp/hostile i

    # keysift scan --max-entries 1000 many.tar good.tar.gz -> exit 1, a
    # warning naming --max-entries; the entry before the limit found.
    begin "hostile: 3000 entries past --max-entries 1000: warning, exit 1"
    mkdir -p "$dir/many"
    printf 'token %s\n' "$github_token" >"$dir/many/0000.env"
    for i in $(seq 1 2999); do : >"$dir/many/$i"; done
    tar -C "$dir" -cf "$dir/many.tar" many
    rm -rf "$dir/many"
    hostile_run --max-entries 1000 many.tar
    expect_rc 1
    expect_err '^keysift: warning: many\.tar: limit reached: more than 1000 entries .*--max-entries'
    expect_found "$github_token" "many.tar / many/0000.env"
    hostile_common
    end_case
}

# An OCI layout holding one sound image and, beside it in index.json,
# manifests that are huge, nested without end, refer to themselves, or
# nest indexes deeper than keysift follows. Run in a subshell: it sources
# the image helpers.
hostile_images() {
    local dir=$1 work=$tmp/hostile/images-work
    local layer config manifest i child huge self deep bomb

    die() {
        echo "$*" >&2
        exit 1
    }
    # shellcheck source=../images/image_lib.sh
    . "$here/../images/image_lib.sh"
    # descriptor MEDIA-TYPE DIGEST [NAME]: a descriptor of a blob of $dir.
    descriptor() {
        jq -cn --arg mt "$1" --arg d "$2" --arg name "${3:-}" \
            --argjson size "$(size "$dir/blobs/sha256/${2#sha256:}")" \
            '{mediaType: $mt, digest: $d, size: $size}
             + if $name == "" then {} else {annotations:
                 {"org.opencontainers.image.ref.name": $name}} end'
    }

    mkdir -p "$work/root/app"
    printf 'TOKEN=%s\n' "$github_token" >"$work/root/app/.env"
    mk_tar "$work/root" "$work/layer.tar"
    oci_layout "$dir"
    layer=$(oci_blob "$dir" "$work/layer.tar")
    jq -cn --arg l "$layer" '{architecture: "amd64", os: "linux",
        rootfs: {type: "layers", diff_ids: [$l]}}' >"$work/config.json"
    config=$(oci_blob "$dir" "$work/config.json")
    jq -cn --arg mt "$MT_OCI_MANIFEST" \
        --argjson c "$(descriptor "$MT_OCI_CONFIG" "$config")" \
        --argjson l "$(descriptor application/vnd.oci.image.layer.v1.tar \
            "$layer")" \
        '{schemaVersion: 2, mediaType: $mt, config: $c, layers: [$l]}' \
        >"$work/manifest.json"
    manifest=$(oci_blob "$dir" "$work/manifest.json")
    # An image whose one layer is the 20 GiB tar.gz bomb.
    layer=$(oci_blob "$dir" "$tmp/hostile/bomb.tar.gz")
    jq -cn --arg mt "$MT_OCI_MANIFEST" \
        --argjson c "$(descriptor "$MT_OCI_CONFIG" "$config")" \
        --argjson l "$(descriptor "$MT_OCI_GZIP" "$layer")" \
        '{schemaVersion: 2, mediaType: $mt, config: $c, layers: [$l]}' \
        >"$work/bomb.json"
    bomb=$(oci_blob "$dir" "$work/bomb.json")
    # A manifest of 5 MiB (over the 4 MiB a manifest may be).
    { printf '{"schemaVersion":2,"pad":"'; head -c 5242880 /dev/zero |
        tr '\0' x; printf '"}'; } >"$work/huge.json"
    huge=$(oci_blob "$dir" "$work/huge.json")
    # 100000 nested arrays.
    { head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero |
        tr '\0' ']'; } >"$work/deep.json"
    deep=$(oci_blob "$dir" "$work/deep.json")
    # An index listing itself: stored under the digest it names, which
    # its bytes cannot hash to.
    self=sha256:$(printf 'cycle' | sha256sum | cut -c1-64)
    jq -cn --arg mt "$MT_OCI_INDEX" --arg d "$self" \
        '{schemaVersion: 2, manifests: [{mediaType: $mt, digest: $d,
          size: 200}]}' >"$dir/blobs/sha256/${self#sha256:}"
    # Indexes nested six deep, each sound, over the sound manifest.
    child=$(descriptor "$MT_OCI_MANIFEST" "$manifest")
    for i in 1 2 3 4 5 6; do
        jq -cn --argjson m "$child" '{schemaVersion: 2, manifests: [$m]}' \
            >"$work/index$i.json"
        child=$(descriptor "$MT_OCI_INDEX" \
            "$(oci_blob "$dir" "$work/index$i.json")")
    done
    child=$(jq -r .digest <<<"$child")
    {
        descriptor "$MT_OCI_MANIFEST" "$manifest" sound
        descriptor "$MT_OCI_MANIFEST" "$bomb" bomb
        descriptor "$MT_OCI_MANIFEST" "$huge" huge
        descriptor "$MT_OCI_MANIFEST" "$deep" deep
        descriptor "$MT_OCI_INDEX" "$self" cycle
        descriptor "$MT_OCI_INDEX" "$child" nest
    } | jq -cs '{schemaVersion: 2, manifests: .}' >"$dir/index.json"
    rm -rf "$work"
}

hostile_image_cases() {
    # keysift scan images good.tar.gz -> exit 2: "is not valid JSON" (an
    # error) for the nested arrays, "is larger than" the 4 MiB limit for
    # the huge manifest, "nested more than" 4 deep for the index that
    # names itself (its digest is wrong: a warning, followed anyway, and
    # stopped by the depth) and for the six nested indexes; a --max-ratio
    # warning on the bomb layer; the sound image's token found.
    begin "hostile: huge, deep, self-naming, over-nested manifests: errors"
    hostile_run images
    expect_rc 2
    expect_err '^keysift: warning: oci:images:huge: manifest .* is larger than'
    expect_err '^keysift: error: oci:images:deep: manifest .* is not valid JSON'
    expect_err '^keysift: warning: oci:images:cycle: index .* nested more than'
    expect_err '^keysift: warning: oci:images:nest: index .* nested more than'
    expect_err '^keysift: warning: sha256:[0-9a-f]{64} / bomb/zeros\.bin: '\
'limit reached: .*--max-ratio'
    jq -e --arg t "$github_token" '[.findings[] | select(.secret == $t)
        | .locations[] | select(.image != null)] | length >= 1' "$out" \
        >/dev/null 2>&1 || want "the sound image's token was not found"
    hostile_common
    end_case
}

# A rule whose pattern backtracks catastrophically in PCRE2 (the
# lookahead makes Hyperscan take it as a prefilter, so every run of a's
# ending in b is a candidate that PCRE2 must refute), over 2 MB of such
# runs: keysift scan --rules backtrack.yaml runs.txt good.tar.gz -> exit 1
# within the usual time limit, the default rules' findings intact.
hostile_backtracking() {
    local dir=$tmp/hostile

    cat >"$dir/backtrack.yaml" <<'YAML'
rules:
  - id: hostile.backtrack
    name: Nested quantifiers that PCRE2 backtracks through
    pattern: '((a+)+)+b(?=!)'
YAML
    yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab | head -c 2000000 >"$dir/runs.txt"
    warm_rules --rules "$dir/backtrack.yaml"

    begin "hostile: a catastrophically backtracking rule stays bounded, exit 1"
    hostile_run --rules backtrack.yaml runs.txt
    expect_rc 1
    jq -e '[.findings[] | select(.rule_id == "hostile.backtrack")]
           | length == 0' "$out" >/dev/null 2>&1 ||
        want "the backtracking rule reported a finding"
    expect_err '^keysift: warning: runs\.txt: .*backtracking limit'
    hostile_common
    end_case
}

# Snapshot of a tree: every path with type, size, mode, mtime, and the
# hash of every regular file. Root ignores modes, so this, not chmod, is
# what proves nothing was written.
tree_state() {
    (cd "$1" && find . -printf '%p %y %s %m %T@ %l\n' | LC_ALL=C sort &&
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

# The hostile archives and images in a fresh tree made read-only, scanned
# with HOME, TMPDIR, the rules cache and the results cache pointed at
# fresh directories: the tree is unchanged, HOME, TMPDIR and the working
# directory stay empty, and only the report and the two caches are
# written.
hostile_read_only() {
    local dir=$tmp/hostile root=$tmp/ro f
    local before after home=$tmp/ro-home tmpd=$tmp/ro-tmp cwd=$tmp/ro-cwd

    rm -rf "$root" "$home" "$tmpd" "$cwd" "$tmp/ro-out"
    mkdir -p "$root" "$home" "$tmpd" "$cwd" "$tmp/ro-out" "$tmp/ro-rules" \
        "$tmp/ro-layers"
    for f in good.tar.gz truncated.tar.gz truncated.tar.zst corrupt.tar \
        bomb.tar.gz nested50.tar.gz escape.tar names.tar forge.tar many.tar \
        images; do
        [ -e "$dir/$f" ] && cp -a "$dir/$f" "$root/"
    done
    chmod -R a-w "$root"
    before=$(tree_state "$root")
    KEYSIFT_CACHE_DIR=$tmp/ro-rules warm_rules

    begin "hostile: a read-only tree of hostile inputs: nothing written but the report and caches"
    (cd "$cwd" && HOME=$home TMPDIR=$tmpd KEYSIFT_CACHE_DIR=$tmp/ro-rules \
        XDG_CACHE_HOME=$home/.cache timeout -k 5 "$KS_TIMEOUT" \
        "$KEYSIFT" scan -f json -o "$tmp/ro-out/report.json" \
        --cache "$tmp/ro-layers" "$root" "$root/images") </dev/null \
        >"$out" 2>"$err"
    rc=$?
    expect_rc 2
    after=$(tree_state "$root")
    [ "$before" = "$after" ] ||
        want "the tree changed: $(diff <(echo "$before") <(echo "$after") |
            grep '^[<>]' | head -n 2 | paste -sd ' ' -)"
    for f in "$home" "$tmpd" "$cwd"; do
        [ -z "$(ls -A "$f")" ] ||
            want "${f#"$tmp"/} not empty: $(ls -A "$f" | head -n 3 | paste -sd ' ' -)"
    done
    [ "$(ls -A "$tmp/ro-out")" = report.json ] ||
        want "output directory holds $(ls -A "$tmp/ro-out" | paste -sd ' ' -)"
    [ -n "$(ls -A "$tmp/ro-rules")" ] || want "no compiled rules cached"
    [ -n "$(ls -A "$tmp/ro-layers")" ] || want "no layer results cached"
    expect_stdout_empty
    end_case
    chmod -R u+w "$root"
}

# keysift scan --max-ratio -1 good.tar.gz (and the like) -> exit 2, an
# error naming the option and the value, nothing scanned.
hostile_limit_args() {
    local args

    for args in "--max-bytes 12Q" "--max-total-bytes 99999999999999999999" \
        "--max-ratio -1" "--max-entries many" "--max-time 1e3" \
        "--max-path 0" "--block-max 0" "--max-depth 23"; do
        begin "limits: scan ${args% *} '${args#* }' is a usage error, exit 2"
        # shellcheck disable=SC2086  # option and value, split on purpose
        ks scan $args "$tmp/hostile/good.tar.gz"
        expect_rc 2
        expect_stdout_empty
        grep -qF -- "${args% *} wants" "$err" && grep -qF -- "'${args#* }'" \
            "$err" || want "no error naming ${args% *} and its value$(stderr_hint)"
        end_case
    done
}

suite_hostile() {
    local saved=$KS_TIMEOUT hrss=

    begin "hostile: fixtures are made"
    if ! command -v python3 >/dev/null; then
        want "python3 is needed to craft tar archives"
    elif ! hostile_fixtures >"$tmp/hostile-fixtures.log" 2>&1; then
        want "making them failed: $(tail -n 1 "$tmp/hostile-fixtures.log")"
    elif ! (hostile_images "$tmp/hostile/images") \
        >"$tmp/hostile-fixtures.log" 2>&1; then
        want "making the images failed: $(tail -n 1 "$tmp/hostile-fixtures.log")"
    fi
    end_case
    [ -z "$why" ] || return

    hostile_truncated
    hostile_corrupt_header
    hostile_zero_prefix
    hostile_bomb
    hostile_nesting
    hostile_escape
    hostile_names
    hostile_specials
    hostile_endless
    hostile_unreadable
    hostile_long_line
    hostile_entries
    hostile_image_cases
    hostile_backtracking
    hostile_read_only
    hostile_limit_args
    KS_TIMEOUT=$saved
}
