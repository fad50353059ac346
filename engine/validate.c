/*
 * validate.c - validators and noise filters.
 *
 * A pattern says what a secret looks like; a validator checks what it is.
 * A GitHub token carries a CRC-32 of its random part, a JWT's header is JSON,
 * a PEM block's labels match: a look-alike that fails these is not a secret.
 */
#include "validate.h"

#include "alloc.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

uint32_t ksi_crc32(const unsigned char *data, size_t len)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ---- base64 ------------------------------------------------------------- */

static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

long ksi_base64_decode(const unsigned char *in, size_t len, int url,
                       unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int v;

        if (isspace(in[i]))
            continue;
        if (in[i] == '=') {
            pad++;
            continue;
        }
        if (pad)
            return -1;  /* data after padding */
        v = b64_value(in[i], url);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out && n < cap)
                out[n] = (unsigned char)(acc >> bits);
            n++;
        }
    }
    if (pad > 2 || bits >= 6)
        return -1;
    return (long)n;
}

static int v_base64(const unsigned char *s, size_t len)
{
    return ksi_base64_decode(s, len, 0, NULL, 0) > 0 ||
           ksi_base64_decode(s, len, 1, NULL, 0) > 0;
}

/*
 * Base64 of "user:password" with a non-empty password, all printable: the
 * credential of HTTP basic authentication and of Docker's "auth" entries.
 */
static int v_base64_userpass(const unsigned char *s, size_t len)
{
    unsigned char out[1536];
    long n = len <= 2048 ? ksi_base64_decode(s, len, 0, out, sizeof(out)) : -1;
    const unsigned char *colon;

    if (n <= 2 || (size_t)n > sizeof(out))
        return 0;
    for (long i = 0; i < n; i++) {
        if (out[i] < 0x20 || out[i] > 0x7e)
            return 0;
    }
    colon = memchr(out, ':', (size_t)n);
    return colon && colon < out + n - 1;
}

static int v_hex(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit(s[i]))
            return 0;
    }
    return len > 0;
}

/* ---- GitHub-style checksum ---------------------------------------------- */

/*
 * <prefix>_<30 random base62><6 base62 digits of the CRC-32 of the 30>.
 * GitHub's classic tokens and npm's tokens carry it.
 */
static int v_crc32_base62(const unsigned char *s, size_t len)
{
    static const char digits[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const unsigned char *body = NULL;
    char want[6];
    uint32_t crc;

    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == '_') {
            body = s + i;
            break;
        }
    }
    if (!body || (size_t)(s + len - body) != 36)
        return 0;
    crc = ksi_crc32(body, 30);
    for (int i = 5; i >= 0; i--) {
        want[i] = digits[crc % 62];
        crc /= 62;
    }
    return memcmp(want, body + 30, 6) == 0;
}

/*
 * <body>_<8 hex digits>: the CRC-32 of the body (prefix included), its
 * least significant byte first, as Grafana's service account tokens carry.
 */
static int v_crc32_hex_le(const unsigned char *s, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    uint32_t crc;

    if (len < 10 || s[len - 9] != '_')
        return 0;
    crc = ksi_crc32(s, len - 9);
    for (int i = 0; i < 4; i++) {
        unsigned byte = (crc >> (8 * i)) & 0xffu;
        const unsigned char *pair = s + len - 8 + 2 * i;

        if (pair[0] != digits[byte >> 4] || pair[1] != digits[byte & 15u])
            return 0;
    }
    return 1;
}

/* ---- bech32 ------------------------------------------------------------- */

static uint32_t bech32_step(uint32_t chk, unsigned value)
{
    static const uint32_t gen[5] = { 0x3b6a57b2u, 0x26508e6du, 0x1ea119fau,
                                     0x3d4233ddu, 0x2a1462b3u };
    uint32_t top = chk >> 25;

    chk = ((chk & 0x1ffffffu) << 5) ^ value;
    for (int i = 0; i < 5; i++) {
        if ((top >> i) & 1u)
            chk ^= gen[i];
    }
    return chk;
}

/*
 * A bech32 string (BIP-173): a human-readable part, the separator '1' (the
 * last one), then data characters whose last six are a BCH checksum over
 * the whole. One case throughout; age's secret keys use it.
 */
