/*
 * results.c - a unit's kept results, their JSON record, and the on-disk
 * results cache built from those records.
 */
#include "results.h"

#include "alloc.h"
#include "input_limits.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- kept findings ------------------------------------------------------ */

int ksi_push_string(char ***list, size_t *n, size_t *cap, const char *s,
                    size_t len)
{
    char *copy;

    if (ksi_grow(list, cap, *n + 1, sizeof(**list)))
        return -1;
    copy = ksi_malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    (*list)[(*n)++] = copy;
    return 0;
}

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ksi_free(list[i]);
    ksi_free(list);
}

static void kept_clear(ksi_kept *k)
{
    ksi_free(k->secret);
    free_strings(k->chain, k->chain_len);
}

void ksi_unit_reset(ksi_layer *l)
{
    for (size_t i = 0; i < l->n_kept; i++)
        kept_clear(&l->kept[i]);
    ksi_free(l->kept);
    free_strings(l->deleted, l->n_deleted);
    free_strings(l->opaque, l->n_opaque);
    l->kept = NULL;
    l->deleted = l->opaque = NULL;
    l->n_kept = l->cap_kept = 0;
    l->n_deleted = l->cap_deleted = 0;
    l->n_opaque = l->cap_opaque = 0;
    l->mismatch = 0;
}

void ksi_unit_free(ksi_layer *l)
{
    if (!l)
        return;
    ksi_unit_reset(l);
    ksi_free(l->digest);
    ksi_free(l);
}

int ksi_unit_keep(ksi_layer *l, const ks_finding *f)
{
    const ks_location *loc = &f->location;
    ksi_kept k;
    size_t cap = 0;

    memset(&k, 0, sizeof(k));
    k.rule = f->rule;
    k.confidence = f->confidence;
    k.secret_len = f->secret_len;
    k.entropy = f->entropy;
    snprintf(k.fingerprint, sizeof(k.fingerprint), "%s", f->fingerprint);
    k.line = loc->line;
    k.column = loc->column;
    k.offset = loc->offset;
    k.flags = loc->flags;
    k.secret = ksi_malloc(f->secret_len + 1);
    if (!k.secret)
        goto fail;
    memcpy(k.secret, f->secret, f->secret_len);
    k.secret[f->secret_len] = '\0';
    /* chain[0] names the unit; what follows is inside it. */
    for (size_t i = 1; i < loc->chain_len; i++) {
        if (ksi_push_string(&k.chain, &k.chain_len, &cap, loc->chain[i],
                            strlen(loc->chain[i])))
            goto fail;
    }
    if (ksi_grow(&l->kept, &l->cap_kept, l->n_kept + 1, sizeof(*l->kept)))
        goto fail;
    l->kept[l->n_kept++] = k;
    return 0;

fail:
    kept_clear(&k);
    return -1;
}

/* ---- bytes as JSON ------------------------------------------------------ */

json_t *ksi_json_of_bytes(const char *s, size_t len)
{
    json_t *str = json_stringn(s, len);
    char *hex;

    if (str)
        return str;
    hex = ksi_malloc(len * 2 + 1);
    if (!hex)
        return NULL;
    ksi_hex((const unsigned char *)s, len, hex);
    str = json_pack("{s:s}", "hex", hex);
    ksi_free(hex);
    return str;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *ksi_json_bytes(const json_t *v, size_t *len)
{
    const char *hex;
    size_t n;
    char *out;

    if (json_is_string(v)) {
        *len = json_string_length(v);
        out = ksi_malloc(*len + 1);
        if (out) {
            memcpy(out, json_string_value(v), *len);
            out[*len] = '\0';
        }
        return out;
    }
    hex = json_string_value(json_object_get(v, "hex"));
    n = hex ? strlen(hex) : 1;
    if (n % 2)
        return NULL;
    out = ksi_malloc(n / 2 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            ksi_free(out);
            return NULL;
        }
        out[i] = (char)(hi << 4 | lo);
    }
    out[n / 2] = '\0';
    *len = n / 2;
    return out;
}

