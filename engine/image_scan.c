/*
 * image_scan.c - scanning container images.
 *
 * An image input is first listed (image.c): images, each with its config
 * and its layers in order. An image is made of units - its config and its
 * layers - each named by its digest, and a unit shared by 500 images is
 * read once. Then, in three steps:
 *
 *  1. each config unit's fields (Env, Labels, Cmd, Entrypoint, history)
 *     are scanned as small entries of their own;
 *  2. each layer unit is read, its bytes hashed as they stream and checked
 *     against the digest, unless the results cache already holds it; its
 *     entries go to the workers and its findings are kept, not reported,
 *     and its whiteouts recorded; a layer whose last entry is scanned is
 *     stored in the cache at once, so an interrupted run keeps its work;
 *  3. once every unit is done, each image reports the findings of each of
 *     its units, marked deleted when a later layer of that image whites
 *     the file out.
 *
 * Step 3 waits for step 2 because whether a finding is deleted depends on
 * the image. In records mode step 3 is left to ks_scan_merge(): the scan
 * hands over the images and its units' results instead, because with
 * sharding the layer that deletes a file may be read by another process.
 */
#include "image_scan.h"

#include "alloc.h"
#include "budget.h"
#include "image.h"
#include "input_limits.h"
#include "registry.h"
#include "results.h"
#include "ruleset.h"
#include "scan.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The units a run has met, by kind and digest: an open-addressed table. */
struct ksi_layer_map {
    ksi_layer **slots;
    size_t cap;                 /* a power of two, or 0 */
    size_t count;
};

/* Layer paths are compared without a leading "./" or "/". */
static const char *norm_path(const char *p)
{
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    while (p[0] == '/')
        p++;
    return p;
}

void ksi_layer_map_free(struct ksi_layer_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->cap; i++)
        ksi_unit_free(map->slots[i]);
    ksi_free(map->slots);
    ksi_free(map);
}

static uint64_t hash_key(ksi_unit_kind kind, const char *digest)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t)kind;

    for (const unsigned char *p = (const unsigned char *)digest; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static ksi_layer **slot_of(const struct ksi_layer_map *map,
                           ksi_unit_kind kind, const char *digest)
{
    size_t i = (size_t)hash_key(kind, digest) & (map->cap - 1);

    while (map->slots[i] && (map->slots[i]->kind != kind ||
                             strcmp(map->slots[i]->digest, digest) != 0))
        i = (i + 1) & (map->cap - 1);
    return &map->slots[i];
}

static int map_grow(struct ksi_layer_map *map)
{
    struct ksi_layer_map bigger = { NULL, map->cap ? map->cap * 2 : 64, 0 };

    bigger.slots = ksi_calloc(bigger.cap, sizeof(*bigger.slots));
    if (!bigger.slots)
        return -1;
    for (size_t i = 0; i < map->cap; i++) {
        ksi_layer *l = map->slots[i];

        if (l)
            *slot_of(&bigger, l->kind, l->digest) = l;
    }
    ksi_free(map->slots);
    map->slots = bigger.slots;
    map->cap = bigger.cap;
    return 0;
}

/* The unit of that kind and digest, made if new (*fresh then set). */
static ksi_layer *unit_for(ks_scan *s, ksi_unit_kind kind,
                           const char *digest, int *fresh)
{
    struct ksi_layer_map *map = s->layers;
    ksi_layer **slot, *l;

    *fresh = 0;
    if (!map) {
        map = ksi_calloc(1, sizeof(*map));
        if (!map)
            return NULL;
        s->layers = map;
    }
    if ((map->count + 1) * 2 > map->cap && map_grow(map))
        return NULL;
    slot = slot_of(map, kind, digest);
    if (*slot)
        return *slot;
    l = ksi_calloc(1, sizeof(*l));
    if (l)
        l->digest = ksi_strdup(digest);
    if (!l || !l->digest) {
        ksi_free(l);
        return NULL;
    }
    l->kind = kind;
    *slot = l;
    map->count++;
    *fresh = 1;
    return l;
}

ksi_layer *ksi_unit_for(ks_scan *s, int kind, const char *digest,
                        int *fresh)
{
    return unit_for(s, (ksi_unit_kind)kind, digest, fresh);
}

/* An existing unit, or NULL. */
static ksi_layer *unit_find(const ks_scan *s, ksi_unit_kind kind,
                            const char *digest)
{
    const struct ksi_layer_map *map = s->layers;

    if (!map || !map->cap || !digest)
        return NULL;
    return *slot_of(map, kind, digest);
}

/* ---- keeping a unit's findings and whiteouts ---------------------------- */

int ksi_layer_keep(ks_scan *s, ksi_layer *l, const ks_finding *f)
{
    int failed;

    pthread_mutex_lock(&s->cb_lock);
    failed = ksi_unit_keep(l, f);
    pthread_mutex_unlock(&s->cb_lock);
    atomic_fetch_add(&s->layer_findings, 1);
    if (failed) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, l->digest, NULL, 0,
                   "out of memory keeping a layer's findings");
        return 1;
    }
    return 0;
}