static int v_bech32(const unsigned char *s, size_t len)
{
    static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const unsigned char *sep = NULL;
    int upper = 0, lower = 0;
    uint32_t chk = 1;
    size_t hrp;

    for (size_t i = 0; i < len; i++) {
        if (s[i] < 33 || s[i] > 126)
            return 0;
        upper |= isupper(s[i]) != 0;
        lower |= islower(s[i]) != 0;
        if (s[i] == '1')
            sep = s + i;
    }
    if ((upper && lower) || !sep || sep == s || s + len - sep < 7 || len > 90)
        return 0;
    hrp = (size_t)(sep - s);
    for (size_t i = 0; i < hrp; i++)
        chk = bech32_step(chk, (unsigned)tolower(s[i]) >> 5);
    chk = bech32_step(chk, 0);
    for (size_t i = 0; i < hrp; i++)
        chk = bech32_step(chk, (unsigned)tolower(s[i]) & 31u);
    for (const unsigned char *p = sep + 1; p < s + len; p++) {
        const char *at = strchr(charset, tolower(*p));

        if (!at)
            return 0;
        chk = bech32_step(chk, (unsigned)(at - charset));
    }
    return chk == 1;
}

/* ---- JWT ---------------------------------------------------------------- */

/* Decodes a base64url segment and parses it as a JSON object. */
static json_t *json_segment(const unsigned char *seg, size_t len)
{
    unsigned char *buf;
    long n;
    json_t *j;

    if (len == 0 || len > 16384)
        return NULL;
    buf = ksi_malloc(len);
    if (!buf)
        return NULL;
    n = ksi_base64_decode(seg, len, 1, buf, len);
    j = n > 0 ? json_loadb((const char *)buf, (size_t)n, 0, NULL) : NULL;
    ksi_free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The same, for text that may use either base64 alphabet. */
static json_t *json_segment_any(const unsigned char *seg, size_t len)
{
    unsigned char *std;
    json_t *j;

    if (len == 0 || len > 16384)
        return NULL;
    j = json_segment(seg, len);
    if (j)
        return j;
    std = ksi_malloc(len);
    if (!std)
        return NULL;
    for (size_t i = 0; i < len; i++)
        std[i] = seg[i] == '+' ? '-' : seg[i] == '/' ? '_' : seg[i];
    j = json_segment(std, len);
    ksi_free(std);
    return j;
}

static int v_jwt(const unsigned char *s, size_t len)
{
    const unsigned char *dot1 = memchr(s, '.', len);
    const unsigned char *dot2;
    json_t *header, *payload;
    int ok;

    if (!dot1)
        return 0;
    dot2 = memchr(dot1 + 1, '.', (size_t)(s + len - dot1 - 1));
    if (!dot2)
        return 0;
    header = json_segment(s, (size_t)(dot1 - s));
    payload = json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    ok = header && payload && json_is_string(json_object_get(header, "alg"));
    json_decref(header);
    json_decref(payload);
    return ok;
}

/*
 * Tokens that carry their metadata as base64 JSON after a prefix (Grafana
 * Cloud's glc_, 1Password's ops_, Sentry's sntrys_, Mapbox's pk. and sk.):
 * from the first "eyJ", a run of base64 characters, possibly followed by
 * '_' and a signature, must decode to a JSON object. Each '_' in the run
 * could be that separator or a base64url digit, so every cut is tried.
 */
static int v_base64_json(const unsigned char *s, size_t len)
{
    const unsigned char *p = NULL, *end;
    json_t *j;

    for (size_t i = 0; i + 3 <= len && !p; i++) {
        if (memcmp(s + i, "eyJ", 3) == 0)
            p = s + i;
    }
    if (!p)
        return 0;
    for (end = p; end < s + len && (isalnum(*end) || strchr("+/=_-", *end));
         end++)
        continue;
    for (const unsigned char *cut = p + 3; cut <= end; cut++) {
        if (cut != end && *cut != '_')
            continue;
        j = json_segment_any(p, (size_t)(cut - p));
        if (j) {
            json_decref(j);
            return 1;
        }
    }
    return 0;
}

/* ---- PEM ---------------------------------------------------------------- */

/* Finds "-----BEGIN label-----" at s; sets the label span. */
static const unsigned char *pem_label(const unsigned char *s,
                                      const unsigned char *end,
                                      const char *word, size_t *label_len)
{
    size_t wl = strlen(word);
    const unsigned char *p = s, *q;

    if ((size_t)(end - p) < 5 + wl || memcmp(p, "-----", 5) != 0 ||
        memcmp(p + 5, word, wl) != 0)
        return NULL;
    p += 5 + wl;
    for (q = p; q + 5 <= end; q++) {
        if (memcmp(q, "-----", 5) == 0) {
            *label_len = (size_t)(q - p);
            return p;
        }
        if (*q == '\n')
            return NULL;
    }
    return NULL;
}

/*
 * The end of the line that starts at p: a newline, or the two characters
 * "\n" of a block kept escaped in a JSON or YAML string. Sets *next to
 * where the next line starts.
 */
static const unsigned char *line_end(const unsigned char *p,
                                     const unsigned char *end,
                                     const unsigned char **next)
{
    for (const unsigned char *q = p; q < end; q++) {
        if (*q == '\n') {
            *next = q + 1;
            return q;
        }
        if (*q == '\\' && q + 1 < end && q[1] == 'n') {
            *next = q + 2;
            return q;
        }
    }
    *next = end;
    return end;
}

/*
 * The body between the armour lines must be base64 once header lines
 * ("Proc-Type: ...", "Version: ...") and an OpenPGP checksum line ("=abcd")
 * are set aside.
 */
static int pem_body_ok(const unsigned char *p, const unsigned char *end)
{
    size_t data = 0;

    while (p < end) {
        const unsigned char *next;
        const unsigned char *eol = line_end(p, end, &next);
        size_t n = (size_t)(eol - p);

        /* Trailing "\r" escapes, carriage returns and indentation. */
        while (n && (isspace(p[n - 1]) ||
                     (n >= 2 && p[n - 2] == '\\' && p[n - 1] == 'r')))
            n -= p[n - 1] == 'r' ? 2 : 1;
        while (n && isspace(*p)) {
            p++;
            n--;
        }
        if (n && !memchr(p, ':', n) && !(p[0] == '=' && n == 5)) {
            if (ksi_base64_decode(p, n, 0, NULL, 0) < 0)
                return 0;
            data += n;
        }
        p = next;
    }
    return data >= 16;
}

static int v_pem(const unsigned char *s, size_t len)
{
    const unsigned char *end = s + len;
    const unsigned char *begin, *stop = NULL;
    size_t blen, elen;

    begin = pem_label(s, end, "BEGIN ", &blen);
    if (!begin)
        return 0;
    for (const unsigned char *p = end - 9; p > begin; p--) {
        if (memcmp(p, "-----END ", 9) == 0) {
            stop = p;
            break;
        }
    }
    if (!stop || !pem_label(stop, end, "END ", &elen) || elen != blen ||
        memcmp(stop + 9, begin, blen) != 0)
        return 0;
    return pem_body_ok(begin + blen + 5, stop);
}

/*
 * GitHub App installation tokens come short (ghs_, 30 characters and their
 * CRC-32, like the classic tokens) or long: ghs_, the app's numeric id, '_'
 * and a signed JWT.
 */
static int v_github_installation(const unsigned char *s, size_t len)
{
    size_t digits = 0;

    if (len == 40)
        return v_crc32_base62(s, len);
    while (4 + digits < len && isdigit(s[4 + digits]))
        digits++;
    if (len < 4 || memcmp(s, "ghs_", 4) != 0 || digits == 0 ||
        4 + digits >= len || s[4 + digits] != '_')
        return 0;
    return v_jwt(s + 5 + digits, len - 5 - digits);
}

/* ---- AWS access key ids ------------------------------------------------- */

static int v_aws_key_id(const unsigned char *s, size_t len)
{
    static const char *const prefixes[] = {
        "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA",
        "ANVA", "AROA", "APKA", "ASCA", NULL,
    };
    int known = 0;

    if (len != 20)
        return 0;
    for (const char *const *p = prefixes; *p; p++)
        known |= memcmp(s, *p, 4) == 0;
    if (!known)
        return 0;
    for (size_t i = 4; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '2' && s[i] <= '7')))
            return 0;
    }
    return 1;
}

