/*
 * report.c - collects findings, drops what the gate suppresses (counting
 * it), groups the rest by fingerprint, and writes them as text, JSON or
 * JSON Lines (SARIF is in sarif.c).
 *
 * Findings and diagnostics are collected and sorted before anything is
 * written, so output is the same whatever order the worker threads found
 * things in.
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static char *dup_bytes(const char *s, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

static char *dup_str(const char *s)
{
    return s ? dup_bytes(s, strlen(s)) : NULL;
}

static int grow(void *array, size_t *cap, size_t need, size_t size)
{
    void **slot = array;
    size_t n = *cap ? *cap * 2 : 64;
    void *p;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    p = realloc(*slot, n * size);
    if (!p)
        return -1;
    *slot = p;
    *cap = n;
    return 0;
}

void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void occurrence_free(occurrence *o)
{
    free(o->secret);
    free(o->key_path);
    free(o->input);
    free(o->image);
    free(o->manifest_digest);
    free(o->platform);
    free(o->layer_digest);
    free(o->config_field);
    free_strings(o->chain, o->chain_len);
}

/* Copies an optional string; fails only when a copy could not be made. */
static int copy_opt(char **dst, const char *src)
{
    *dst = src ? dup_str(src) : NULL;
    return src && !*dst ? -1 : 0;
}

static int copy_image_fields(occurrence *o, const ks_location *loc)
{
    return copy_opt(&o->image, loc->image) ||
           copy_opt(&o->manifest_digest, loc->manifest_digest) ||
           copy_opt(&o->platform, loc->platform) ||
           copy_opt(&o->layer_digest, loc->layer_digest) ||
           copy_opt(&o->config_field, loc->config_field);
}

int report_add(report *r, const ks_finding *f)
{
    occurrence *o;
    const ks_location *loc = &f->location;

    if (grow(&r->occ, &r->cap_occ, r->n_occ + 1, sizeof(*r->occ)))
        goto nomem;
    o = &r->occ[r->n_occ];
    memset(o, 0, sizeof(*o));
    o->rule = f->rule;
    o->confidence = f->confidence;
    o->secret = dup_bytes(f->secret, f->secret_len);
    o->secret_len = f->secret_len;
    o->entropy = f->entropy;
    snprintf(o->fingerprint, sizeof(o->fingerprint), "%s", f->fingerprint);
    o->input = dup_str(loc->input);
    o->chain = calloc(loc->chain_len, sizeof(*o->chain));
    if (!o->secret || !o->input || !o->chain) {
        occurrence_free(o);
        goto nomem;
    }
    for (size_t i = 0; i < loc->chain_len; i++) {
        o->chain[i] = dup_str(loc->chain[i]);
        if (!o->chain[i]) {
            occurrence_free(o);
            goto nomem;
        }
        o->chain_len++;
    }
    o->line = loc->line;
    o->column = loc->column;
    o->offset = loc->offset;
    o->flags = loc->flags;
    o->layer_index = loc->layer_index;
    o->deleted_by = loc->deleted_by;
    o->key_path = location_key_path(loc);
    if ((loc->image && copy_image_fields(o, loc)) || !o->key_path ||
        location_key(f->rule->id, f->secret, f->secret_len, o->key_path,
                     o->key)) {
        occurrence_free(o);
        goto nomem;
    }
    r->n_occ++;
    return 0;

nomem:
    r->failed = 1;
    return -1;
}

int report_add_diag(report *r, const ks_diag *d)
{
    saved_diag *s;

    if (grow(&r->diags, &r->cap_diags, r->n_diags + 1, sizeof(*r->diags))) {
        r->failed = 1;
        return -1;
    }
    s = &r->diags[r->n_diags++];
    s->level = d->level;
    s->status = d->status;
    s->input = dup_str(d->input);
    s->where = dup_str(d->where);
    s->message = dup_str(d->message);
    return 0;
}

int report_add_image(report *r, const ks_image_info *img)
{
    saved_image *s;

    if (grow(&r->images, &r->cap_images, r->n_images + 1,
             sizeof(*r->images)))
        goto nomem;
    s = &r->images[r->n_images];
    memset(s, 0, sizeof(*s));
    s->layers = calloc(img->n_layers ? img->n_layers : 1, sizeof(char *));
    r->n_images++;
    if (!s->layers || copy_opt(&s->input, img->input) ||
        copy_opt(&s->reference, img->reference) ||
        copy_opt(&s->manifest_digest, img->manifest_digest) ||
        copy_opt(&s->platform, img->platform) ||
        copy_opt(&s->config_digest, img->config_digest))
        goto nomem;
    for (; s->n_layers < img->n_layers; s->n_layers++) {
        if (copy_opt(&s->layers[s->n_layers],
                     img->layers[s->n_layers].digest))
            goto nomem;
    }
    return 0;

nomem:
    r->failed = 1;
    return -1;
}