int ksi_layer_whiteout(ks_scan *s, ksi_layer *l, const char *path)
{
    const char *p = norm_path(path);
    const char *base = strrchr(p, '/');
    size_t dir_len = base ? (size_t)(base - p) + 1 : 0;
    char joined[KSI_MAX_PATH];
    int failed;

    base = base ? base + 1 : p;
    pthread_mutex_lock(&s->cb_lock);
    if (strcmp(base, ".wh..wh..opq") == 0) {
        failed = ksi_push_string(&l->opaque, &l->n_opaque, &l->cap_opaque,
                                 p, dir_len);
    } else {
        snprintf(joined, sizeof(joined), "%.*s%s", (int)dir_len, p,
                 base + 4);
        failed = ksi_push_string(&l->deleted, &l->n_deleted,
                                 &l->cap_deleted, joined, strlen(joined));
    }
    pthread_mutex_unlock(&s->cb_lock);
    if (failed)
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, l->digest, NULL, 0,
                   "out of memory recording whiteouts");
    return 0;
}

void ksi_layer_failed(ksi_layer *l)
{
    atomic_store(&l->failed, 1);
}

/* Does layer `l` delete or hide `path` (normalised) of a lower layer? */
static int hides(const ksi_layer *l, const char *path)
{
    size_t plen = strlen(path);

    for (size_t i = 0; i < l->n_deleted; i++) {
        size_t n = strlen(l->deleted[i]);

        if (n <= plen && memcmp(path, l->deleted[i], n) == 0 &&
            (path[n] == '\0' || path[n] == '/'))
            return 1;
    }
    for (size_t i = 0; i < l->n_opaque; i++) {
        size_t n = strlen(l->opaque[i]);

        /* An opaque marker at the layer root ("") hides everything. */
        if (n <= plen && memcmp(path, l->opaque[i], n) == 0)
            return 1;
    }
    return 0;
}

/* ---- sharding, the cache and records ------------------------------------ */

unsigned ks_shard_of(const char *key, unsigned count)
{
    const char *hex = key && strncmp(key, "sha256:", 7) == 0 ? key + 7
                                                             : NULL;
    uint64_t h = 0;

    if (count <= 1 || !key)
        return 0;
    /* A digest is already uniform: its first 16 hex digits will do. */
    if (hex && strspn(hex, "0123456789abcdef") >= 16) {
        for (int i = 0; i < 16; i++)
            h = h << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0'
                                                  : hex[i] - 'a' + 10);
        return (unsigned)(h % count);
    }
    h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (unsigned)(h % count);
}

int ksi_in_shard(const ks_scan *s, const char *key)
{
    return s->opts.shard_count <= 1 ||
           ks_shard_of(key, s->opts.shard_count) == s->opts.shard_index;
}

/* What a cache entry's results depend on besides the layer's bytes. */
static void cache_key(const ks_scan *s, char *out, size_t cap)
{
    snprintf(out, cap, "%.32s-d%u", ks_ruleset_hash(s->rules),
             s->opts.max_depth);
}

/* Hands one record to the caller. Consumes `rec`. */
static int emit_record(ks_scan *s, json_t *rec)
{
    char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    int stop;

    json_decref(rec);
    if (!line) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, "records", NULL, 0,
                   "out of memory writing a record");
        return 1;
    }
    pthread_mutex_lock(&s->cb_lock);
    stop = s->opts.on_record(line, strlen(line), s->opts.user);
    pthread_mutex_unlock(&s->cb_lock);
    free(line);
    if (stop)
        atomic_store(&s->stop, 1);
    return stop;
}

static json_t *opt_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

void ksi_records_begin(ks_scan *s, const char *const *inputs, size_t n)
{
    json_t *names = json_array();
    json_t *shard = s->opts.shard_count > 1
                        ? json_pack("[i, i]", (int)s->opts.shard_index,
                                    (int)s->opts.shard_count)
                        : json_null();

    for (size_t i = 0; names && i < n; i++)
        json_array_append_new(names, ksi_json_of_bytes(inputs[i],
                                                       strlen(inputs[i])));
    emit_record(s, json_pack("{s:s, s:i, s:s, s:s, s:i, s:o, s:o}",
                             "record", "header", "keysift_records", 1,
                             "version", KS_VERSION, "rules_hash",
                             ks_ruleset_hash(s->rules), "max_depth",
                             (int)s->opts.max_depth, "shard", shard,
                             "inputs", names));
}

void ksi_records_end(ks_scan *s)
{
    ks_scan_stats st;

    ks_scan_get_stats(s, &st);
    emit_record(s, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                             "s:I, s:I}",
                             "record", "summary",
                             "entries", (json_int_t)st.entries,
                             "bytes", (json_int_t)st.bytes,
                             "skipped", (json_int_t)st.skipped,
                             "layers_scanned",
                             (json_int_t)st.layers_scanned,
                             "layers_reused", (json_int_t)st.layers_reused,
                             "layers_cached", (json_int_t)st.layers_cached,
                             "units_other_shard",
                             (json_int_t)st.units_other_shard,
                             "stored_bytes", (json_int_t)st.stored_bytes,
                             "stored_total", (json_int_t)st.stored_total));
}

