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

/*
 * Decodes base64 (url: the URL-safe alphabet), skipping whitespace and
 * accepting missing padding. Writes at most `cap` bytes to `out` (which may
 * be NULL to only check). Returns the decoded length, or -1 if invalid.
 */
static long b64_decode(const unsigned char *in, size_t len, int url,
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
    return b64_decode(s, len, 0, NULL, 0) > 0 ||
           b64_decode(s, len, 1, NULL, 0) > 0;
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
    n = b64_decode(seg, len, 1, buf, len);
    j = n > 0 ? json_loadb((const char *)buf, (size_t)n, 0, NULL) : NULL;
    ksi_free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
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
 * The body between the armour lines must be base64 once header lines
 * ("Proc-Type: ...", "Version: ...") and an OpenPGP checksum line ("=abcd")
 * are set aside.
 */
static int pem_body_ok(const unsigned char *p, const unsigned char *end)
{
    size_t data = 0;

    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);

        while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
            n--;
        if (n && !memchr(p, ':', n) && !(p[0] == '=' && n == 5)) {
            if (b64_decode(p, n, 0, NULL, 0) < 0)
                return 0;
            data += n;
        }
        p = nl ? nl + 1 : end;
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
    { "jwt", v_jwt },
    { "pem", v_pem },
    { "aws-key-id", v_aws_key_id },
    { "base64", v_base64 },
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
    return "crc32-base62, jwt, pem, aws-key-id, base64, hex";
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
    "secrets.", "vault:", NULL,
};

static int contains_ci(const unsigned char *s, size_t len, const char *word)
{
    size_t wl = strlen(word);

    for (size_t i = 0; i + wl <= len; i++) {
        if (strncasecmp((const char *)s + i, word, wl) == 0)
            return 1;
    }
    return 0;
}

/*
 * Eight or more consecutive ascending characters ("abcdefgh", "12345678")
 * mark a made-up value; in a random 40-character token the chance is about
 * one in 10^11.
 */
static int has_sequence(const unsigned char *s, size_t len)
{
    size_t run = 1;

    for (size_t i = 1; i < len; i++) {
        run = s[i] == s[i - 1] + 1 && isalnum(s[i]) ? run + 1 : 1;
        if (run >= 8)
            return 1;
    }
    return 0;
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
    if (!generic)
        return 0;
    if (all_hex(s, len) && (len == 32 || len == 40 || len == 64 ||
                            len == 128))
        return 1;
    return is_uuid(s, len);
}
