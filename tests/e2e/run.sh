#!/usr/bin/env bash
#
# End-to-end tests of the keysift command.
#
#     KEYSIFT=build/keysift MAKE_FIXTURES=build/make_fixtures tests/e2e/run.sh
#
# Both default to the build/ directory of the checkout holding this script.
# Cases of one area each are in suite_*.sh beside this file (see the end).
# E2E_BIG=1 adds the 2 GiB streaming tests (they need about 3 GB of disk
# for the file case, which is skipped when there is less).
#
# Fixtures are generated into a temporary directory that is removed on exit.
# Each case runs one command and checks its exit code and output, then prints
# "ok - NAME" or "FAIL - NAME: why". The last line is "N passed, M failed",
# and the exit status is 1 if anything failed.
#
# Planted secrets are matched by value in the JSON report (--show-secrets)
# and their locations compared with the generator's expected.tsv, so these
# tests do not depend on rule ids or on the order of findings.

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
KEYSIFT=${KEYSIFT:-$root/build/keysift}
MAKE_FIXTURES=${MAKE_FIXTURES:-$root/build/make_fixtures}
E2E_BIG=${E2E_BIG:-0}

# KEYSIFT_WRAP, when set, is a command put in front of every keysift run
# (make test-valgrind puts valgrind's memcheck there); KS_SLOWDOWN says how
# many times slower keysift runs under it, and every time limit of the
# suite is multiplied by it (see `slow`).
KEYSIFT_WRAP=${KEYSIFT_WRAP:-}
KS_SLOWDOWN=${KS_SLOWDOWN:-1}

# Seconds before a command counts as hung; generous for sanitizer builds.
KS_TIMEOUT=${KS_TIMEOUT:-$((60 * KS_SLOWDOWN))}
# E2E_BIG_BYTES shrinks the big stream cases (test-valgrind does).
BIG_BYTES=${E2E_BIG_BYTES:-2147483648}
BIG_RSS_LIMIT_KIB=$((200 * 1024))

passed=0
failed=0
skipped=0
name=
why=

# Commands are run from inside the fixture directory, so make paths absolute.
absolute() {
    case $1 in
    */*) realpath -m -- "$1" ;;
    *) command -v -- "$1" || printf '%s\n' "$1" ;;
    esac
}
KEYSIFT=$(absolute "$KEYSIFT")
MAKE_FIXTURES=$(absolute "$MAKE_FIXTURES")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keysift-e2e.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
out=$tmp/stdout
err=$tmp/stderr
rc=0
limit=$KS_TIMEOUT   # the time limit of the last command run

# slow SECONDS: a time limit of the suite, scaled by KS_SLOWDOWN.
slow() {
    printf '%s' "$(($1 * KS_SLOWDOWN))"
}

# The binary itself, for cases that look at it rather than run it.
KEYSIFT_BIN=$KEYSIFT

# With KEYSIFT_WRAP, KEYSIFT becomes a script running the binary under it,
# so that every way a case starts keysift goes through the wrapper: the
# helpers below, the suites' own "$KEYSIFT", quality.sh, and the scheduler
# jobs that find keysift on PATH. Under valgrind each run writes its log
# to a file of its own in $tmp/valgrind, which end_case reads.
VG_LOGS=
if [ -n "$KEYSIFT_WRAP" ]; then
    mkdir -p "$tmp/wrap"
    read -r -a wrap_words <<<"$KEYSIFT_WRAP"
    if [ "$(basename -- "${wrap_words[0]}")" = valgrind ]; then
        VALGRIND=${wrap_words[0]}
        VG_LOGS=$tmp/valgrind
        # Open to all, for the cases that run keysift as another user.
        mkdir -p "$VG_LOGS" && chmod 1777 "$VG_LOGS"
        wrap_words+=("--log-file=$VG_LOGS/%p.log")
    fi
    printf '#!/usr/bin/env bash\nexec %s %q "$@"\n' \
        "$(printf '%q ' "${wrap_words[@]}")" "$KEYSIFT_BIN" >"$tmp/wrap/keysift"
    chmod 755 "$tmp/wrap/keysift"
    KEYSIFT=$tmp/wrap/keysift
fi

# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

begin() {
    name=$1
    why=
}

# Records one reason the current case fails.
want() {
    why+="${why:+; }$*"
}

# Records the first few lines of a multi-line problem list, if any.
want_none() {
    local problems=$1

    [ -z "$problems" ] && return
    want "$(head -n 4 <<<"$problems" | awk 'NR > 1 { printf "; " } { printf "%s", $0 }')"
}

# Under valgrind: for each run that has ended since the last case, and
# that valgrind found errors in, its command and the first lines of its
# first error. The logs read are removed; VALGRIND_KEEP=DIR keeps a copy
# of each one with errors.
valgrind_problems() {
    local log

    for log in "$VG_LOGS"/*.log; do
        [ -e "$log" ] || continue
        # A run still going (or one that was killed) has no summary yet.
        grep -q 'ERROR SUMMARY: ' "$log" || {
            kill -0 "$(basename "$log" .log)" 2>/dev/null || rm -f -- "$log"
            continue
        }
        if grep -q 'ERROR SUMMARY: [1-9]' "$log"; then
            [ -n "${VALGRIND_KEEP:-}" ] && mkdir -p "$VALGRIND_KEEP" &&
                cp -- "$log" "$VALGRIND_KEEP/"
            valgrind_excerpt "$log"
        fi
        rm -f -- "$log"
    done
}

# Memcheck's first line of each kind of error it counts.
VG_ERROR='^(Invalid|Mismatched|Conditional jump|Use of uninit|Syscall param'
VG_ERROR+='|Source and destination|Argument .* of function|Jump to)'
VG_ERROR+='|are (definitely|indirectly) lost'

# The run's arguments, then its first error's first line and 3 frames.
valgrind_excerpt() {
    sed 's/^==[0-9]*== //' "$1" | awk -v error="$VG_ERROR" '
        /^Command: / {
            sub(/^Command: [^ ]*/, "valgrind: keysift")
            cmd = substr($0, 1, 120)
        }
        state == 0 && $0 ~ error { state = 1; line = cmd ": " $0; next }
        state == 1 && /^ +(at|by) / && frames < 3 {
            sub(/^ +(at|by) 0x[0-9A-F]+: /, "")
            line = line "; " $0
            frames++
            next
        }
        state == 1 { state = 2 }
        END {
            if (line == "")
                line = cmd ": errors (see its log)"
            print substr(line, 1, 400)
        }'
}