int ksi_record_finding(ks_scan *s, const ks_finding *f)
{
    const ks_location *loc = &f->location;
    json_t *chain = json_array();

    for (size_t i = 0; chain && i < loc->chain_len; i++)
        json_array_append_new(chain, ksi_json_of_bytes(loc->chain[i],
                                                       strlen(loc->chain[i])));
    return emit_record(s, json_pack(
        "{s:s, s:o, s:s, s:s, s:o, s:f, s:s, s:o, s:I, s:I, s:I, s:i}",
        "record", "finding",
        "input", ksi_json_of_bytes(loc->input, strlen(loc->input)),
        "rule", f->rule->id,
        "confidence", ks_confidence_str(f->confidence),
        "secret", ksi_json_of_bytes(f->secret, f->secret_len),
        "entropy", f->entropy, "fingerprint", f->fingerprint,
        "chain", chain, "line", (json_int_t)loc->line,
        "column", (json_int_t)loc->column,
        "offset", (json_int_t)loc->offset, "flags", (int)loc->flags));
}

void ksi_record_diag(ks_scan *s, const ks_diag *d)
{
    emit_record(s, json_pack("{s:s, s:s, s:i, s:o, s:o, s:o}",
                             "record", "diagnostic",
                             "level", d->level == KS_DIAG_ERROR ? "error"
                                                                : "warning",
                             "status", (int)d->status,
                             "input", ksi_json_of_bytes(d->input,
                                                        strlen(d->input)),
                             "where", ksi_json_of_bytes(d->where,
                                                        strlen(d->where)),
                             "message", ksi_json_of_bytes(d->message,
                                                          strlen(d->message))));
}

static int layer_present(const ksi_layer_ref *r)
{
    return r->blob_path || r->member || r->present || r->remote;
}

static json_t *image_record(const char *input, const ksi_image *img)
{
    json_t *layers = json_array();

    for (size_t i = 0; layers && i < img->n_layers; i++) {
        const ksi_layer_ref *r = &img->layers[i];

        json_array_append_new(layers, json_pack(
            "{s:o, s:o, s:I, s:b}", "digest", opt_string(r->digest),
            "media_type", opt_string(r->media_type),
            "size", (json_int_t)r->size, "present", layer_present(r)));
    }
    return json_pack("{s:s, s:o, s:s, s:o, s:o, s:o, s:o}",
                     "record", "image",
                     "input", ksi_json_of_bytes(input, strlen(input)),
                     "reference", img->reference,
                     "manifest_digest", opt_string(img->manifest_digest),
                     "platform", opt_string(img->platform),
                     "config_digest", opt_string(img->config_digest),
                     "layers", layers);
}

/* ---- reading a unit ----------------------------------------------------- */

/* A unit is done: count it, and keep a sound layer's results on disk. */
static void unit_finish(ks_scan *s, ksi_layer *l)
{
    l->have = 1;
    if (l->kind != KSI_UNIT_LAYER)
        return;
    atomic_fetch_add(&s->layers_done, 1);
    if (s->opts.cache_dir && !l->cached && !l->mismatch &&
        !atomic_load(&l->failed) && !ksi_stopped(s)) {
        char key[64];

        cache_key(s, key, sizeof(key));
        ksi_cache_put(s->opts.cache_dir, key, l);
    }
}

void ksi_layer_hold(ksi_layer *l)
{
    atomic_fetch_add(&l->pending, 1);
}

void ksi_layer_release(ks_scan *s, ksi_layer *l)
{
    if (atomic_fetch_sub(&l->pending, 1) == 1)
        unit_finish(s, l);
}

static void check_digest(ks_scan *s, ksi_layer *l, ksi_sha256 *hash,
                         const char *ref, size_t index)
{
    unsigned char digest[32];
    char hex[65];

    ksi_sha256_final(hash, digest);
    ksi_hex(digest, 32, hex);
    if (strncmp(l->digest, "sha256:", 7) != 0 ||
        strcmp(l->digest + 7, hex) == 0)
        return;
    l->mismatch = 1;
    ksi_report(s, KS_DIAG_WARNING, KS_ERR_ARCHIVE, ref, NULL, 0,
               "layer %zu (%s): bytes do not match the digest (they hash "
               "to sha256:%s); scanned anyway, findings flagged "
               "digest_mismatch", index, l->digest, hex);
}

/* Finds `member` in a tar archive; leaves `a` positioned on its data. */
static struct archive *open_member(const char *file, const char *member)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;

    if (!a)
        return NULL;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK)
        goto fail;
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(ae);

        if (name && strcmp(norm_path(name), norm_path(member)) == 0)
            return a;
    }
fail:
    archive_read_free(a);
    return NULL;
}

/*
 * Streams a layer from the image's registry into the reader. A transfer
 * that fails for good is an error on the image; the bytes that did arrive
 * are scanned, but no digest is claimed for them.
 */