/* ---- records ------------------------------------------------------------ */

static json_t *strings_json(char *const *list, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, ksi_json_of_bytes(list[i],
                                                       strlen(list[i])))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *kept_json(const ksi_kept *k)
{
    return json_pack("{s:s, s:s, s:o, s:f, s:s, s:o, s:I, s:I, s:I, s:i}",
                     "rule", k->rule->id,
                     "confidence", ks_confidence_str(k->confidence),
                     "secret", ksi_json_of_bytes(k->secret, k->secret_len),
                     "entropy", k->entropy,
                     "fingerprint", k->fingerprint,
                     "chain", strings_json(k->chain, k->chain_len),
                     "line", (json_int_t)k->line,
                     "column", (json_int_t)k->column,
                     "offset", (json_int_t)k->offset,
                     "flags", (int)k->flags);
}

json_t *ksi_unit_json(const ksi_layer *l)
{
    json_t *findings = json_array();
    json_t *rec;

    for (size_t i = 0; findings && i < l->n_kept; i++) {
        if (json_array_append_new(findings, kept_json(&l->kept[i]))) {
            json_decref(findings);
            return NULL;
        }
    }
    rec = json_pack("{s:s, s:s, s:b, s:o, s:o, s:o}",
                    "record", l->kind == KSI_UNIT_CONFIG ? "config"
                                                          : "layer",
                    "digest", l->digest,
                    "mismatch", l->mismatch,
                    "whiteouts", strings_json(l->deleted, l->n_deleted),
                    "opaque", strings_json(l->opaque, l->n_opaque),
                    "findings", findings);
    return rec;
}

static const ks_rule_info *rule_by_id(const ks_ruleset *rules,
                                      const char *id)
{
    size_t n = ks_ruleset_count(rules);

    for (size_t i = 0; id && i < n; i++) {
        const ks_rule_info *r = ks_ruleset_rule(rules, i);

        if (strcmp(r->id, id) == 0)
            return r;
    }
    return NULL;
}

