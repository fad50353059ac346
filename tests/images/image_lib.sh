# shellcheck shell=bash
#
# image_lib.sh - the pieces container image fixtures are made of, for the
# scripts beside it: media types, secrets in valid formats derived from
# labels (so every run makes the same bytes), tar layers made the way image
# builders make them, and blobs laid out as OCI layouts and registry stores
# hold them.
#
# Source it after setting $work to a scratch directory and defining
# die MESSAGE. Needs bash, coreutils, tar, gzip, zstd, jq and awk.

# Media types.
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_GZIP=application/vnd.oci.image.layer.v1.tar+gzip
MT_OCI_ZSTD=application/vnd.oci.image.layer.v1.tar+zstd
MT_DK_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DK_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DK_CONFIG=application/vnd.docker.container.image.v1+json
MT_DK_GZIP=application/vnd.docker.image.rootfs.diff.tar.gzip

# ---------------------------------------------------------------------------
# Secrets, derived from labels
# ---------------------------------------------------------------------------

# Hex of at least NBYTES pseudo-random bytes: sha256 in counter mode.
hexstream() {
    local label=$1 n=$2 hex="" i=0

    while [ ${#hex} -lt $((n * 2)) ]; do
        hex+=$(printf '%s/%d' "$label" "$i" | sha256sum | cut -c1-64)
        i=$((i + 1))
    done
    printf '%s' "${hex:0:$((n * 2))}"
}

# N characters of ALPHABET derived from LABEL (bytes that would bias the
# draw are skipped).
chars() {
    local label=$1 n=$2 alphabet=$3 s

    s=$(hexstream "$label" $((n * 4 + 16)) |
        awk -v n="$n" -v a="$alphabet" '{
            hex = "0123456789abcdef"; k = length(a)
            lim = 256 - 256 % k; s = ""
            for (i = 1; i < length($0) && length(s) < n; i += 2) {
                hi = index(hex, substr($0, i, 1)) - 1
                v = hi * 16 + index(hex, substr($0, i + 1, 1)) - 1
                if (v < lim) s = s substr(a, v % k + 1, 1)
            }
            print s
        }')
    [ ${#s} -eq "$n" ] || die "could not derive $n characters for $label"
    printf '%s\n' "$s"
}

B62=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz

# Appends the six base62 digits of the CRC-32 of each input line, the
# checksum GitHub and npm put in their tokens. mawk has no bit operators,
# so XOR is done bit by bit on integers.
crc_suffix() {
    awk '
    function xor8(a, b,    r, bit, i) {
        r = 0; bit = 1
        for (i = 0; i < 8; i++) {
            if (a % 2 != b % 2) r += bit
            a = int(a / 2); b = int(b / 2); bit *= 2
        }
        return r
    }
    function xor32(a, b,    r, m, i) {
        r = 0; m = 1
        for (i = 0; i < 4; i++) {
            r += xor8(a % 256, b % 256) * m
            a = int(a / 256); b = int(b / 256); m *= 256
        }
        return r
    }
    BEGIN {
        for (i = 32; i < 127; i++) ORD[sprintf("%c", i)] = i
        for (n = 0; n < 256; n++) {
            c = n
            for (k = 0; k < 8; k++)
                c = c % 2 ? xor32(3988292384, int(c / 2)) : int(c / 2)
            T[n] = c
        }
        D = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    }
    {
        crc = 4294967295
        for (i = 1; i <= length($0); i++)
            crc = xor32(T[xor8(crc % 256, ORD[substr($0, i, 1)])],
                        int(crc / 256))
        crc = 4294967295 - crc
        s = ""
        for (i = 0; i < 6; i++) {
            s = substr(D, crc % 62 + 1, 1) s
            crc = int(crc / 62)
        }
        print $0 s
    }'
}

# A GitHub- or npm-style token: PREFIX_, 30 base62, 6 of checksum.
crc_token() {
    local body

    body=$(chars "$2" 30 "$B62")
    body=$(crc_suffix <<<"$body")
    [ ${#body} -eq 36 ] || die "checksum of $2 failed"
    printf '%s_%s\n' "$1" "$body"
}

slack_bot_token() {
    local team bot secret

    team=$(chars "$1/team" 12 0123456789)
    bot=$(chars "$1/bot" 13 0123456789)
    secret=$(chars "$1/secret" 24 "$B62")
    printf 'xoxb-%s-%s-%s\n' "$team" "$bot" "$secret"
}

aws_key_id() {
    local id

    id=$(chars "$1" 16 ABCDEFGHIJKLMNOPQRSTUVWXYZ234567)
    printf 'AKIA%s\n' "$id"
}

aws_secret() {
    chars "$1" 40 "${B62}+/"
}

# A PEM block shaped like a 2048-bit RSA key: the 12-byte DER header of
# one (a 1192-byte sequence, version 0, a 257-byte modulus), then made-up
# bytes.
pem_rsa_key() {
    local hex

    hex=308204a40201000282010100$(hexstream "$1" 1180)
    echo "-----BEGIN RSA PRIVATE KEY-----"
    tr a-f A-F <<<"$hex" | tr -d '\n' | basenc --base16 -d | base64 -w 64
    echo "-----END RSA PRIVATE KEY-----"
}

# ---------------------------------------------------------------------------
# Layers and blobs
# ---------------------------------------------------------------------------

sha() {
    sha256sum "$1" | cut -d' ' -f1
}

size() {
    stat -c %s "$1"
}

# Writes FILE with the given content, making its parents.
put() {
    mkdir -p "$(dirname "$1")"
    printf '%s' "$2" >"$1"
}

# Tars a root filesystem directory the way image builders do: entries in
# name order, no leading "./", fixed owner and time.
mk_tar() {
    local src=$1 dest=$2

    find "$src" -exec touch -h -d @0 {} +
    (cd "$src" && find . -mindepth 1 -printf '%P\n' | sort) >"$work/list"
    tar --create --file="$dest" --directory="$src" --no-recursion \
        --files-from="$work/list" --format=gnu --mtime=@0 --owner=0 \
        --group=0 --numeric-owner
}

compress() {
    case $1 in
    gzip) gzip -n -9 -c "$2" >"$3" ;;
    zstd) zstd -q -19 -c "$2" >"$3" ;;
    esac
}

# Copies FILE into an OCI layout's blobs; prints its digest.
oci_blob() {
    local hex

    hex=$(sha "$2")
    mkdir -p "$1/blobs/sha256"
    cp "$2" "$1/blobs/sha256/$hex"
    echo "sha256:$hex"
}

oci_layout() {
    mkdir -p "$1/blobs/sha256"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
}

# Copies FILE into a registry's v2 blob store; prints its digest.
reg_blob() {
    local hex

    hex=$(sha "$2")
    mkdir -p "$1/blobs/sha256/${hex:0:2}/$hex"
    cp "$2" "$1/blobs/sha256/${hex:0:2}/$hex/data"
    echo "sha256:$hex"
}

# Links a blob into a repository as the registry does on push.
reg_link() {
    local v2=$1 repo=$2 what=$3 digest=$4 dir

    case $what in
    layer) dir=$v2/repositories/$repo/_layers/sha256/${digest#sha256:} ;;
    revision)
        dir=$v2/repositories/$repo/_manifests/revisions/sha256/${digest#sha256:}
        ;;
    esac
    mkdir -p "$dir"
    printf '%s' "$digest" >"$dir/link"
}

reg_tag() {
    local v2=$1 repo=$2 tag=$3 digest=$4
    local dir=$v2/repositories/$repo/_manifests/tags/$tag

    mkdir -p "$dir/current" "$dir/index/sha256/${digest#sha256:}"
    printf '%s' "$digest" >"$dir/current/link"
    printf '%s' "$digest" >"$dir/index/sha256/${digest#sha256:}/link"
    reg_link "$v2" "$repo" revision "$digest"
}