static const struct {
    const char *name;
    ksi_validator_fn fn;
} validators[] = {
    { "crc32-base62", v_crc32_base62 },
    { "crc32-hex-le", v_crc32_hex_le },
    { "github-installation", v_github_installation },
    { "bech32", v_bech32 },
    { "base64-json", v_base64_json },
    { "jwt", v_jwt },
    { "pem", v_pem },
    { "aws-key-id", v_aws_key_id },
    { "base64", v_base64 },
    { "base64-userpass", v_base64_userpass },
    { "hex", v_hex },
};

ksi_validator_fn ksi_validator_find(const char *name)
{
    for (size_t i = 0; i < sizeof(validators) / sizeof(validators[0]); i++) {
        if (strcmp(name, validators[i].name) == 0)
            return validators[i].fn;
    }
    return NULL;
}

const char *ksi_validator_names(void)
{
    return "crc32-base62, crc32-hex-le, github-installation, bech32, "
           "base64-json, base64-userpass, jwt, pem, aws-key-id, base64, hex";
}

/* ---- noise -------------------------------------------------------------- */

/* Keys that vendors print in their documentation, found in every tutorial
 * and SDK test suite. */
static const char *const doc_examples[] = {
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "pk_test_TYooMQauvdEDq54NiTphI7jx",
    "xoxb-not-a-real-token-this-will-not-work",
    "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz",    /* Supabase local dev */
    "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3DEUifiRB"
    "kKG5E2XzMDjRfl76ZC9Ub0wnz4XsNiRVBChTYbJcE3F",
    "FLWPUBK_TEST-32193bba8dab84e3d9c4525c85ea7a12-X",
    /* OAuth's RFCs (5849, 6749): the sample tokens every OAuth library
     * carries in its docstrings and tests. */
    "ad180jjd733klru7", "2YotnFZFEjr1zCsicMWpAA", "tGzv3JOkF0XG5Qx2TlKWIA",
    /* The sample token of the JWT introduction most tutorials copy. */
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFt"
    "ZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36"
    "POk6yJV_adQssw5c",
    "00Dx0000000BV7z!AR8AQAxo9UfVkh8AlV0Gomt9Czx9LjHnSSpwBMmbRcgKFmxOtvxjTrKW1"
    "9ye6PE3Ds1eQz3z8jr3W7_VbWmEu4Q8TVGSTHxs",
    NULL,
};