static void saved_image_free(saved_image *s)
{
    free(s->input);
    free(s->reference);
    free(s->manifest_digest);
    free(s->platform);
    free(s->config_digest);
    free_strings(s->layers, s->n_layers);
}

void report_filter(report *r,
                   suppress_reason (*keep)(const occurrence *, void *),
                   void *ctx)
{
    size_t kept = 0;

    for (size_t i = 0; i < r->n_occ; i++) {
        suppress_reason why = keep(&r->occ[i], ctx);

        if (why == SUPPRESS_NONE) {
            r->occ[kept++] = r->occ[i];
            continue;
        }
        r->suppressed[why]++;
        occurrence_free(&r->occ[i]);
    }
    r->n_occ = kept;
}

size_t report_suppressed_total(const report *r)
{
    size_t n = 0;

    for (int i = 1; i < SUPPRESS_COUNT; i++)
        n += r->suppressed[i];
    return n;
}

/* Names as the JSON report spells them. */
const char *suppress_name(suppress_reason why)
{
    static const char *const names[SUPPRESS_COUNT] = {
        [SUPPRESS_NONE] = "none",
        [SUPPRESS_RULE] = "disabled_rule",
        [SUPPRESS_SEVERITY] = "below_min_severity",
        [SUPPRESS_INLINE] = "inline_allow",
        [SUPPRESS_PATH] = "allowed_path",
        [SUPPRESS_VALUE] = "allowed_value",
        [SUPPRESS_SECRET] = "allowed_secret",
        [SUPPRESS_BASELINE] = "baseline",
    };

    return (unsigned)why < SUPPRESS_COUNT ? names[why] : "unknown";
}

static int cmp_opt(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/*
 * Locations that name the same place (one layer in the images of several
 * platforms shares the image reference) are told apart by the rest.
 */
static int image_order(const occurrence *a, const occurrence *b)
{
    int c = cmp_opt(a->platform, b->platform);

    if (!c)
        c = cmp_opt(a->manifest_digest, b->manifest_digest);
    if (!c)
        c = cmp_opt(a->layer_digest, b->layer_digest);
    if (!c)
        c = cmp_opt(a->config_field, b->config_field);
    if (!c && a->flags != b->flags)
        c = a->flags < b->flags ? -1 : 1;
    return c;
}

/* Orders locations: by chain element, then line, column and offset. */
static int location_order(const occurrence *a, const occurrence *b)
{
    size_t n = a->chain_len < b->chain_len ? a->chain_len : b->chain_len;

    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->chain[i], b->chain[i]);

        if (c)
            return c;
    }
    if (a->chain_len != b->chain_len)
        return a->chain_len < b->chain_len ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->column != b->column)
        return a->column < b->column ? -1 : 1;
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return image_order(a, b);
}

static int by_fingerprint(const void *x, const void *y)
{
    const occurrence *a = x, *b = y;
    int c = strcmp(a->fingerprint, b->fingerprint);

    return c ? c : location_order(a, b);
}

static int by_first_location(const void *x, const void *y)
{
    const finding_group *a = x, *b = y;
    int c = location_order(a->first, b->first);

    return c ? c : strcmp(a->first->rule->id, b->first->rule->id);
}

static int diag_order(const void *x, const void *y)
{
    const saved_diag *a = x, *b = y;
    int c = cmp_opt(a->where, b->where);

    if (!c)
        c = cmp_opt(a->message, b->message);
    if (!c && a->level != b->level)
        c = a->level < b->level ? -1 : 1;
    return c;
}

void report_group(report *r)
{
    if (r->n_diags > 1)
        qsort(r->diags, r->n_diags, sizeof(*r->diags), diag_order);
    if (r->n_occ > 1)
        qsort(r->occ, r->n_occ, sizeof(*r->occ), by_fingerprint);
    free(r->groups);
    r->groups = calloc(r->n_occ ? r->n_occ : 1, sizeof(*r->groups));
    r->n_groups = 0;
    if (!r->groups) {
        r->failed = 1;
        return;
    }
    for (size_t i = 0; i < r->n_occ; i++) {
        finding_group *g = r->n_groups ? &r->groups[r->n_groups - 1] : NULL;

        if (g && strcmp(g->first->fingerprint, r->occ[i].fingerprint) == 0) {
            g->count++;
            continue;
        }
        r->groups[r->n_groups++] = (finding_group){ &r->occ[i], 1 };
    }
    if (r->n_groups > 1)
        qsort(r->groups, r->n_groups, sizeof(*r->groups),
              by_first_location);
}