static void read_remote_blob(ksi_worker *w, ksi_layer *l,
                             const ksi_image *img, const ksi_layer_ref *ref,
                             size_t index)
{
    ks_scan *s = w->scan;
    const char *chain[1] = { l->digest };
    ksi_read_ctx rc = { img->reference, chain, 1, 0, 0, l, 1 };
    ksi_remote_stream *st = NULL;
    char why[512];
    ksi_sha256 hash;
    ksi_source src;
    int fd = -1;

    if (ksi_remote_open_blob(img->remote, img->repository, ref->digest, &st,
                             &fd, why, sizeof(why)) != KSI_REMOTE_OK) {
        ksi_layer_failed(l);
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_IO, img->reference, NULL, 0,
                   "layer %zu (%s): %s", index, l->digest, why);
        return;
    }
    ksi_source_fd(&src, fd);
    ksi_sha256_init(&hash);
    src.hash = &hash;
    src.counter = &s->stored_bytes;
    src.budget = w->budget;
    ksi_read_source(w, &src, UINT64_MAX, &rc);
    ksi_source_drain(&src);
    if (ksi_remote_close_blob(st, why, sizeof(why)) != KSI_REMOTE_OK) {
        ksi_layer_failed(l);
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_IO, img->reference, NULL, 0,
                   "layer %zu (%s): %s", index, l->digest, why);
        return;
    }
    check_digest(s, l, &hash, img->reference, index);
}

/* Streams a layer's blob through the reader, hashing it on the way. */
static void read_blob(ksi_worker *w, ksi_layer *l, const char *source_file,
                      const ksi_image *img, const ksi_layer_ref *ref,
                      size_t index)
{
    ks_scan *s = w->scan;
    const char *image_ref = img->reference;
    const char *chain[1] = { l->digest };
    ksi_read_ctx rc = { image_ref, chain, 1, 0, 0, l, 1 };
    struct archive *outer = NULL;
    ksi_sha256 hash;
    ksi_source src;
    int fd = -1;

    if (ref->remote) {
        read_remote_blob(w, l, img, ref, index);
        return;
    }
    if (ref->blob_path) {
        fd = open(ref->blob_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ksi_layer_failed(l);
            ksi_report(s, KS_DIAG_ERROR, KS_ERR_IO, image_ref, NULL, 0,
                       "layer %zu (%s): cannot open %s: %s", index,
                       l->digest, ref->blob_path, strerror(errno));
            return;
        }
        ksi_source_fd(&src, fd);
    } else {
        outer = open_member(source_file, ref->member);
        if (!outer) {
            ksi_layer_failed(l);
            ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARCHIVE, image_ref, NULL, 0,
                       "layer %zu (%s): member %s not found in %s", index,
                       l->digest, ref->member, source_file);
            return;
        }
        ksi_source_archive(&src, outer);
    }
    ksi_sha256_init(&hash);
    src.hash = &hash;
    src.counter = &s->stored_bytes;
    src.budget = w->budget;
    ksi_read_source(w, &src, UINT64_MAX, &rc);
    ksi_source_drain(&src);
    if (fd >= 0)
        close(fd);
    archive_read_free(outer);
    check_digest(s, l, &hash, image_ref, index);
}

/* A layer to read on a worker; what it points to outlives the job. */
typedef struct blob_job {
    ksi_layer *layer;
    const char *source_file;
    const ksi_image *img;
    const ksi_layer_ref *ref;
    size_t index;
} blob_job;

static void run_blob(ksi_worker *w, void *arg)
{
    const blob_job *b = arg;
    const char *chain[1] = { b->layer->digest };
    ksi_budget *outer;

    /* A layer is a unit of its own: its limits are counted apart. */
    if (ksi_unit_begin(w, &outer, b->img->reference, chain, 1) == 0) {
        read_blob(w, b->layer, b->source_file, b->img, b->ref, b->index);
        ksi_unit_end(w, outer);
    } else {
        ksi_layer_failed(b->layer);
    }
    ksi_layer_release(w->scan, b->layer);
}

/*
 * Takes a layer's results from the cache, or has a worker read it: several
 * layers are read at once when workers are free.
 */
static void read_layer(ks_scan *s, const char *source_file,
                       const ksi_image *img, size_t index)
{
    const ksi_layer_ref *ref = &img->layers[index];
    ksi_layer *l = unit_find(s, KSI_UNIT_LAYER, ref->digest);
    blob_job *job;
    char key[64];

    /* Workers finish layers while this runs: only `started`, which no
     * worker touches, says whether a layer is taken care of. */
    if (!l || !l->claimed || l->started)
        return;
    l->started = 1;
    if (s->opts.cache_dir) {
        cache_key(s, key, sizeof(key));
        if (ksi_cache_get(s->opts.cache_dir, key, l, s->rules)) {
            l->cached = 1;
            atomic_fetch_add(&s->layers_cached, 1);
            atomic_fetch_add(&s->layer_findings, l->n_kept);
            atomic_fetch_sub(&s->stored_total, ref->size);
            unit_finish(s, l);
            return;
        }
    }
    atomic_fetch_add(&s->layers_scanned, 1);
    atomic_store(&l->pending, 1);
    job = ksi_calloc(1, sizeof(*job));
    if (job)
        *job = (blob_job){ l, source_file, img, ref, index };
    if (!job || ksi_queue_call(s, run_blob, job, ksi_free)) {
        ksi_layer_failed(l);
        ksi_layer_release(s, l);
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, img->reference, NULL, 0,
                   "out of memory");
    }
}