static int parse_confidence(const char *s, ks_confidence *out)
{
    static const ks_confidence all[] = { KS_CONF_LOW, KS_CONF_MEDIUM,
                                         KS_CONF_HIGH };

    for (size_t i = 0; s && i < 3; i++) {
        if (strcmp(s, ks_confidence_str(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

static int load_strings(const json_t *a, char ***list, size_t *n,
                        size_t *cap)
{
    size_t i, len;
    json_t *v;

    if (!json_is_array(a))
        return -1;
    json_array_foreach(a, i, v) {
        char *s = ksi_json_bytes(v, &len);
        int failed = !s || memchr(s, '\0', len) ||
                     ksi_push_string(list, n, cap, s, len);

        ksi_free(s);
        if (failed)
            return -1;
    }
    return 0;
}

static int uint_field(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int load_kept(ksi_kept *k, const json_t *o, const ks_ruleset *rules)
{
    const char *fp = json_string_value(json_object_get(o, "fingerprint"));
    const json_t *entropy = json_object_get(o, "entropy");
    uint64_t flags;
    size_t cap = 0;

    memset(k, 0, sizeof(*k));
    k->rule = rule_by_id(rules, json_string_value(json_object_get(o,
                                                                  "rule")));
    if (!k->rule || !fp || strlen(fp) >= sizeof(k->fingerprint) ||
        !json_is_number(entropy) ||
        parse_confidence(json_string_value(json_object_get(o,
                                                           "confidence")),
                         &k->confidence) ||
        uint_field(o, "line", &k->line) ||
        uint_field(o, "column", &k->column) ||
        uint_field(o, "offset", &k->offset) ||
        uint_field(o, "flags", &flags))
        return -1;
    snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", fp);
    k->entropy = json_number_value(entropy);
    k->flags = (unsigned)flags;
    k->secret = ksi_json_bytes(json_object_get(o, "secret"), &k->secret_len);
    if (!k->secret)
        return -1;
    return load_strings(json_object_get(o, "chain"), &k->chain,
                        &k->chain_len, &cap);
}

static int unit_load(ksi_layer *l, const json_t *rec,
                     const ks_ruleset *rules);

int ksi_unit_load(ksi_layer *l, const json_t *rec, const ks_ruleset *rules)
{
    if (unit_load(l, rec, rules) == 0)
        return 0;
    ksi_unit_reset(l);
    return -1;
}

static int unit_load(ksi_layer *l, const json_t *rec,
                     const ks_ruleset *rules)
{
    const json_t *findings = json_object_get(rec, "findings");
    const json_t *v;
    size_t i;

    if (!json_is_array(findings) ||
        !json_is_boolean(json_object_get(rec, "mismatch")) ||
        load_strings(json_object_get(rec, "whiteouts"), &l->deleted,
                     &l->n_deleted, &l->cap_deleted) ||
        load_strings(json_object_get(rec, "opaque"), &l->opaque,
                     &l->n_opaque, &l->cap_opaque))
        return -1;
    l->mismatch = json_is_true(json_object_get(rec, "mismatch"));
    json_array_foreach(findings, i, v) {
        ksi_kept k;

        if (load_kept(&k, v, rules) ||
            ksi_grow(&l->kept, &l->cap_kept, l->n_kept + 1,
                     sizeof(*l->kept))) {
            kept_clear(&k);
            return -1;
        }
        l->kept[l->n_kept++] = k;
    }
    return 0;
}

/* ---- the cache ---------------------------------------------------------- */

/* DIR/v1/KEY/HEX.json for a "sha256:HEX" digest; -1 for other digests. */
static int entry_path(const char *dir, const char *key, const char *digest,
                      char *out, size_t cap)
{
    const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : NULL;
    int n;

    if (!hex || strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
        return -1;
    n = snprintf(out, cap, "%s/v1/%s/%s.json", dir, key, hex);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int ksi_cache_get(const char *dir, const char *key, ksi_layer *l,
                  const ks_ruleset *rules)
{
    char path[KSI_MAX_PATH];
    json_error_t err;
    json_t *doc;
    int ok;

    if (entry_path(dir, key, l->digest, path, sizeof(path)))
        return 0;
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        return 0;
    ok = json_is_object(doc) &&
         json_integer_value(json_object_get(doc, "keysift_cache")) == 1 &&
         json_is_string(json_object_get(doc, "key")) &&
         strcmp(json_string_value(json_object_get(doc, "key")), key) == 0 &&
         json_is_string(json_object_get(doc, "digest")) &&
         strcmp(json_string_value(json_object_get(doc, "digest")),
                l->digest) == 0 &&
         ksi_unit_load(l, doc, rules) == 0;
    json_decref(doc);
    return ok;
}

/* mkdir -p for the two levels below an existing or creatable `dir`. */
static int make_dirs(const char *dir, const char *key)
{
    char path[KSI_MAX_PATH];

    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof(path), "%s/v1", dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof(path), "%s/v1/%s", dir, key);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

void ksi_cache_put(const char *dir, const char *key, const ksi_layer *l)
{
    static atomic_uint serial;
    char path[KSI_MAX_PATH], tmp[KSI_MAX_PATH + 64];
    json_t *doc = NULL;
    char *text = NULL;
    int fd = -1, ok = 0;

    if (entry_path(dir, key, l->digest, path, sizeof(path)) ||
        make_dirs(dir, key))
        return;
    doc = ksi_unit_json(l);
    if (!doc || json_object_set_new(doc, "keysift_cache", json_integer(1)) ||
        json_object_set_new(doc, "key", json_string(key)))
        goto out;
    text = json_dumps(doc, JSON_COMPACT);
    if (!text)
        goto out;
    snprintf(tmp, sizeof(tmp), "%s.%ld.%u.tmp", path, (long)getpid(),
             atomic_fetch_add(&serial, 1));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    ok = write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
out:
    free(text);
    json_decref(doc);
}