void report_free(report *r)
{
    for (size_t i = 0; i < r->n_occ; i++)
        occurrence_free(&r->occ[i]);
    for (size_t i = 0; i < r->n_diags; i++) {
        free(r->diags[i].input);
        free(r->diags[i].where);
        free(r->diags[i].message);
    }
    for (size_t i = 0; i < r->n_images; i++)
        saved_image_free(&r->images[i]);
    free(r->occ);
    free(r->groups);
    free(r->diags);
    free(r->images);
    memset(r, 0, sizeof(*r));
}

/* ---- redaction and escaping --------------------------------------------- */

/*
 * The redacted form shows at most the first four bytes (for most token
 * formats that is only the public prefix), and only when the secret is long
 * enough that four bytes give little away.
 */
size_t redact_keep(size_t len)
{
    if (len >= 16)
        return 4;
    if (len >= 10)
        return 2;
    return 0;
}

void put_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c == '\\')
            fputs("\\\\", out);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

/*
 * Bytes of the UTF-8 character starting s[0..n) when it is well formed
 * and printable (C1 controls, U+0080 to U+009F, are not), else 0.
 */
static size_t printable_utf8(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    uint32_t cp;

    if (len == 0 || s[0] > 0xf4 || len > n)
        return 0;
    cp = s[0] & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < 0xa0 || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Text from an input for a terminal: UTF-8 kept, the rest escaped. */
static void put_printable(FILE *out, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);

    for (size_t i = 0; i < n;) {
        size_t len = s[i] >= 0x80 ? printable_utf8(s + i, n - i) : 0;

        if (len) {
            fwrite(s + i, 1, len, out);
            i += len;
        } else {
            put_escaped(out, (const char *)s + i, 1);
            i++;
        }
    }
}

void put_diag(FILE *out, const ks_diag *d)
{
    fprintf(out, "keysift: %s: ",
            d->level == KS_DIAG_ERROR ? "error" : "warning");
    put_printable(out, d->where);
    fputs(": ", out);
    put_printable(out, d->message);
    fputc('\n', out);
}

static void put_secret(FILE *out, const occurrence *o, int show)
{
    size_t keep = redact_keep(o->secret_len);

    if (show) {
        put_escaped(out, o->secret, o->secret_len);
        return;
    }
    put_escaped(out, o->secret, keep);
    fprintf(out, "****** (%zu bytes, redacted; --show-secrets reveals)",
            o->secret_len);
}

/* A JSON string from bytes that may not be UTF-8: invalid bytes escaped. */
static json_t *json_bytes(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *buf;
    size_t n = 0;

    if (j)
        return j;
    buf = malloc(len * 4 + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x80)
            buf[n++] = (char)c;
        else
            n += (size_t)sprintf(buf + n, "\\x%02x", c);
    }
    j = json_stringn(buf, n);
    free(buf);
    return j;
}

static json_t *json_text(const char *s)
{
    return s ? json_bytes(s, strlen(s)) : json_null();
}

json_t *report_json_text(const char *s)
{
    return json_text(s);
}

json_t *report_json_bytes(const char *s, size_t len)
{
    return json_bytes(s, len);
}