/* Words that only placeholders contain. Matched case-insensitively. */
static const char *const placeholder_words[] = {
    "example", "placeholder", "changeme", "change_me", "change-me",
    "your_", "your-", "yourkey", "yourtoken", "yourpassword", "yoursecret",
    "redacted", "replace_me", "replaceme", "insert_", "dummy", "xxxxx",
    "*****", "process.env", "os.environ", "getenv(", "env[",
    "secrets.", "vault:", "...", "\xe2\x80\xa6", NULL,
};

static int contains_ci(const unsigned char *s, size_t len, const char *word)
{
    const size_t wl = strlen(word);
    const int first = tolower((unsigned char)word[0]);

    /* Every confirmed secret meets every word: the first byte is compared
     * before the call, which most positions fail. */
    for (size_t i = 0; i + wl <= len; i++) {
        if (tolower(s[i]) == first &&
            strncasecmp((const char *)s + i, word, wl) == 0)
            return 1;
    }
    return 0;
}

/*
 * Eight or more consecutive ascending characters ("abcdefgh", "12345678")
 * mark a made-up value; in a random 40-character token the chance is about
 * one in 10^11.
 */
static int follows(const unsigned char *s, size_t i, size_t back)
{
    return i >= back && isalnum(s[i]) &&
           tolower(s[i]) == tolower(s[i - back]) + 1;
}

static int has_sequence(const unsigned char *s, size_t len)
{
    size_t run = 1;

    for (size_t i = 1; i < len; i++) {
        run = follows(s, i, 1) ? run + 1 : 1;
        if (run >= 8)
            return 1;
    }
    return 0;
}

/*
 * Share of characters that come one after the character before them, or
 * the one before that, in any case: made-up values such as
 * `abcd1234defg5678`, `a1b2c3d4567890ab` or `AB1C2defGHijkLMNo3` are
 * mostly such steps; in a random base62 token one character in twenty is.
 */
static double sequence_share(const unsigned char *s, size_t len)
{
    size_t steps = 0;

    for (size_t i = 1; i < len; i++)
        steps += follows(s, i, 1) || follows(s, i, 2);
    return len ? (double)steps / (double)len : 0.0;
}

/* Bytes no hand-written secret holds: controls, DEL and non-ASCII, the
 * sign of a match inside binary data. */
static int has_binary(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return 1;
    }
    return 0;
}

/* Base64 of a JSON object ("eyJ" is `{"`) with no JWT dots: a pagination
 * cursor or a state blob, not a credential (JWTs have a rule of their
 * own). */
static int is_encoded_json(const unsigned char *s, size_t len)
{
    return len > 3 && memcmp(s, "eyJ", 3) == 0 && !memchr(s, '.', len);
}

static int is_template(const unsigned char *s, size_t len)
{
    static const char *const openers[] = { "${", "$(", "{{", "%(", "#{",
                                           "{%", "@{", NULL };

    for (const char *const *o = openers; *o; o++) {
        if (len >= 2 && memcmp(s, *o, 2) == 0)
            return 1;
    }
    return len >= 2 && s[0] == '%' && s[len - 1] == '%';
}