/*
 * Claims the units of an image that this run must read: the ones of this
 * shard that no earlier image claimed. Counts layer uses served by an
 * earlier claim, and units left to other shards.
 */
static void claim_units(ks_scan *s, const ksi_image *img)
{
    ksi_layer *l;
    int fresh;

    if (img->config_digest) {
        l = unit_for(s, KSI_UNIT_CONFIG, img->config_digest, &fresh);
        if (l && fresh && ksi_in_shard(s, l->digest))
            l->claimed = 1;
        else if (l && fresh)
            atomic_fetch_add(&s->units_other_shard, 1);
    }
    for (size_t i = 0; i < img->n_layers; i++) {
        const ksi_layer_ref *ref = &img->layers[i];

        if (!ref->digest) {
            ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARCHIVE, img->reference,
                       NULL, 0, "layer %zu has no digest; not scanned", i);
            continue;
        }
        l = unit_for(s, KSI_UNIT_LAYER, ref->digest, &fresh);
        if (!l) {
            ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, img->reference, NULL,
                       0, "out of memory");
            continue;
        }
        if (!fresh) {
            if (l->claimed)
                atomic_fetch_add(&s->layers_reused, 1);
            continue;
        }
        /* A missing or foreign blob was reported when the image was
         * listed. */
        if (!ksi_in_shard(s, l->digest))
            atomic_fetch_add(&s->units_other_shard, 1);
        else if (layer_present(ref)) {
            l->claimed = 1;
            atomic_fetch_add(&s->layers_total, 1);
            atomic_fetch_add(&s->stored_total, ref->size);
        }
    }
}

/* ---- the config --------------------------------------------------------- */

static void scan_field(ks_scan *s, const ksi_image *img, ksi_layer *unit,
                       const char *field, const char *text, size_t len)
{
    const char *chain[2] = { unit->digest, field };
    ksi_entry e = { img->reference, chain, 2, 0, 0, unit, NULL };

    ksi_scan_memory(&s->self, &e, (const unsigned char *)text, len);
}

static void scan_strings(ks_scan *s, const ksi_image *img, ksi_layer *unit,
                         const char *name, json_t *array)
{
    char field[64];
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v) {
        if (!json_is_string(v))
            continue;
        snprintf(field, sizeof(field), "%s[%zu]", name, i);
        scan_field(s, img, unit, field, json_string_value(v),
                   json_string_length(v));
    }
}

/* Cmd and Entrypoint are scanned as the one command line they form. */
static void scan_command(ks_scan *s, const ksi_image *img, ksi_layer *unit,
                         const char *name, json_t *array)
{
    char *line = NULL;
    size_t len = 0, i;
    json_t *v;

    json_array_foreach(array, i, v) {
        const char *arg = json_string_value(v);
        size_t n = arg ? strlen(arg) : 0;
        char *grown = ksi_realloc(line, len + n + 2);

        if (!grown)
            break;
        line = grown;
        if (len)
            line[len++] = ' ';
        memcpy(line + len, arg ? arg : "", n);
        len += n;
        line[len] = '\0';
    }
    if (line)
        scan_field(s, img, unit, name, line, len);
    ksi_free(line);
}

static void scan_config(ks_scan *s, const ksi_image *img)
{
    ksi_layer *unit = unit_find(s, KSI_UNIT_CONFIG, img->config_digest);
    json_error_t err;
    json_t *root, *cfg, *history, *labels, *v;
    const char *key;
    char field[KSI_MAX_PATH];
    size_t i;

    if (!unit || !unit->claimed || unit->have)
        return;
    root = json_loadb((const char *)img->config, img->config_len, 0, &err);
    if (!json_is_object(root)) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARCHIVE, img->reference, NULL, 0,
                   "config %s is not a JSON object: %s", unit->digest,
                   err.text);
        json_decref(root);
        unit_finish(s, unit);
        return;
    }
    cfg = json_object_get(root, "config");
    scan_strings(s, img, unit, "Env", json_object_get(cfg, "Env"));
    scan_command(s, img, unit, "Cmd", json_object_get(cfg, "Cmd"));
    scan_command(s, img, unit, "Entrypoint",
                 json_object_get(cfg, "Entrypoint"));
    labels = json_object_get(cfg, "Labels");
    json_object_foreach(labels, key, v) {
        if (!json_is_string(v))
            continue;
        snprintf(field, sizeof(field), "Labels[%s]", key);
        scan_field(s, img, unit, field, json_string_value(v),
                   json_string_length(v));
    }
    history = json_object_get(root, "history");
    json_array_foreach(history, i, v) {
        json_t *by = json_object_get(v, "created_by");

        if (!json_is_string(by))
            continue;
        snprintf(field, sizeof(field), "history[%zu].created_by", i);
        scan_field(s, img, unit, field, json_string_value(by),
                   json_string_length(by));
    }
    json_decref(root);
    unit_finish(s, unit);
}

