# shellcheck shell=bash
#
# Package and boot-image formats, sourced by run.sh: Debian packages (ar
# holding compressed tars), RPM packages (a lead and headers, then a
# compressed cpio), cpio archives as initramfs images are, and static
# libraries (ar). Each is built here with the tools that make them in the
# wild where Debian has them (dpkg-deb, ar, bsdtar's cpio writer).

PKG_KEY=AKIAQ2ZR7WL5M3XKT4BN

# pkg_tree DIR: a tree whose etc/app/env holds the key.
pkg_tree() {
    mkdir -p "$1/etc/app"
    printf 'aws_access_key_id = %s\n' "$PKG_KEY" >"$1/etc/app/env"
}

# pkg_rpm CPIO_GZ FILE: an RPM package around a gzip'd cpio payload: the
# 96-byte lead, then a signature header and a main header, both empty.
pkg_rpm() {
    python3 - "$1" "$2" <<'EOF'
import struct
import sys

lead = (b"\xed\xab\xee\xdb" + bytes([3, 0]) + struct.pack(">hh", 0, 1) +
        b"demo-1.0-1".ljust(66, b"\0") + struct.pack(">hh", 1, 5) +
        b"\0" * 16)
header = b"\x8e\xad\xe8\x01" + b"\0" * 4 + struct.pack(">ii", 0, 0)
with open(sys.argv[1], "rb") as payload, open(sys.argv[2], "wb") as out:
    out.write(lead + header + header + payload.read())
EOF
}

# pkg_expect CASE FILE CHAIN: scanning FILE finds the key once, at
# etc/app/env line 1, with the path chain CHAIN (JSON array).
pkg_expect() {
    begin "$1"
    ks scan -f json "$2"
    expect_rc 1
    jq -e --argjson c "$3" --arg k "$PKG_KEY" '
        [.findings[] | select(.rule_id == "aws.access-key-id")] | length == 1
        and .[0].locations[0].chain == $c and .[0].locations[0].line == 1' \
        "$out" >/dev/null ||
        want "findings $(jq -c '[.findings[] | [.rule_id, .locations[0].chain]]' "$out" 2>&1)"
    grep -q "error:" "$err" && want "stderr: $(head -n 1 "$err")"
    end_case
}

suite_packages() {
    local d=$tmp/packages f

    mkdir -p "$d"
    pkg_tree "$d/deb"
    mkdir -p "$d/deb/DEBIAN"
    printf 'Package: demo\nVersion: 1.0\nArchitecture: all\nMaintainer: Demo <demo@example.com>\nDescription: demo\n' \
        >"$d/deb/DEBIAN/control"
    dpkg-deb --root-owner-group --build "$d/deb" "$d/demo.deb" >/dev/null
    pkg_expect "Debian package: data.tar.xz inside ar, opened" "$d/demo.deb" \
        '["'"$d"'/demo.deb","data.tar.xz","./etc/app/env"]'

    pkg_tree "$d/root"
    bsdtar --format newc -cf "$d/root.cpio" -C "$d/root" .
    gzip -c "$d/root.cpio" >"$d/initrd.img"
    pkg_rpm "$d/initrd.img" "$d/demo.rpm"
    pkg_expect "RPM package: its cpio payload, opened" "$d/demo.rpm" \
        '["'"$d"'/demo.rpm","./etc/app/env"]'
    pkg_expect "cpio archive (newc)" "$d/root.cpio" \
        '["'"$d"'/root.cpio","./etc/app/env"]'
    pkg_expect "initramfs image (gzip'd cpio)" "$d/initrd.img" \
        '["'"$d"'/initrd.img","./etc/app/env"]'

    # `ar` writes members deterministically on Debian: their modes carry
    # no file type, and they are files all the same.
    printf 'int x;\n' >"$d/a.txt"
    cp "$d/root/etc/app/env" "$d/b.txt"
    (cd "$d" && ar rcD libdemo.a a.txt b.txt)
    pkg_expect "static library (ar): each member scanned" "$d/libdemo.a" \
        '["'"$d"'/libdemo.a","b.txt"]'

    # Text that starts like a cpio or ar header is still text.
    for f in cpio ar; do
        begin "text starting with a $f magic number: scanned as text"
        if [ "$f" = cpio ]; then
            printf '070701 is a number\n' >"$d/look.txt"
        else
            printf '!<arch>\nnot an archive\n' >"$d/look.txt"
        fi
        printf 'aws_access_key_id = %s\n' "$PKG_KEY" >>"$d/look.txt"
        ks scan -f json "$d/look.txt"
        expect_rc 1
        jq -e '[.findings[].locations[].chain] == [["'"$d"'/look.txt"]]' \
            "$out" >/dev/null ||
            want "chains $(jq -c '[.findings[].locations[].chain]' "$out" 2>&1)"
        grep -q "error:" "$err" && want "stderr: $(head -n 1 "$err")"
        end_case
    done
}