static int all_hex(const unsigned char *s, size_t len)
{
    return v_hex(s, len);
}

static int is_uuid(const unsigned char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-' : !isxdigit(s[i]))
            return 0;
    }
    return 1;
}

/*
 * Names that a generic rule's value holds only when it is itself a name:
 * `password = "challengePassword"`, `secret: _EllipticCurvePrivateKey`.
 */
static const char *const credential_words[] = {
    "password", "passwd", "secret", "token", "apikey", "api_key",
    "privatekey", "private_key", "credential", NULL,
};

/* A path or a link without credentials, not a secret. */
static int is_path_or_url(const unsigned char *s, size_t len)
{
    static const char *const starts[] = { "/", "./", "../", "~/", NULL };

    for (const char *const *p = starts; *p; p++) {
        size_t pl = strlen(*p);

        if (len > pl && memcmp(s, *p, pl) == 0)
            return 1;
    }
    for (size_t i = 0; i + 3 <= len; i++) {
        if (memcmp(s + i, "://", 3) == 0)
            return !memchr(s + i, '@', len - i);
    }
    return 0;
}

/*
 * Share of the value made of word-like letter runs: four or more letters
 * of one case, or a capital followed by three or more lower-case letters,
 * split where camelCase turns. Identifiers, constants and prose
 * (`CURLOPTTYPE_STRINGPOINT+5`, `ScreenSave_Data`, `nobody@nowhere.com`)
 * are mostly words; random tokens change case every few characters, so
 * in a 16-character base62 token such runs cover a tenth or so.
 */
static double word_share(const unsigned char *s, size_t len)
{
    size_t covered = 0;
    size_t i = 0;

    while (i < len) {
        size_t start = i;

        if (isupper(s[i])) {
            size_t j = i + 1;

            while (j < len && isupper(s[j]))
                j++;
            /* "HTTPServer": the last capital starts the next word. */
            if (j < len && islower(s[j]) && j - i > 1)
                j--;
            if (j - i == 1)
                while (j < len && islower(s[j]))
                    j++;
            i = j;
        } else if (islower(s[i])) {
            while (i < len && islower(s[i]))
                i++;
        } else {
            i++;
            continue;
        }
        if (i - start >= 4)
            covered += i - start;
    }
    return len ? (double)covered / (double)len : 0.0;
}

/* Noise for rules that know only the name a value is assigned to. */
static int is_generic_noise(const unsigned char *s, size_t len)
{
    if (all_hex(s, len) && (len == 32 || len == 40 || len == 64 ||
                            len == 128))
        return 1;
    if (is_uuid(s, len) || is_path_or_url(s, len))
        return 1;
    if (has_binary(s, len) || is_encoded_json(s, len))
        return 1;
    if (sequence_share(s, len) >= 0.5)
        return 1;
    for (const char *const *w = credential_words; *w; w++) {
        if (contains_ci(s, len, *w))
            return 1;
    }
    return word_share(s, len) >= 0.6;
}

int ksi_is_benign_name(const unsigned char *data, size_t at)
{
    static const char *const words[] = {
        "next", "page", "continuation", "pagination", "cursor", "marker",
        "change", "sync", "idempotency", "clienttoken", "client_token",
        "csrf", "xsrf", NULL,
    };
    size_t from = at;

    while (from > 0 && at - from < 64 &&
           (isalnum(data[from - 1]) || data[from - 1] == '_' ||
            data[from - 1] == '-'))
        from--;
    /* Take in the keyword too (every match holds five bytes past its
     * start), so that "ClientToken" is told from "client_secret". */
    for (const char *const *w = words; *w; w++) {
        if (contains_ci(data + from, at - from + 5, *w))
            return 1;
    }
    return 0;
}

int ksi_is_noise(const unsigned char *s, size_t len, int generic)
{
    for (const char *const *e = doc_examples; *e; e++) {
        if (strlen(*e) == len && memcmp(s, *e, len) == 0)
            return 1;
    }
    if (is_template(s, len))
        return 1;
    if (memchr(s, '<', len) && memchr(s, '>', len))
        return 1;
    if (has_sequence(s, len))
        return 1;
    for (const char *const *w = placeholder_words; *w; w++) {
        if (contains_ci(s, len, *w))
            return 1;
    }
    return generic && is_generic_noise(s, len);
}