/* ---- reporting an image ------------------------------------------------- */

static int deleted_by(const ks_scan *s, const ksi_image *img, size_t index,
                      const char *path)
{
    const char *p = norm_path(path);

    for (size_t m = index + 1; m < img->n_layers; m++) {
        const ksi_layer *later = unit_find(s, KSI_UNIT_LAYER,
                                           img->layers[m].digest);

        if (later && hides(later, p))
            return (int)m;
    }
    return -1;
}

/* Reports a kept finding of `unit`, layer `index` of img (-1: config). */
static int report_kept(ks_scan *s, const ksi_image *img, int index,
                       const ksi_layer *unit, const ksi_kept *k)
{
    const char *chain[KSI_MAX_CHAIN];
    char layer_name[48];
    ks_finding f;
    size_t n = 0;

    snprintf(layer_name, sizeof(layer_name), "layer %d", index);
    chain[n++] = img->reference;
    chain[n++] = index < 0 ? "config" : layer_name;
    for (size_t i = 0; i < k->chain_len && n < KSI_MAX_CHAIN; i++)
        chain[n++] = k->chain[i];

    memset(&f, 0, sizeof(f));
    f.rule = k->rule;
    f.confidence = k->confidence;
    f.secret = k->secret;
    f.secret_len = k->secret_len;
    f.entropy = k->entropy;
    f.fingerprint = k->fingerprint;
    f.location.input = img->reference;
    f.location.chain = chain;
    f.location.chain_len = n;
    f.location.path = chain[n - 1];
    f.location.line = k->line;
    f.location.column = k->column;
    f.location.offset = k->offset;
    f.location.flags = k->flags;
    f.location.image = img->reference;
    f.location.manifest_digest = img->manifest_digest;
    f.location.platform = img->platform;
    f.location.layer_index = index;
    f.location.deleted_by = -1;
    if (index < 0) {
        f.location.config_field = n > 2 ? chain[2] : NULL;
    } else {
        f.location.layer_digest = unit->digest;
        if (unit->mismatch)
            f.location.flags |= KS_LOC_DIGEST_MISMATCH;
        if (k->chain_len)
            f.location.deleted_by = deleted_by(s, img, (size_t)index,
                                               k->chain[0]);
        if (f.location.deleted_by >= 0)
            f.location.flags |= KS_LOC_DELETED;
    }
    return ksi_emit_finding(s, &f);
}

static int report_unit(ks_scan *s, const ksi_image *img, int index,
                       const ksi_layer *unit)
{
    for (size_t k = 0; unit && unit->have && k < unit->n_kept; k++) {
        if (report_kept(s, img, index, unit, &unit->kept[k]))
            return 1;
    }
    return 0;
}

void ksi_report_image(ks_scan *s, const ksi_image *img)
{
    if (report_unit(s, img, -1, unit_find(s, KSI_UNIT_CONFIG,
                                          img->config_digest)))
        return;
    for (size_t i = 0; i < img->n_layers && !ksi_stopped(s); i++) {
        if (report_unit(s, img, (int)i, unit_find(s, KSI_UNIT_LAYER,
                                                  img->layers[i].digest)))
            return;
    }
}

/* Records mode: the results of every unit this input completed. */
static void record_units(ks_scan *s, const ksi_image_list *list)
{
    for (size_t i = 0; i < list->count && !ksi_stopped(s); i++) {
        const ksi_image *img = &list->items[i];
        ksi_layer *u = unit_find(s, KSI_UNIT_CONFIG, img->config_digest);

        for (size_t k = 0; k <= img->n_layers; k++) {
            if (u && u->claimed && u->have && !u->recorded) {
                u->recorded = 1;
                emit_record(s, ksi_unit_json(u));
            }
            u = k < img->n_layers ? unit_find(s, KSI_UNIT_LAYER,
                                              img->layers[k].digest)
                                  : NULL;
        }
    }
}

static int list_one(ks_scan *s, const char *input, const ksi_image *img,
                    ks_image_fn on_image);

/* Tells the caller what an image is made of, before any of its findings. */
static void announce_image(ks_scan *s, const char *input,
                           const ksi_image *img)
{
    if (s->opts.on_image && list_one(s, input, img, s->opts.on_image))
        atomic_store(&s->stop, 1);
}

/* ---- inputs ------------------------------------------------------------- */

typedef struct image_input {
    ksi_image_kind kind;
    char *path;         /* the OCI dir, archive file or store root */
    char *repo;         /* registry store only */
    char *tag;
    ksi_remote_ref ref; /* a registry over HTTP */
    ksi_remote *remote;
} image_input;

static void on_list_diag(void *ctx, ks_diag_level level, ks_status status,
                         const char *where, const char *message)
{
    const char *chain[1] = { where };

    ksi_report(ctx, level, status, where, chain, 1, "%s", message);
}

