#!/usr/bin/env bash
#
# Detection quality of keysift's rules against a labelled corpus.
#
#     KEYSIFT=build/keysift MAKE_CORPUS=build/make_corpus tests/e2e/quality.sh
#
# Both default to the build/ directory of the checkout holding this script;
# SEED picks another corpus (make_corpus --seed); CORPUS=DIR scores a corpus
# make_corpus already wrote to DIR instead of generating one. The corpus is
# generated into a temporary directory that is removed on exit, scanned with
#
#     keysift scan -f json --show-secrets -q OUTDIR/files
#
# and every finding location is compared with OUTDIR/truth.jsonl. A location
# matches a truth entry when it is in the same file on a line from the
# entry's `line` to its `end_line` (or `line` when there is none); the rule
# id does not have to agree, so one secret reported by two rules is not a
# false positive.
#
#     recall    = truth entries matched by a location / truth entries
#     precision = locations that match a truth entry / locations
#
# The script prints both, every missed truth entry and every false positive
# (the list a detection engineer works from), then the secrets found under a
# rule other than the one expected, for information. Its last line is
# "N passed, M failed" for the checks recall >= 98% and precision >= 98%;
# the exit status is 1 if a check failed or the tools did not run.

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
KEYSIFT=${KEYSIFT:-$root/build/keysift}
MAKE_CORPUS=${MAKE_CORPUS:-$root/build/make_corpus}
SEED=${SEED:-}
CORPUS=${CORPUS:-}

# Each threshold is a percentage; the comparison is done in integers.
MIN_RECALL=98
MIN_PRECISION=98

for tool in "$KEYSIFT" "$MAKE_CORPUS"; do
    if [ ! -x "$tool" ]; then
        echo "quality: $tool is not an executable; build it first" >&2
        exit 1
    fi
done
if ! command -v jq >/dev/null; then
    echo "quality: jq is needed (apt-get install jq)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keysift-quality.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
out=$tmp/corpus

if [ -n "$CORPUS" ]; then
    out=${CORPUS%/}
    if [ ! -f "$out/truth.jsonl" ]; then
        echo "quality: $out/truth.jsonl not found; run make_corpus $out" >&2
        exit 1
    fi
elif [ -n "$SEED" ]; then
    "$MAKE_CORPUS" --seed "$SEED" "$out" || exit 1
else
    "$MAKE_CORPUS" "$out" || exit 1
fi

# Exit status 1 only says that something was found.
"$KEYSIFT" scan -f json --show-secrets -q "$out/files" >"$tmp/report.json"
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    echo "quality: keysift scan exited with status $rc" >&2
    exit 1
fi

# One jq program does the matching and prints the report; truth entries and
# locations are grouped by file first so that matching stays linear.
jq -r -n \
    --slurpfile report "$tmp/report.json" \
    --rawfile truthtext "$out/truth.jsonl" \
    --arg prefix "$out/" \
    --argjson min_recall "$MIN_RECALL" \
    --argjson min_precision "$MIN_PRECISION" '
def pct(a; b):
    if b == 0 then "n/a"
    else (a * 1000 / b | floor) as $t | "\($t / 10 | floor).\($t % 10)%" end;
def covers(t; l): l.line >= t.line and l.line <= (t.end_line // t.line);

($truthtext | split("\n") | map(select(length > 0) | fromjson)) as $truth
| [ $report[0].findings[] | .rule_id as $rule | .locations[]
    | { file: (.path | ltrimstr($prefix)), line, rule: $rule } ] as $locs
| ($truth | group_by(.file) | map({ key: .[0].file, value: . })
    | from_entries) as $tby
| ($locs | group_by(.file) | map({ key: .[0].file, value: . })
    | from_entries) as $lby
| [ $truth[] | . as $t
    | . + { found: [ ($lby[$t.file] // [])[] | select(covers($t; .)) ] } ]
    as $judged
| [ $judged[] | select(.found | length == 0) ] as $missed
| [ $locs[] | . as $l
    | select([ ($tby[$l.file] // [])[] | select(covers(.; $l)) ]
             | length == 0) ] as $fps
| [ $judged[] | select(.found | length > 0) | . as $j
    | select([ $j.found[].rule ] | index($j.type) | not) ] as $retyped
| ($truth | length) as $nt | ($nt - ($missed | length)) as $hit
| ($locs | length) as $nl | ($nl - ($fps | length)) as $good
| ($hit * 100 >= $min_recall * $nt) as $recall_ok
| ($nl > 0 and $good * 100 >= $min_precision * $nl) as $precision_ok
| "recall: \(pct($hit; $nt)) (\($hit)/\($nt))",
  "precision: \(pct($good; $nl)) (\($good)/\($nl))",
  "",
  "missed (\($missed | length)): file:line expected-type",
  ($missed | sort_by(.type, .file, .line)[]
   | "  \(.file):\(.line) \(.type)"),
  "",
  "false positives (\($fps | length)): file:line rule",
  ($fps | sort_by(.rule, .file, .line)[]
   | "  \(.file):\(.line) \(.rule)"),
  "",
  "found under another rule (\($retyped | length)): file:line expected -> found",
  ($retyped | sort_by(.type, .file, .line)[]
   | "  \(.file):\(.line) \(.type) -> \([.found[].rule] | unique | join(","))"),
  "",
  (if $recall_ok then "ok - recall >= \($min_recall)%"
   else "FAIL - recall >= \($min_recall)%" end),
  (if $precision_ok then "ok - precision >= \($min_precision)%"
   else "FAIL - precision >= \($min_precision)%" end),
  "\([$recall_ok, $precision_ok] | map(select(.)) | length) passed, \([$recall_ok, $precision_ok] | map(select(. | not)) | length) failed"
' >"$tmp/result" || { echo "quality: could not read the report" >&2; exit 1; }

cat "$tmp/result"
tail -n 1 "$tmp/result" | grep -q ', 0 failed$'
