/*
 * location.c - what a location is keyed by, for baselines, SARIF and
 * snapshots.
 *
 * A finding's fingerprint (the engine's) names a rule and a secret, so a
 * key copied into forty files is one finding. A location's key adds the
 * path the secret is in, and nothing that an edit elsewhere in the file
 * could move: not the line, not the column, not the offset. The path is
 * the one a reader would name whatever directory the scan started from:
 *
 *   - in a directory input, the path below that directory
 *     (`keysift scan .` and `keysift scan /ci/checkout` agree);
 *   - a file input, as named, without a leading "./";
 *   - inside an archive, the archive's key path, "/", the member path;
 *   - in an image, the path inside the layer, never the layer's digest or
 *     the image's name, so rebuilding or retagging the image keeps the
 *     key; a config field is "config/" and its name without index
 *     ("config/Env"), since adding a variable moves the others' indexes.
 */
#include "cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *s;
    size_t len;
    size_t cap;
    int failed;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *grown = realloc(b->s, cap);

        if (!grown) {
            b->failed = 1;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Drops leading "./" and "/" from a path inside a container. */
static const char *inner(const char *p)
{
    for (;;) {
        if (p[0] == '.' && p[1] == '/')
            p += 2;
        else if (p[0] == '/')
            p++;
        else
            return p;
    }
}

/* A member path, "/" before it unless the key is still empty. */
static void put_member(buf *b, const char *p)
{
    p = inner(p);
    if (b->len)
        put(b, "/", 1);
    put(b, p, strlen(p));
}

/*
 * The outermost element: relative to the input when the input is a
 * directory (the chain element then starts with it and a '/'), else the
 * input as named without leading "./".
 */
static void put_outer(buf *b, const char *input, const char *first)
{
    size_t n = strlen(input);

    while (n > 0 && input[n - 1] == '/')
        n--;
    if (strcmp(first, input) != 0 && strncmp(first, input, n) == 0 &&
        first[n] == '/') {
        put_member(b, first + n);
        return;
    }
    while (first[0] == '.' && first[1] == '/')
        first += 2;
    put(b, first, strlen(first));
}

/* "Env[2]" -> "Env", "history[4].created_by" -> "history.created_by". */
static void put_config_field(buf *b, const char *field)
{
    put(b, "config/", 7);
    while (*field) {
        const char *close = field[0] == '[' ? strchr(field, ']') : NULL;
        int all_digits = close && close > field + 1;

        for (const char *p = field + 1; all_digits && p < close; p++)
            all_digits = isdigit((unsigned char)*p) != 0;
        if (all_digits) {
            field = close + 1;
            continue;
        }
        put(b, field, 1);
        field++;
    }
}

char *location_key_path(const ks_location *loc)
{
    buf b = { NULL, 0, 0, 0 };

    put(&b, "", 0);
    if (loc->image && loc->layer_index < 0 && loc->config_field) {
        put_config_field(&b, loc->config_field);
    } else if (loc->image) {
        /* chain: image reference, "layer N", then paths in the layer */
        for (size_t i = 2; i < loc->chain_len; i++)
            put_member(&b, loc->chain[i]);
    } else {
        put_outer(&b, loc->input, loc->chain[0]);
        for (size_t i = 1; i < loc->chain_len; i++)
            put_member(&b, loc->chain[i]);
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

int location_key(const char *rule_id, const char *secret, size_t len,
                 const char *key_path, char out[33])
{
    char count[24];
    size_t id_len = strlen(rule_id) + 1;
    size_t count_len = (size_t)snprintf(count, sizeof(count), "%zu", len) + 1;
    size_t path_len = strlen(key_path) + 1;
    size_t total = id_len + count_len + len + 1 + path_len;
    char *msg = malloc(total);
    char *p = msg;
    char hex[65];

    if (!msg)
        return -1;
    /* The secret's length makes the split between the parts unambiguous
     * even for a secret holding NUL bytes. */
    memcpy(p, rule_id, id_len);
    p += id_len;
    memcpy(p, count, count_len);
    p += count_len;
    memcpy(p, secret, len);
    p += len;
    *p++ = '\0';
    memcpy(p, key_path, path_len);
    ks_sha256_hex(msg, total, hex);
    free(msg);
    memcpy(out, hex, 32);
    out[32] = '\0';
    return 0;
}