static int is_dir(const char *p)
{
    struct stat sb;

    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;

    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * Splits "PATH[:TAG]" where PATH may itself hold ':' — the longest prefix
 * that exists (as a directory when want_dir, else a file) is the path.
 */
static int split_path_tag(const char *spec, int want_dir, image_input *in)
{
    size_t len = strlen(spec);

    for (size_t cut = len; cut > 0; cut--) {
        if (cut != len && spec[cut] != ':')
            continue;
        in->path = ksi_strndup(spec, cut);
        if (!in->path)
            return -1;
        if (want_dir ? is_dir(in->path) : is_file(in->path)) {
            if (cut < len && !(in->tag = ksi_strdup(spec + cut + 1)))
                return -1;
            return 0;
        }
        ksi_free(in->path);
        in->path = NULL;
    }
    return -1;
}

/* "ROOT[/REPO[:TAG]]": the longest directory prefix that is a store. */
static int split_store(const char *spec, image_input *in)
{
    size_t len = strlen(spec);

    for (size_t cut = len; cut > 0; cut--) {
        const char *rest;
        const char *colon;

        if (cut != len && spec[cut] != '/')
            continue;
        in->path = ksi_strndup(spec, cut);
        if (!in->path)
            return -1;
        if (ksi_image_detect(in->path) != KSI_IMAGE_REGISTRY_STORE) {
            ksi_free(in->path);
            in->path = NULL;
            continue;
        }
        rest = spec + cut + (cut < len);
        colon = strrchr(rest, ':');
        if (*rest && !(in->repo = ksi_strndup(rest, colon ? (size_t)(colon -
                                                              rest)
                                                           : strlen(rest))))
            return -1;
        if (colon && !(in->tag = ksi_strdup(colon + 1)))
            return -1;
        return 0;
    }
    return -1;
}

/*
 * A registry reference: "docker://..." always, a bare "HOST/REPO[:TAG]"
 * when no such path exists. Returns as parse_input, with `why` set on -1.
 */
static int parse_remote(const char *input, image_input *in, char *why,
                        size_t cap)
{
    int explicit = strncmp(input, "docker://", 9) == 0;
    struct stat sb;
    int rc;

    if (!explicit && lstat(input, &sb) == 0)
        return 0;
    rc = ksi_remote_parse(explicit ? input + 9 : input, explicit, &in->ref,
                          why, cap);
    if (rc > 0)
        in->kind = KSI_IMAGE_REMOTE;
    return rc;
}

/* Returns 1 when `input` is an image source (filling *in), 0 if not, -1
 * when it uses the image syntax but names nothing usable (a malformed
 * registry reference leaves the reason in in->path). */
static int parse_input(const char *input, image_input *in)
{
    char why[256];
    int rc;

    memset(in, 0, sizeof(*in));
    if (strncmp(input, "oci:", 4) != 0 &&
        strncmp(input, "docker-archive:", 15) != 0 &&
        strncmp(input, "registry-store:", 15) != 0 &&
        strncmp(input, "pid:", 4) != 0) {
        rc = parse_remote(input, in, why, sizeof(why));
        if (rc < 0)
            in->path = ksi_strdup(why);
        if (rc != 0)
            return rc;
    }
    if (strncmp(input, "oci:", 4) == 0) {
        in->kind = KSI_IMAGE_OCI_DIR;
        return split_path_tag(input + 4, 1, in) ? -1 : 1;
    }
    if (strncmp(input, "docker-archive:", 15) == 0) {
        in->kind = KSI_IMAGE_DOCKER_ARCHIVE;
        return split_path_tag(input + 15, 0, in) ? -1 : 1;
    }
    if (strncmp(input, "registry-store:", 15) == 0) {
        in->kind = KSI_IMAGE_REGISTRY_STORE;
        return split_store(input + 15, in) ? -1 : 1;
    }
    in->kind = ksi_image_detect(input);
    if (in->kind == KSI_IMAGE_NONE)
        return 0;
    in->path = ksi_strdup(input);
    return in->path ? 1 : -1;
}

static void input_clear(image_input *in)
{
    ksi_free(in->path);
    ksi_free(in->repo);
    ksi_free(in->tag);
    ksi_remote_ref_clear(&in->ref);
    ksi_remote_free(in->remote);
}

/* Opens the registry of a remote input; reports and returns -1 if not. */
static int open_remote(ks_scan *s, const char *input, image_input *in)
{
    const char *chain[1] = { input };
    ksi_remote_opts ro = { s->opts.registry_auth, s->opts.registry_user,
                           s->opts.registry_password,
                           s->opts.registry_plain_http };
    char why[256];

    in->remote = ksi_remote_new(in->ref.host, &ro, why, sizeof(why));
    if (in->remote)
        return 0;
    ksi_report(s, KS_DIAG_ERROR, KS_ERR_IO, input, chain, 1, "%s", why);
    return -1;
}

/*
 * Lists the images of an image input into `list`. Returns 1 if `input` is
 * an image source (problems reported), 0 if it is not one.
 */
static int list_input(ks_scan *s, const char *input, image_input *in,
                      ksi_image_list *list)
{
    const char *chain[1] = { input };
    const char *platform = s->opts.platform;
    int kind = parse_input(input, in);
    ks_status st = KS_OK;

    if (kind < 0 && in->path)
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARG, input, chain, 1,
                   "not an image reference: %s", in->path);
    else if (kind < 0)
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, input, chain, 1,
                   "no image source there: the path after the prefix "
                   "must be an OCI layout directory (oci:), a docker "
                   "save archive (docker-archive:) or a registry store "
                   "root (registry-store:)");
    if (kind <= 0)
        return kind < 0;
    switch (in->kind) {
    case KSI_IMAGE_REMOTE:
        if (open_remote(s, input, in) == 0)
            st = ksi_images_remote(in->remote, in->ref.name, in->ref.repo,
                                   in->ref.tag, in->ref.digest, platform,
                                   list, on_list_diag, s);
        break;
    case KSI_IMAGE_OCI_DIR:
        st = ksi_images_oci(in->path, in->tag, platform, list, on_list_diag,
                            s);
        break;
    case KSI_IMAGE_REGISTRY_STORE:
        st = ksi_images_registry_store(in->path, in->repo, in->tag,
                                       platform, list, on_list_diag, s);
        break;
    case KSI_IMAGE_DOCKER_ARCHIVE:
    case KSI_IMAGE_OCI_ARCHIVE:
        st = ksi_images_docker_archive(in->path, in->tag, platform, list,
                                       on_list_diag, s);
        break;
    case KSI_IMAGE_NONE:
        break;
    }
    if (st == KS_ERR_NOMEM)
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, input, chain, 1,
                   "out of memory listing images");
    return 1;
}