static json_t *json_secret(const occurrence *o, int show)
{
    size_t keep = redact_keep(o->secret_len);
    char buf[16];

    if (show)
        return json_bytes(o->secret, o->secret_len);
    memcpy(buf, o->secret, keep);
    memcpy(buf + keep, "******", 7);
    return json_bytes(buf, keep + 6);
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *text_or_null(const char *s)
{
    return s ? json_text(s) : json_null();
}

static void add_image_fields(json_t *loc, const occurrence *o)
{
    json_object_set_new(loc, "image", json_text(o->image));
    json_object_set_new(loc, "manifest_digest",
                        text_or_null(o->manifest_digest));
    json_object_set_new(loc, "platform", text_or_null(o->platform));
    json_object_set_new(loc, "layer_index",
                        o->layer_index >= 0 ? json_integer(o->layer_index)
                                            : json_null());
    json_object_set_new(loc, "layer_digest", text_or_null(o->layer_digest));
    json_object_set_new(loc, "config_field", text_or_null(o->config_field));
    json_object_set_new(loc, "deleted_by",
                        o->deleted_by >= 0 ? json_integer(o->deleted_by)
                                           : json_null());
    json_object_set_new(loc, "digest_mismatch",
                        json_boolean(o->flags & KS_LOC_DIGEST_MISMATCH));
}

static json_t *location_json(const occurrence *o)
{
    json_t *loc = json_object();
    json_t *chain = json_array();

    for (size_t i = 0; i < o->chain_len; i++)
        json_array_append_new(chain, json_text(o->chain[i]));
    json_object_set_new(loc, "input", json_text(o->input));
    json_object_set_new(loc, "chain", chain);
    json_object_set_new(loc, "path", json_text(o->chain[o->chain_len - 1]));
    json_object_set_new(loc, "line", json_integer((json_int_t)o->line));
    json_object_set_new(loc, "column", json_integer((json_int_t)o->column));
    json_object_set_new(loc, "offset", json_integer((json_int_t)o->offset));
    json_object_set_new(loc, "fingerprint", json_string(o->key));
    json_object_set_new(loc, "nested",
                        json_boolean(o->flags & KS_LOC_NESTED));
    json_object_set_new(loc, "deleted",
                        json_boolean(o->flags & KS_LOC_DELETED));
    if (o->image)
        add_image_fields(loc, o);
    return loc;
}

json_t *report_finding_json(const finding_group *g, int show)
{
    const occurrence *o = g->first;
    json_t *f = json_object();
    json_t *locs = json_array();

    json_object_set_new(f, "rule_id", json_text(o->rule->id));
    json_object_set_new(f, "rule_name", json_text(o->rule->name));
    json_object_set_new(f, "severity",
                        json_string(ks_severity_str(o->rule->severity)));
    json_object_set_new(f, "confidence",
                        json_string(ks_confidence_str(o->confidence)));
    json_object_set_new(f, "secret", json_secret(o, show));
    json_object_set_new(f, "redacted", json_boolean(!show));
    json_object_set_new(f, "secret_length",
                        json_integer((json_int_t)o->secret_len));
    json_object_set_new(f, "entropy", json_real(o->entropy));
    json_object_set_new(f, "fingerprint", json_string(o->fingerprint));
    for (size_t i = 0; i < g->count; i++)
        json_array_append_new(locs, location_json(&o[i]));
    json_object_set_new(f, "locations", locs);
    return f;
}

static const char *level_name(ks_diag_level level)
{
    return level == KS_DIAG_ERROR ? "error" : "warning";
}

static json_t *diag_json(const saved_diag *d)
{
    json_t *j = json_object();

    json_object_set_new(j, "level", json_string(level_name(d->level)));
    json_object_set_new(j, "status", json_string(ks_status_str(d->status)));
    json_object_set_new(j, "input", json_text(d->input));
    json_object_set_new(j, "where", json_text(d->where));
    json_object_set_new(j, "message", json_text(d->message));
    return j;
}

json_t *report_suppressed_json(const report *r)
{
    json_t *j = json_object();

    json_object_set_new(j, "total",
                        json_integer((json_int_t)report_suppressed_total(r)));
    for (int i = 1; i < SUPPRESS_COUNT; i++)
        json_object_set_new(j, suppress_name((suppress_reason)i),
                            json_integer((json_int_t)r->suppressed[i]));
    return j;
}

/* {"critical": N, ..., "info": N}: the findings by severity. */
static json_t *severity_json(const report *r)
{
    size_t count[KS_SEV_CRITICAL + 1] = { 0 };
    json_t *j = json_object();

    for (size_t i = 0; i < r->n_groups; i++)
        count[r->groups[i].first->rule->severity]++;
    for (int sev = KS_SEV_CRITICAL; sev >= KS_SEV_INFO; sev--)
        json_object_set_new(j, ks_severity_str((ks_severity)sev),
                            json_integer((json_int_t)count[sev]));
    return j;
}

json_t *report_summary_json(const report *r)
{
    json_t *j = json_object();
    const ks_scan_stats *s = &r->stats;
    double mb_s = r->seconds > 0 ? (double)s->bytes / 1e6 / r->seconds : 0;

    json_object_set_new(j, "inputs", json_integer((json_int_t)s->inputs));
    json_object_set_new(j, "entries", json_integer((json_int_t)s->entries));
    json_object_set_new(j, "bytes", json_integer((json_int_t)s->bytes));
    json_object_set_new(j, "findings", json_integer((json_int_t)r->n_groups));
    json_object_set_new(j, "findings_by_severity", severity_json(r));
    json_object_set_new(j, "occurrences",
                        json_integer((json_int_t)r->n_occ));
    json_object_set_new(j, "warnings", json_integer((json_int_t)s->warnings));
    json_object_set_new(j, "errors", json_integer((json_int_t)s->errors));
    json_object_set_new(j, "skipped", json_integer((json_int_t)s->skipped));
    json_object_set_new(j, "images", json_integer((json_int_t)s->images));
    json_object_set_new(j, "layers_scanned",
                        json_integer((json_int_t)s->layers_scanned));
    json_object_set_new(j, "layers_reused",
                        json_integer((json_int_t)s->layers_reused));
    json_object_set_new(j, "layers_cached",
                        json_integer((json_int_t)s->layers_cached));
    json_object_set_new(j, "stored_bytes",
                        json_integer((json_int_t)s->stored_bytes));
    json_object_set_new(j, "suppressed", report_suppressed_json(r));
    json_object_set_new(j, "seconds", json_real(r->seconds));
    json_object_set_new(j, "mb_per_second", json_real(mb_s));
    return j;
}

static int write_json(FILE *out, const report *r, int show)
{
    json_t *root = json_object();
    json_t *findings = json_array();
    json_t *diags = json_array();
    int rc;

    for (size_t i = 0; i < r->n_groups; i++)
        json_array_append_new(findings,
                              report_finding_json(&r->groups[i], show));
    for (size_t i = 0; i < r->n_diags; i++)
        json_array_append_new(diags, diag_json(&r->diags[i]));
    json_object_set_new(root, "version", json_string(KS_VERSION));
    json_object_set_new(root, "rules_hash", json_text(r->rules_hash));
    json_object_set_new(root, "findings", findings);
    json_object_set_new(root, "diagnostics", diags);
    json_object_set_new(root, "summary", report_summary_json(r));
    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    return rc;
}

static int write_jsonl(FILE *out, const report *r, int show)
{
    for (size_t i = 0; i < r->n_groups; i++) {
        json_t *f = report_finding_json(&r->groups[i], show);
        int rc = json_dumpf(f, out, JSON_COMPACT | JSON_PRESERVE_ORDER);

        json_decref(f);
        if (rc)
            return rc;
        fputc('\n', out);
    }
    return 0;
}

/* ---- text --------------------------------------------------------------- */

static void put_location(FILE *out, const occurrence *o)
{
    for (size_t i = 0; i < o->chain_len; i++) {
        if (i)
            fputs(" / ", out);
        put_escaped(out, o->chain[i], strlen(o->chain[i]));
    }
    fprintf(out, ":%llu:%llu", (unsigned long long)o->line,
            (unsigned long long)o->column);
    if (o->flags & KS_LOC_DELETED)
        fprintf(out, " (deleted by layer %d)", o->deleted_by);
    if (o->flags & KS_LOC_DIGEST_MISMATCH)
        fputs(" (layer digest mismatch)", out);
}

static void write_text(FILE *out, const report *r, int show)
{
    for (size_t i = 0; i < r->n_groups; i++) {
        const finding_group *g = &r->groups[i];
        const occurrence *o = g->first;

        if (i)
            fputc('\n', out);
        fprintf(out, "[%s] %s (%s)\n", ks_severity_str(o->rule->severity),
                o->rule->name, o->rule->id);
        for (size_t k = 0; k < g->count; k++) {
            fputs("  where:       ", out);
            put_location(out, &o[k]);
            fputc('\n', out);
        }
        fputs("  secret:      ", out);
        put_secret(out, o, show);
        fprintf(out, "\n  confidence:  %s\n  fingerprint: %s\n",
                ks_confidence_str(o->confidence), o->fingerprint);
    }
}

int report_write(FILE *out, const report *r, out_format fmt, int show)
{
    switch (fmt) {
    case FORMAT_JSON:
        return write_json(out, r, show);
    case FORMAT_JSONL:
        return write_jsonl(out, r, show);
    case FORMAT_SARIF:
        return sarif_write(out, r, show);
    case FORMAT_TEXT:
        write_text(out, r, show);
        return 0;
    }
    return -1;
}
