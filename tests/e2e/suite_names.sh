# shellcheck shell=bash
#
# Member names outside ASCII, sourced by run.sh. Zip and pax archives
# mark their names as UTF-8; keysift reports them as they are, whatever
# the locale it runs under, with no warning for each.

NAMES_KEY=AKIAQ2ZR7WL5M3XKT4BN

# names_zip FILE MEMBER: a zip (names flagged UTF-8) holding MEMBER.
names_zip() {
    python3 - "$1" "$2" "$NAMES_KEY" <<'EOF'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr(sys.argv[2], "aws_access_key_id = %s\n" % sys.argv[3])
EOF
}

# names_pax FILE MEMBER: a pax tar holding MEMBER.
names_pax() {
    local dir=$tmp/names-pax

    mkdir -p "$dir/$(dirname "$2")"
    printf 'aws_access_key_id = %s\n' "$NAMES_KEY" >"$dir/$2"
    tar --format=pax -C "$dir" -cf "$1" "$2"
}

suite_names() {
    local member="données/clé-été.env" form file

    for form in zip pax; do
        begin "UTF-8 member names ($form): reported as they are, no warning"
        file=$tmp/names.$form
        "names_$form" "$file" "$member"
        LC_ALL=C ks scan -f json "$file"
        expect_rc 1
        jq -e --arg p "$member" '[.findings[].locations[].path] == [$p]' \
            "$out" >/dev/null ||
            want "paths $(jq -c '[.findings[].locations[].path]' "$out"), want [\"$member\"]"
        grep -q "warning:" "$err" && want "warned: $(head -n 1 "$err")"
        end_case
    done
}