int ksi_scan_image_input(ks_scan *s, const char *input)
{
    ksi_image_list list = { 0 };
    image_input in;

    if (!list_input(s, input, &in, &list)) {
        input_clear(&in);
        return 0;
    }
    atomic_fetch_add(&s->images, list.count);
    for (size_t i = 0; i < list.count && s->opts.on_record; i++)
        emit_record(s, image_record(input, &list.items[i]));
    for (size_t i = 0; i < list.count && !ksi_stopped(s); i++)
        announce_image(s, input, &list.items[i]);
    for (size_t i = 0; i < list.count; i++)
        claim_units(s, &list.items[i]);
    for (size_t i = 0; i < list.count && !ksi_stopped(s); i++)
        scan_config(s, &list.items[i]);
    for (size_t i = 0; i < list.count && !ksi_stopped(s); i++) {
        for (size_t k = 0; k < list.items[i].n_layers; k++)
            read_layer(s, in.path, &list.items[i], k);
    }
    ksi_queue_wait_idle(s);
    if (s->opts.on_record)
        record_units(s, &list);
    for (size_t i = 0; i < list.count && !ksi_stopped(s) &&
                       !s->opts.on_record; i++)
        ksi_report_image(s, &list.items[i]);
    ksi_image_list_free(&list);
    input_clear(&in);
    return 1;
}

/* ---- listing ------------------------------------------------------------ */

static int list_one(ks_scan *s, const char *input, const ksi_image *img,
                    ks_image_fn on_image)
{
    ks_layer_info *layers = ksi_calloc(img->n_layers + 1, sizeof(*layers));
    ks_image_info info;
    int stop;

    if (!layers)
        return 1;
    for (size_t i = 0; i < img->n_layers; i++) {
        const ksi_layer_ref *r = &img->layers[i];

        layers[i] = (ks_layer_info){ r->digest, r->media_type, r->size,
                                     layer_present(r) };
    }
    info = (ks_image_info){ input, img->reference, img->manifest_digest,
                            img->platform, img->config_digest,
                            img->config_len, layers, img->n_layers };
    pthread_mutex_lock(&s->cb_lock);
    stop = on_image(&info, s->opts.user);
    pthread_mutex_unlock(&s->cb_lock);
    ksi_free(layers);
    return stop;
}

ks_status ks_scan_list_images(ks_scan *s, const char *const *inputs,
                              size_t n, ks_image_fn on_image)
{
    if (!s || !on_image || (!inputs && n))
        return KS_ERR_ARG;
    for (size_t i = 0; i < n && !ksi_stopped(s); i++) {
        const char *chain[1] = { inputs[i] };
        ksi_image_list list = { 0 };
        image_input in;

        atomic_fetch_add(&s->inputs, 1);
        if (!list_input(s, inputs[i], &in, &list))
            ksi_report(s, KS_DIAG_WARNING, KS_WARN_SKIPPED, inputs[i],
                       chain, 1, "not a container image source (an OCI "
                       "layout, a docker save archive or a registry "
                       "store); nothing to list");
        atomic_fetch_add(&s->images, list.count);
        for (size_t k = 0; k < list.count; k++) {
            if (list_one(s, inputs[i], &list.items[k], on_image))
                atomic_store(&s->stop, 1);
        }
        ksi_image_list_free(&list);
        input_clear(&in);
    }
    return ksi_stopped(s) ? KS_STOPPED : KS_OK;
}