end_case() {
    [ -n "$VG_LOGS" ] && want_none "$(valgrind_problems)"
    if [ -z "$why" ]; then
        passed=$((passed + 1))
        printf 'ok - %s\n' "$name"
    else
        failed=$((failed + 1))
        printf 'FAIL - %s: %s\n' "$name" "$why"
    fi
}

# Records that the current case cannot run on this machine, and why.
skip_case() {
    skipped=$((skipped + 1))
    printf 'skip - %s: %s\n' "$name" "$*"
}

summary() {
    [ "$skipped" -eq 0 ] || printf '%d skipped (see the skip lines above)\n' \
        "$skipped"
    printf '%d passed, %d failed\n' "$passed" "$failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# ---------------------------------------------------------------------------
# Running keysift
# ---------------------------------------------------------------------------

# ks ARGS...: runs keysift; stdout to $out, stderr to $err, status in $rc.
ks() {
    limit=$KS_TIMEOUT
    timeout -k 5 "$KS_TIMEOUT" "$KEYSIFT" "$@" </dev/null >"$out" 2>"$err"
    rc=$?
}

# ks_redirect FILE ARGS...: the same, with FILE as standard input.
ks_redirect() {
    local input=$1

    shift
    limit=$KS_TIMEOUT
    timeout -k 5 "$KS_TIMEOUT" "$KEYSIFT" "$@" <"$input" >"$out" 2>"$err"
    rc=$?
}

# ks_pipe FILE ARGS...: the same, with FILE arriving through a pipe, which
# unlike a redirected file cannot be sought or mapped.
ks_pipe() {
    local input=$1

    shift
    limit=$KS_TIMEOUT
    cat -- "$input" | timeout -k 5 "$KS_TIMEOUT" "$KEYSIFT" "$@" >"$out" 2>"$err"
    rc=${PIPESTATUS[1]}
}

# A hint for failure messages: what keysift said, or that it hung.
stderr_hint() {
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        printf ' (timed out after %ss)' "$limit"
    elif [ -s "$err" ]; then
        printf ' (stderr: %s)' "$(head -n 1 "$err" | cut -c 1-160)"
    fi
}

expect_rc() {
    [ "$rc" -eq "$1" ] || want "exit $rc, want $1$(stderr_hint)"
}

expect_stdout_empty() {
    [ -s "$out" ] && want "stdout not empty: $(head -n 1 "$out" | cut -c 1-80)"
}

# Every diagnostic is one line: "keysift: error|warning: WHERE: MESSAGE".
# Other stderr lines (a summary, say) are allowed.
expect_diag_format() {
    local bad

    bad=$(grep -E '^keysift: (error|warning)' "$err" |
        grep -Ev '^keysift: (error|warning): .+: .+' | head -n 1)
    [ -n "$bad" ] && want "stderr line not a diagnostic: $(cut -c 1-120 <<<"$bad")"
}

# warm_rules [OPTIONS...]: under valgrind, compiles the rule set these
# `keysift scan` options name into the cache in use, with the binary run
# under valgrind's tool "none" (a few times slower than bare, where
# memcheck is fifty). Hyperscan compiles for the CPU it sees, and valgrind
# shows its tools a CPU of its own: memcheck refuses a database the bare
# binary compiled and compiles it again, minutes for the default rules.
# Cases sharing a rule set need not each pay that; the unit tests compile
# the default rules under memcheck.
warm_rules() {
    [ -n "$VG_LOGS" ] || return 0
    : >"$tmp/warm-empty"
    "$VALGRIND" --tool=none -q "$KEYSIFT_BIN" scan -q "$@" -o /dev/null \
        "$tmp/warm-empty" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------
# Checking reports
# ---------------------------------------------------------------------------

# Compares a JSON report with the planted secrets. Arguments: $mode ("dir"
# or "archive"), $base (the input as named on the command line), $strict
# (true: nothing but the planted secrets, each exactly once), $exp (the
# planted secrets). Prints one problem per line.
# shellcheck disable=SC2016  # jq variables, not shell ones
CHECK_FINDINGS='
def expected_loc($e):
    (if $mode == "dir"
     then ($base | sub("/+$"; "")) + "/" + $e.rel | {chain: [.], path: .}
     else "app/" + $e.rel | {chain: [$base, .], path: .}
     end) + {input: $base, line: $e.line, column: $e.column,
             offset: $e.offset};
def same_secret($e):
    .secret == $e.secret
    or (($e.secret | startswith("-----BEGIN"))
        and (.secret | startswith($e.secret)));
def matches($w):
    .input == $w.input and .chain == $w.chain and .path == $w.path
    and .line == $w.line and .column == $w.column and .offset == $w.offset;
def short: if length > 12 then .[0:12] + "..." else . end;
def show: "\(.chain | join(" / ")):\(.line):\(.column)@\(.offset)";

. as $doc
| ($exp[] as $e
   | expected_loc($e) as $w
   | [$doc.findings[] | select(same_secret($e))] as $hits
   | if ($hits | length) == 0 then
         "no finding for \($e.secret | short) planted in \($e.rel)"
     elif ([$hits[].locations[] | select(matches($w))] | length) == 0 then
         "\($e.secret | short) reported at "
         + ([$hits[].locations[] | show] | join(", "))
         + " (input \($hits[0].locations[0].input | tojson)),"
         + " want \($w | show) (input \($w.input | tojson))"
     else empty end),
  (select($strict)
   | ($doc.findings[]
      | select(. as $f | [$exp[] as $e | $f | select(same_secret($e))]
               | length == 0)
      | "unexpected \(.rule_id) finding \(.secret | short) at "
        + (.locations[0] | show)),
     (select(($doc.findings | length) != ($exp | length))
      | "\($doc.findings | length) findings, want \($exp | length)"),
     ($doc.findings[] | select((.locations | length) != 1)
      | "\(.rule_id) has \(.locations | length) locations, want 1"))
'

# The report format: field names and types. $redacted is the value every
# finding must carry. Prints one problem per line.
# shellcheck disable=SC2016
CHECK_SHAPE='
def want_type($obj; $keys; $kind; $what):
    $keys[] | select(($obj[.] | type) != $kind)
    | "\($what) field \(.) is \($obj[.] | type), want \($kind)";

. as $doc
| [want_type($doc; ["version", "rules_hash"]; "string"; "report"),
   want_type($doc; ["findings", "diagnostics"]; "array"; "report"),
   want_type($doc; ["summary"]; "object"; "report"),
   ($doc.findings[]? | . as $f
    | want_type($f; ["rule_id", "rule_name", "severity", "confidence",
                     "secret", "fingerprint"]; "string"; "finding"),
      want_type($f; ["redacted"]; "boolean"; "finding"),
      want_type($f; ["entropy"]; "number"; "finding"),
      want_type($f; ["locations"]; "array"; "finding"),
      (select($f.redacted != $redacted)
       | "\($f.rule_id): redacted is \($f.redacted), want \($redacted)"),
      (select(["info", "low", "medium", "high", "critical"]
              | index([$f.severity]) | not)
       | "\($f.rule_id): severity \($f.severity | tojson)"),
      (select(["low", "medium", "high"] | index([$f.confidence]) | not)
       | "\($f.rule_id): confidence \($f.confidence | tojson)"),
      ($f.locations[]? | . as $l
       | want_type($l; ["input", "path"]; "string"; "location"),
         want_type($l; ["chain"]; "array"; "location"),
         want_type($l; ["line", "column", "offset"]; "number"; "location"),
         want_type($l; ["nested", "deleted"]; "boolean"; "location"),
         (select(($l.chain | type) == "array" and $l.chain[-1] != $l.path)
          | "chain \($l.chain | tojson) does not end with path"),
         (select($l.nested == true or $l.deleted == true)
          | "\($l.path): flagged nested or deleted")))]
| unique | .[]
'

# check_report MODE BASE STRICT [FILE]: prints what is wrong with a report.
check_report() {
    local report=${4:-$out}

    if ! jq -e 'type == "object" and (.findings | type) == "array"' \
        "$report" >/dev/null 2>&1; then
        echo "stdout is not a JSON report: $(head -c 80 "$report")"
        return
    fi
    jq -r --arg mode "$1" --arg base "$2" --argjson strict "$3" \
        --slurpfile exp "$tmp/expected.json" \
        "\$exp[0] as \$exp | $CHECK_FINDINGS" "$report" 2>&1
}

check_shape() {
    jq -r --argjson redacted "$1" "$CHECK_SHAPE" "$out" 2>&1
}

# A planted secret counts as leaked if its first 5 characters, or any 6 in a
# row after the first 4, appear: redaction may show the first 4 and no more.
make_leak_patterns() {
    local secret body i

    while IFS=$'\t' read -r secret _; do
        case $secret in -----BEGIN*) continue ;; esac
        printf '%s\n' "${secret:0:5}"
        for ((i = 4; i + 6 <= ${#secret}; i++)); do
            printf '%s\n' "${secret:i:6}"
        done
    done <expected.tsv
    # For the PEM key, any piece of its body past the fixed DER prefix.
    body=$(sed -n '2p' tree/keys/deploy.pem)
    for ((i = 16; i + 6 <= ${#body}; i++)); do
        printf '%s\n' "${body:i:6}"
    done
}

expect_no_leak() {
    local hit

    hit=$(grep -oF -f "$tmp/leak-patterns" "$out" | head -n 1)
    [ -n "$hit" ] && want "secret text '$hit' shown without --show-secrets"
}

# has_where LOCATION: the text report has an indented "where: LOCATION" line.
has_where() {
    awk -v want="$1" '
        /^[[:space:]]+where:/ {
            sub(/^[[:space:]]+where:[[:space:]]*/, "")
            sub(/[[:space:]]+$/, "")
            if ($0 == want)
                found = 1
        }
        END { exit !found }' "$out"
}

# Lines "FINGERPRINT CHAIN:LINE:COLUMN", sorted, for comparing two reports.
locations_of() {
    jq -r '.findings[] | .fingerprint as $f | .locations[]
           | "\($f) \(.chain | join(" / ")):\(.line):\(.column)"' "$1" |
        sort
}

# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

setup() {
    begin "fixtures are generated"
    if [ ! -x "$MAKE_FIXTURES" ]; then
        want "no executable MAKE_FIXTURES at $MAKE_FIXTURES"
    elif ! "$MAKE_FIXTURES" "$tmp/fx" >"$out" 2>"$err"; then
        want "make_fixtures failed: $(head -n 1 "$err")"
    elif [ "$(wc -l <"$tmp/fx/expected.tsv")" -ne 6 ]; then
        want "expected.tsv does not list 6 secrets"
    fi
    [ -x "$KEYSIFT" ] || want "no executable KEYSIFT at $KEYSIFT"
    end_case
    [ -z "$why" ] || summary

    cd "$tmp/fx" || exit 1
    build_expected >"$tmp/expected.json"
    make_leak_patterns >"$tmp/leak-patterns"
    github_row=$(grep '^ghp_' expected.tsv)
    github_token=$(cut -f 1 <<<"$github_row")
    github_where=$(cut -f 2- <<<"$github_row" | tr '\t' ':')
    aws_id_row=$(grep '^AKIA' expected.tsv)
    make_extra_dirs
    make_rule_files
    warm_rules
    warm_rules --rules rules-dir/extra.yaml
}

# expected.tsv as JSON, with the byte offset each line and column imply.
build_expected() {
    local secret rel line column before

    while IFS=$'\t' read -r secret rel line column; do
        before=$(head -n "$((line - 1))" "tree/$rel" | wc -c)
        jq -cn --arg s "$secret" --arg r "$rel" --argjson l "$line" \
            --argjson c "$column" --argjson o "$((before + column - 1))" \
            '{secret: $s, rel: $r, line: $l, column: $c, offset: $o}'
    done <expected.tsv | jq -cs .
}

make_extra_dirs() {
    local rel

    # The tree without the files that hold secrets: placeholders only.
    cp -a tree clean
    cut -f 2 expected.tsv | sort -u | while read -r rel; do
        rm -f -- "clean/$rel"
    done

    # Things a directory walk must survive without reading them.
    mkdir -p fifo-dir symlink-dir outside
    cp tree/README.md fifo-dir/
    mkfifo fifo-dir/pipe
    cp tree/README.md symlink-dir/
    cp tree/config/app.env outside/app.env
    ln -s ../outside/app.env symlink-dir/settings.env
    ln -s ../outside symlink-dir/more
    ln -s . symlink-dir/loop

    cp layer.tar.zst data.txt
}

make_rule_files() {
    mkdir -p rules
    cat >rules/one.yaml <<'EOF'
rules:
  - id: e2e.aws-key-id
    name: AWS access key id (end-to-end test rule)
    pattern: '\b(AKIA[A-Z2-7]{16})\b'
EOF
    mkdir -p rules-dir
    cp rules/one.yaml rules-dir/
    cat >rules-dir/extra.yaml <<'EOF'
rules:
  - id: e2e.app-env
    name: Deployment environment (end-to-end test rule)
    pattern: '\bAPP_ENV=([a-z]+)'
EOF
    cat >rules/bad-regex.yaml <<'EOF'
rules:
  - id: e2e.bad-regex
    name: Unbalanced group
    pattern: 'foo(bar'
EOF
    cat >rules/bad-yaml.yaml <<'EOF'
rules:
  - id: e2e.bad-yaml
    name: Unclosed list
    keywords: [alpha, beta
    pattern: 'alpha[0-9]+'
EOF
    cat >rules/dup-id.yaml <<'EOF'
rules:
  - id: e2e.twice
    name: First of two
    pattern: 'first[0-9]{4}'
  - id: e2e.twice
    name: Second of two
    pattern: 'second[0-9]{4}'
EOF
    cat >rules/no-pattern.yaml <<'EOF'
rules:
  - id: e2e.no-pattern
    name: Rule without a pattern
EOF
}

# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

test_directory() {
    local dir

    begin "directory: planted secrets and nothing else, exit 1"
    ks scan -f json --show-secrets tree
    expect_rc 1
    want_none "$(check_report dir tree true)"
    end_case
    cp "$out" "$tmp/tree.json"

    begin "directory: JSON report fields and types"
    want_none "$(check_shape false)"
    end_case

    for dir in tree/ "$PWD/tree"; do
        begin "directory named as '${dir/#$tmp/\$tmp}': paths built from it"
        ks scan -f json --show-secrets "$dir"
        expect_rc 1
        want_none "$(check_report dir "$dir" true)"
        end_case
    done
}

test_archives() {
    local archive

    for archive in layer.tar layer.tar.gz layer.tar.zst layer.tar.xz \
        layer.tar.bz2; do
        begin "archive $archive: planted secrets at archive / entry"
        ks scan -f json --show-secrets "$archive"
        expect_rc 1
        want_none "$(check_report archive "$archive" true)"
        end_case
    done

    begin "stdin: a tar piped in"
    ks_pipe layer.tar scan -f json --show-secrets -
    expect_rc 1
    want_none "$(check_report archive - true)"
    end_case

    begin "stdin: a tar.gz redirected in"
    ks_redirect layer.tar.gz scan -f json --show-secrets -
    expect_rc 1
    want_none "$(check_report archive - true)"
    end_case

    begin "content, not name: a .tar.zst called data.txt"
    ks scan -f json --show-secrets data.txt
    expect_rc 1
    want_none "$(check_report archive data.txt true)"
    end_case

    begin "archive: JSON report fields and types"
    ks scan -f json --show-secrets layer.tar.gz
    want_none "$(check_shape false)"
    end_case
}

test_text_output() {
    local fingerprint

    fingerprint=$(jq -r --arg t "$github_token" \
        '.findings[] | select(.secret == $t) | .fingerprint' "$tmp/tree.json")

    begin "text: where line, fingerprint, secret redacted"
    ks scan tree
    expect_rc 1
    has_where "tree/$github_where" || want "no 'where: tree/$github_where' line"
    grep -Eq '^[[:space:]]+secret:' "$out" || want "no 'secret:' line"
    if [ -n "$fingerprint" ] &&
        ! grep -Eq "^[[:space:]]+fingerprint:[[:space:]]*$fingerprint" "$out"; then
        want "fingerprint $fingerprint from the JSON report missing"
    fi
    [ "$(grep -Ec '^[[:space:]]+fingerprint:' "$out")" -eq 6 ] ||
        want "$(grep -Ec '^[[:space:]]+fingerprint:' "$out") findings, want 6"
    grep -qF "$github_token" "$out" && want "full GitHub token shown"
    expect_no_leak
    end_case

    begin "text: --show-secrets shows the token"
    ks scan --show-secrets tree
    expect_rc 1
    grep -qF "$github_token" "$out" || want "token not shown"
    end_case

    begin "text: archive locations read 'ARCHIVE / ENTRY:LINE:COLUMN'"
    ks scan layer.tar.gz
    expect_rc 1
    has_where "layer.tar.gz / app/$github_where" ||
        want "no 'where: layer.tar.gz / app/$github_where' line"
    end_case
}

test_machine_output() {
    local line bad=0

    begin "json: redacted by default"
    ks scan -f json tree layer.tar.gz
    expect_rc 1
    want_none "$(check_shape true)"
    expect_no_leak
    end_case

    begin "jsonl: redacted by default"
    ks scan -f jsonl tree
    expect_rc 1
    expect_no_leak
    end_case

    begin "jsonl: one valid finding object per line"
    ks scan -f jsonl --show-secrets tree
    expect_rc 1
    while IFS= read -r line; do
        jq -e 'type == "object" and has("rule_id") and has("locations")' \
            <<<"$line" >/dev/null 2>&1 || bad=$((bad + 1))
    done <"$out"
    [ "$bad" -eq 0 ] || want "$bad lines are not finding objects"
    [ "$(wc -l <"$out")" -eq 6 ] || want "$(wc -l <"$out") lines, want 6"
    jq -s '{findings: .}' "$out" >"$tmp/jsonl.json" 2>/dev/null &&
        want_none "$(check_report dir tree true "$tmp/jsonl.json")"
    end_case

    begin "-o FILE: report in the file, nothing on stdout"
    ks scan -f json --show-secrets -o "$tmp/report.json" tree
    expect_rc 1
    expect_stdout_empty
    if [ -f "$tmp/report.json" ]; then
        want_none "$(check_report dir tree true "$tmp/report.json")"
    else
        want "no report file written"
    fi
    end_case
}

test_merging_and_jobs() {
    begin "same secret in two inputs: one finding, two locations"
    ks scan -f json --show-secrets tree layer.tar
    expect_rc 1
    want_none "$(jq -r '
        (select((.findings | length) != 6)
         | "\(.findings | length) findings, want 6"),
        (.findings[] | select((.locations | length) != 2)
         | "\(.rule_id): \(.locations | length) locations, want 2")' "$out")"
    [ "$(jq -r '.findings[].fingerprint' "$out" | sort)" = \
        "$(jq -r '.findings[].fingerprint' "$tmp/tree.json" | sort)" ] ||
        want "fingerprints differ from the directory-only scan"
    end_case

    begin "-j 1 and -j 4 report the same findings"
    ks scan -f json -j 1 tree layer.tar.gz layer.tar.zst
    locations_of "$out" >"$tmp/j1"
    expect_rc 1
    ks scan -f json --jobs 4 tree layer.tar.gz layer.tar.zst
    locations_of "$out" >"$tmp/j4"
    expect_rc 1
    [ -s "$tmp/j1" ] || want "no findings with -j 1"
    cmp -s "$tmp/j1" "$tmp/j4" || want "findings differ: $(diff "$tmp/j1" \
        "$tmp/j4" | grep '^[<>]' | head -n 2 | paste -sd ' ' -)"
    end_case
}

test_bad_inputs() {
    begin "missing input: exit 2, one error naming it"
    ks scan no-such-file
    expect_rc 2
    expect_diag_format
    [ "$(grep -c '^keysift: error: no-such-file: ' "$err")" -eq 1 ] ||
        want "want one 'keysift: error: no-such-file: ...' line$(stderr_hint)"
    end_case

    begin "truncated tar.gz: exit 2, error naming it"
    ks scan layer-truncated.tar.gz
    expect_rc 2
    expect_diag_format
    grep -Eq '^keysift: error: layer-truncated\.tar\.gz(: | / )' "$err" ||
        want "no error line naming layer-truncated.tar.gz$(stderr_hint)"
    end_case

    begin "good and bad inputs together: findings still reported, exit 2"
    ks scan -f json --show-secrets tree no-such-file layer-truncated.tar.gz
    expect_rc 2
    expect_diag_format
    want_none "$(check_report dir tree false)"
    grep -q '^keysift: error: no-such-file' "$err" ||
        want "no error for no-such-file"
    grep -q '^keysift: error: layer-truncated\.tar\.gz' "$err" ||
        want "no error for layer-truncated.tar.gz"
    jq -e '(.diagnostics | length) >= 2' "$out" >/dev/null 2>&1 ||
        want "report lists fewer than 2 diagnostics"
    end_case
}

# expect_rule_error FILE RULE_ID DESCRIPTION
expect_rule_error() {
    local file=$1 id=$2

    begin "rules: $3 -> exit 2, one error naming the file${id:+ and rule}"
    ks scan --rules "$file" tree
    expect_rc 2
    expect_stdout_empty
    [ "$(wc -l <"$err")" -eq 1 ] || want "$(wc -l <"$err") stderr lines, want 1"
    grep -q '^keysift: error: ' "$err" || want "no 'keysift: error:' line"
    grep -qF "$file" "$err" || want "error does not name $file$(stderr_hint)"
    [ -z "$id" ] || grep -qF "$id" "$err" ||
        want "error does not name rule $id$(stderr_hint)"
    end_case
}

test_bad_rules() {
    expect_rule_error rules/bad-regex.yaml e2e.bad-regex "invalid regex"
    expect_rule_error rules/bad-yaml.yaml "" "YAML syntax error"
    expect_rule_error rules/dup-id.yaml e2e.twice "duplicate id"
    expect_rule_error rules/no-pattern.yaml e2e.no-pattern "missing pattern"
}

test_hostile_dirs() {
    local saved=$KS_TIMEOUT

    begin "directory with a FIFO: skipped, no hang"
    KS_TIMEOUT=$(slow 20)
    ks scan -f json fifo-dir
    KS_TIMEOUT=$saved
    expect_rc 0
    expect_diag_format
    jq -e '.findings == []' "$out" >/dev/null 2>&1 || want "findings reported"
    end_case

    begin "symlinks out of the tree and in a loop are not followed"
    ks scan -f json --show-secrets symlink-dir
    expect_rc 0
    expect_diag_format
    grep -qF "$github_token" "$out" && want "secret outside the tree reported"
    jq -e '.findings == []' "$out" >/dev/null 2>&1 || want "findings reported"
    end_case

    begin "clean directory (placeholders only): exit 0, no findings"
    ks scan -f json clean
    expect_rc 0
    want_none "$(jq -r '.findings[]
        | "false positive: \(.rule_id) at \(.locations[0].path):"
          + "\(.locations[0].line)"' "$out" 2>&1)"
    end_case

    begin "clean directory, text format: exit 0"
    ks scan clean
    expect_rc 0
    grep -q 'fingerprint:' "$out" && want "findings printed"
    end_case
}

test_rules() {
    local id rel line column

    IFS=$'\t' read -r id rel line column <<<"$aws_id_row"

    begin "--rules-only --rules FILE: only that rule's findings"
    ks scan -f json --show-secrets --rules-only --rules rules/one.yaml tree
    expect_rc 1
    want_none "$(jq -r --arg id "$id" --arg where "tree/$rel:$line:$column" '
        (.findings[] | select(.rule_id != "e2e.aws-key-id")
         | "finding from rule \(.rule_id)"),
        (select((.findings | length) != 1)
         | "\(.findings | length) findings, want 1"),
        (.findings[] | select(.secret != $id) | "secret \(.secret)"),
        (.findings[].locations[] | "\(.path):\(.line):\(.column)"
         | select(. != $where) | "at \(.), want \($where)")' "$out" 2>&1)"
    end_case

    # A rule matching bytes no default rule claims, so nothing overlaps it.
    begin "--rules FILE adds to the default rules"
    ks scan -f json --rules rules-dir/extra.yaml tree
    expect_rc 1
    jq -e '[.findings[].rule_id] | index("e2e.app-env") != null
           and length == 7' "$out" >/dev/null 2>&1 ||
        want "want the 6 default findings plus e2e.app-env"
    end_case

    begin "--rules DIR loads every rule file in it"
    ks scan -f json --rules-only --rules rules-dir tree
    expect_rc 1
    [ "$(jq -r '[.findings[].rule_id] | sort | join(" ")' "$out" 2>&1)" = \
        "e2e.app-env e2e.aws-key-id" ] ||
        want "want findings from e2e.app-env and e2e.aws-key-id only"
    end_case

    begin "rules test: every example passes"
    ks rules test
    expect_rc 0
    tail -n 1 "$out" | grep -Eq '^[1-9][0-9]* passed, 0 failed$' ||
        want "last line '$(tail -n 1 "$out")'"
    end_case

    begin "rules list: names the rules that fired"
    ks rules list
    expect_rc 0
    for id in $(jq -r '.findings[].rule_id' "$tmp/tree.json" | sort -u); do
        grep -qw -- "$id" "$out" || want "$id not listed"
    done
    end_case
}

test_usage() {
    local args

    for args in "--help" "scan --help"; do
        begin "keysift $args: usage on stdout, exit 0"
        # shellcheck disable=SC2086  # split on purpose
        ks $args
        expect_rc 0
        grep -qi 'usage' "$out" || want "no usage text on stdout"
        end_case
    done

    begin "unknown option: exit 2, message pointing at --help"
    ks scan --no-such-option tree
    expect_rc 2
    expect_stdout_empty
    grep -qF -- '--help' "$err" || want "stderr does not mention --help"
    end_case
}

# The stream test: the token near the end of 2 GiB must be found at the right
# place while memory stays bounded, from a file and from a pipe. Under a
# wrapper (valgrind) the stream is E2E_BIG_BYTES long and the memory bound
# is not checked: the peak measured would be the wrapper's.
test_big() {
    local token line column rss avail size
    local saved=$KS_TIMEOUT

    KS_TIMEOUT=$(slow 900)
    size="$((BIG_BYTES / 1048576)) MiB"
    [ "$BIG_BYTES" -eq 2147483648 ] && size="2 GiB"
    avail=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
    if [ "$avail" -gt $((BIG_BYTES / 1024 * 3 / 2)) ]; then
        begin "$size file: token found$(big_rss_note)"
        "$MAKE_FIXTURES" --big-text "$BIG_BYTES" --token-at-end \
            >"$tmp/big.txt" 2>"$tmp/big.token"
        IFS=$'\t' read -r token line column <"$tmp/big.token"
        ks_wrapped /usr/bin/time -f %M -o "$tmp/big.rss" "$KEYSIFT" scan \
            -f json --show-secrets "$tmp/big.txt"
        check_big "$tmp/big.txt"
        rm -f -- "$tmp/big.txt"
        end_case
    fi

    begin "$size on stdin: token found$(big_rss_note)"
    limit=$KS_TIMEOUT
    "$MAKE_FIXTURES" --big-text "$BIG_BYTES" --token-at-end \
        2>"$tmp/big.token" |
        timeout -k 5 "$KS_TIMEOUT" /usr/bin/time -f %M -o "$tmp/big.rss" \
            "$KEYSIFT" scan -f json --show-secrets - >"$out" 2>"$err"
    rc=${PIPESTATUS[1]}
    IFS=$'\t' read -r token line column <"$tmp/big.token"
    check_big -
    end_case
    KS_TIMEOUT=$saved
}

check_big() {
    expect_rc 1
    want_none "$(jq -r --arg t "$token" --arg input "$1" \
        --argjson l "$line" --argjson c "$column" '
        (select((.findings | length) != 1)
         | "\(.findings | length) findings, want 1"),
        (select([.findings[] | select(.secret == $t) | .locations[]
                 | select(.input == $input and .line == $l
                          and .column == $c)] | length == 0)
         | "token not found at \($input):\($l):\($c)")' "$out" 2>&1)"
    [ -n "$KEYSIFT_WRAP" ] && return
    rss=$(tail -n 1 "$tmp/big.rss" 2>/dev/null)
    if [ -z "$rss" ] || [ "$rss" -ge "$BIG_RSS_LIMIT_KIB" ]; then
        want "peak RSS ${rss:-unknown} KiB, limit $BIG_RSS_LIMIT_KIB KiB"
    fi
}

big_rss_note() {
    [ -n "$KEYSIFT_WRAP" ] || printf ', peak RSS under 200 MiB'
}

# ks with a wrapper command in front of keysift (used for /usr/bin/time).
ks_wrapped() {
    limit=$KS_TIMEOUT
    timeout -k 5 "$KS_TIMEOUT" "$@" </dev/null >"$out" 2>"$err"
    rc=$?
}

# ---------------------------------------------------------------------------

# Further suites live beside this file as suite_NAME.sh, each defining a
# function suite_NAME that runs its cases with the helpers above (it may
# make fixtures of its own under $tmp). They run after the core cases, in
# name order; E2E_ONLY=NAME runs the core setup and that suite alone.
suites=()
for file in "$here"/suite_*.sh; do
    [ -e "$file" ] || continue
    # shellcheck source=/dev/null
    . "$file"
    suites+=("$(basename "$file" .sh)")
done

setup
if [ -n "${E2E_ONLY:-}" ]; then
    "suite_$E2E_ONLY"
    summary
fi
test_directory
test_archives
test_text_output
test_machine_output
test_merging_and_jobs
test_bad_inputs
test_bad_rules
test_hostile_dirs
test_rules
test_usage
[ "$E2E_BIG" = 1 ] && test_big
for suite in "${suites[@]}"; do
    "$suite"
done
summary
