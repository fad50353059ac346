/*
 * merge.c - ks_scan_merge(): the records of sharded scans turned back into
 * the findings one scan of all their inputs would have reported.
 *
 * Each file starts with a header naming the rules it was made with; then
 * come images (every shard lists them all), the results of the units its
 * shard read, findings outside images, diagnostics and a summary. The
 * units of every file go into one map, first come first kept, and each
 * distinct image is reported from it exactly as a single scan reports
 * it, so deletions are seen whichever shard read the deleting layer.
 */
#include "alloc.h"
#include "image.h"
#include "image_scan.h"
#include "input_limits.h"
#include "results.h"
#include "scan.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct merge {
    ks_scan *s;
    ksi_image_list images;
    char **inputs;          /* distinct inputs named by the headers */
    size_t n_inputs, cap_inputs;
    const char *file;       /* the file being read */
    size_t line;
} merge;

/* An error on the file being read, at its current line. */
static void merge_error(merge *m, const char *what)
{
    const char *chain[1] = { m->file };

    ksi_report(m->s, KS_DIAG_ERROR, KS_ERR_ARCHIVE, m->file, chain, 1,
               "line %zu: %s", m->line, what);
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A copy of a string field, or NULL when absent; *bad set on failure. */
static char *dup_field(const json_t *o, const char *key, int *bad)
{
    const char *v = jstr(o, key);
    char *copy = v ? ksi_strdup(v) : NULL;

    if (v && !copy)
        *bad = 1;
    return copy;
}

static int same_image(const ksi_image *a, const char *ref,
                      const char *platform, const char *manifest)
{
    return strcmp(a->reference, ref) == 0 &&
           (a->platform ? platform && strcmp(a->platform, platform) == 0
                        : !platform) &&
           (a->manifest_digest ? manifest &&
                                 strcmp(a->manifest_digest, manifest) == 0
                               : !manifest);
}

static int load_layers(ksi_image *img, const json_t *layers)
{
    size_t i;
    json_t *v;
    int bad = 0;

    if (!json_is_array(layers))
        return -1;
    img->layers = ksi_calloc(json_array_size(layers) + 1,
                             sizeof(*img->layers));
    if (!img->layers)
        return -1;
    json_array_foreach(layers, i, v) {
        ksi_layer_ref *r = &img->layers[img->n_layers++];
        const json_t *size = json_object_get(v, "size");

        r->digest = dup_field(v, "digest", &bad);
        r->media_type = dup_field(v, "media_type", &bad);
        r->size = json_is_integer(size) && json_integer_value(size) > 0
                      ? (uint64_t)json_integer_value(size)
                      : 0;
        r->present = json_is_true(json_object_get(v, "present"));
    }
    return bad ? -1 : 0;
}

static int add_image(merge *m, const json_t *rec)
{
    const char *ref = jstr(rec, "reference");
    ksi_image img = { 0 };
    int bad = 0;

    if (!ref)
        return -1;
    for (size_t i = 0; i < m->images.count; i++) {
        if (same_image(&m->images.items[i], ref, jstr(rec, "platform"),
                       jstr(rec, "manifest_digest")))
            return 0;
    }
    img.reference = dup_field(rec, "reference", &bad);
    img.manifest_digest = dup_field(rec, "manifest_digest", &bad);
    img.platform = dup_field(rec, "platform", &bad);
    img.config_digest = dup_field(rec, "config_digest", &bad);
    if (bad || load_layers(&img, json_object_get(rec, "layers")) ||
        ksi_grow(&m->images.items, &m->images.cap, m->images.count + 1,
                 sizeof(*m->images.items))) {
        ksi_image_list list = { &img, 1, 1 };

        ksi_image_list_free(&list);
        return -1;
    }
    m->images.items[m->images.count++] = img;
    return 0;
}

static int add_unit(merge *m, const json_t *rec, ksi_unit_kind kind)
{
    const char *digest = jstr(rec, "digest");
    ksi_layer *l;
    int fresh;

    if (!digest)
        return -1;
    l = ksi_unit_for(m->s, (int)kind, digest, &fresh);
    if (!l)
        return -1;
    if (l->have)
        return 0;
    if (ksi_unit_load(l, rec, m->s->rules))
        return -1;
    l->claimed = l->have = 1;
    return 0;
}

/* A finding outside images, re-emitted as it was found. */
static int add_finding(merge *m, const json_t *rec)
{
    ksi_kept k = { 0 };
    ksi_layer scratch = { 0 };
    const json_t *input = json_object_get(rec, "input");
    const char *chain[KSI_MAX_CHAIN];
    char *name = NULL;
    size_t name_len, n;
    ks_finding f;
    int rc = -1;

    /* A finding record has the fields of a kept finding plus its input;
     * load it as a unit of one finding. */
    json_t *as_unit = json_pack("{s:b, s:[], s:[], s:[O]}", "mismatch", 0,
                                "whiteouts", "opaque", "findings", rec);

    if (!as_unit || ksi_unit_load(&scratch, as_unit, m->s->rules) ||
        scratch.n_kept != 1 || !(name = ksi_json_bytes(input, &name_len)))
        goto out;
    k = scratch.kept[0];
    n = k.chain_len < KSI_MAX_CHAIN ? k.chain_len : KSI_MAX_CHAIN;
    if (n == 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        chain[i] = k.chain[i];
    memset(&f, 0, sizeof(f));
    f.rule = k.rule;
    f.confidence = k.confidence;
    f.secret = k.secret;
    f.secret_len = k.secret_len;
    f.entropy = k.entropy;
    f.fingerprint = k.fingerprint;
    f.location = (ks_location){ .input = name, .chain = chain,
                                .chain_len = n, .path = chain[n - 1],
                                .line = k.line, .column = k.column,
                                .offset = k.offset, .flags = k.flags,
                                .layer_index = -1, .deleted_by = -1 };
    ksi_emit_finding(m->s, &f);
    rc = 0;
out:
    json_decref(as_unit);
    ksi_free(name);
    for (size_t i = 0; i < scratch.n_kept; i++) {
        ksi_free(scratch.kept[i].secret);
        for (size_t j = 0; j < scratch.kept[i].chain_len; j++)
            ksi_free(scratch.kept[i].chain[j]);
        ksi_free(scratch.kept[i].chain);
    }
    ksi_free(scratch.kept);
    return rc;
}

static int add_diag(merge *m, const json_t *rec)
{
    size_t len;
    char *input = ksi_json_bytes(json_object_get(rec, "input"), &len);
    char *where = ksi_json_bytes(json_object_get(rec, "where"), &len);
    char *message = ksi_json_bytes(json_object_get(rec, "message"), &len);
    const char *level = jstr(rec, "level");
    ks_diag d;
    int ok = input && where && message && level &&
             json_is_integer(json_object_get(rec, "status"));

    if (ok) {
        d = (ks_diag){ strcmp(level, "error") == 0 ? KS_DIAG_ERROR
                                                   : KS_DIAG_WARNING,
                       (ks_status)json_integer_value(json_object_get(
                           rec, "status")),
                       input, where, message };
        ksi_emit_diag(m->s, &d);
    }
    ksi_free(input);
    ksi_free(where);
    ksi_free(message);
    return ok ? 0 : -1;
}

static void add_count(atomic_uint_fast64_t *to, const json_t *rec,
                      const char *key)
{
    const json_t *v = json_object_get(rec, key);

    if (json_is_integer(v) && json_integer_value(v) > 0)
        atomic_fetch_add(to, (uint_fast64_t)json_integer_value(v));
}

static void add_summary(merge *m, const json_t *rec)
{
    ks_scan *s = m->s;

    add_count(&s->entries, rec, "entries");
    add_count(&s->bytes, rec, "bytes");
    add_count(&s->skipped, rec, "skipped");
    add_count(&s->layers_scanned, rec, "layers_scanned");
    add_count(&s->layers_reused, rec, "layers_reused");
    add_count(&s->layers_cached, rec, "layers_cached");
    add_count(&s->stored_bytes, rec, "stored_bytes");
    add_count(&s->stored_total, rec, "stored_total");
}

/* Checks a header; notes its inputs. Returns 0 if the file may be read. */
static int read_header(merge *m, const json_t *rec)
{
    const char *hash = jstr(rec, "rules_hash");
    const json_t *inputs = json_object_get(rec, "inputs");
    const char *ours = ks_ruleset_hash(m->s->rules);
    char detail[160];
    size_t i;
    json_t *v;

    if (!rec || !jstr(rec, "record") || strcmp(jstr(rec, "record"),
                                               "header") != 0 ||
        json_integer_value(json_object_get(rec, "keysift_records")) != 1) {
        merge_error(m, "not a keysift records file (write "
                    "one with keysift scan --shard K/N -o FILE)");
        return -1;
    }
    if (!hash || strcmp(hash, ours) != 0) {
        snprintf(detail, sizeof(detail), "made with other rules (hash "
                 "%.16s; these rules are %.16s): merge with the rules the "
                 "scans used", hash ? hash : "none", ours);
        merge_error(m, detail);
        return -1;
    }
    json_array_foreach(inputs, i, v) {
        size_t len, k;
        char *name = ksi_json_bytes(v, &len);

        for (k = 0; name && k < m->n_inputs; k++) {
            if (strcmp(m->inputs[k], name) == 0)
                break;
        }
        if (name && k == m->n_inputs &&
            ksi_push_string(&m->inputs, &m->n_inputs, &m->cap_inputs, name,
                            len) == 0)
            atomic_fetch_add(&m->s->inputs, 1);
        ksi_free(name);
    }
    return 0;
}

static int read_record(merge *m, const json_t *rec)
{
    const char *kind = jstr(rec, "record");

    if (!kind)
        return -1;
    if (strcmp(kind, "image") == 0)
        return add_image(m, rec);
    if (strcmp(kind, "layer") == 0)
        return add_unit(m, rec, KSI_UNIT_LAYER);
    if (strcmp(kind, "config") == 0)
        return add_unit(m, rec, KSI_UNIT_CONFIG);
    if (strcmp(kind, "finding") == 0)
        return add_finding(m, rec);
    if (strcmp(kind, "diagnostic") == 0)
        return add_diag(m, rec);
    if (strcmp(kind, "summary") == 0) {
        add_summary(m, rec);
        return 0;
    }
    return -1;
}

static void merge_file(merge *m, const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    json_error_t err;

    m->file = path;
    m->line = 0;
    if (!f) {
        const char *chain[1] = { path };

        ksi_report(m->s, KS_DIAG_ERROR,
                   errno == ENOENT ? KS_ERR_NOT_FOUND : KS_ERR_IO, path,
                   chain, 1, "cannot open: %s", strerror(errno));
        return;
    }
    while (!ksi_stopped(m->s) && (len = getline(&buf, &cap, f)) > 0) {
        json_t *rec;

        m->line++;
        if ((size_t)len > KSI_MAX_RECORD) {
            merge_error(m, "record too long; the rest of "
                        "the file is not read");
            break;
        }
        rec = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &err);
        if (m->line == 1) {
            int ok = read_header(m, rec) == 0;

            json_decref(rec);
            if (!ok)
                break;
            continue;
        }
        if (!rec)
            merge_error(m, "not JSON (was the scan that "
                        "wrote it cut short?)");
        else if (read_record(m, rec))
            merge_error(m, "not a record keysift reads");
        json_decref(rec);
    }
    if (m->line == 0)
        merge_error(m, "empty file, no records");
    free(buf);
    fclose(f);
}

/* Every unit an image needs must be in some file: else say which. */
static void check_complete(merge *m, const ksi_image *img)
{
    const char *chain[1] = { img->reference };
    int fresh;
    ksi_layer *u;

    if (img->config_digest) {
        u = ksi_unit_for(m->s, KSI_UNIT_CONFIG, img->config_digest, &fresh);
        if (u && !u->have)
            ksi_report(m->s, KS_DIAG_ERROR, KS_ERR_NOT_FOUND,
                       img->reference, chain, 1, "config %s: no results in "
                       "the merged files (is a shard's output missing?)",
                       img->config_digest);
    }
    for (size_t i = 0; i < img->n_layers; i++) {
        const ksi_layer_ref *r = &img->layers[i];

        if (!r->digest || !r->present)
            continue;
        u = ksi_unit_for(m->s, KSI_UNIT_LAYER, r->digest, &fresh);
        if (u && !u->have)
            ksi_report(m->s, KS_DIAG_ERROR, KS_ERR_NOT_FOUND,
                       img->reference, chain, 1, "layer %zu (%s): no "
                       "results in the merged files (is a shard's output "
                       "missing?)", i, r->digest);
    }
}

ks_status ks_scan_merge(ks_scan *s, const char *const *files, size_t n)
{
    merge m = { 0 };

    if (!s || (!files && n))
        return KS_ERR_ARG;
    if (s->opts.on_record)
        return KS_ERR_STATE;
    m.s = s;
    for (size_t i = 0; i < n && !ksi_stopped(s); i++)
        merge_file(&m, files[i]);
    atomic_fetch_add(&s->images, m.images.count);
    for (size_t i = 0; i < m.images.count && !ksi_stopped(s); i++) {
        check_complete(&m, &m.images.items[i]);
        ksi_report_image(s, &m.images.items[i]);
    }
    ksi_image_list_free(&m.images);
    for (size_t i = 0; i < m.n_inputs; i++)
        ksi_free(m.inputs[i]);
    ksi_free(m.inputs);
    ksi_layer_map_free(s->layers);
    s->layers = NULL;
    return ksi_stopped(s) ? KS_STOPPED : KS_OK;
}
