/*
 * image_scan.c - scanning container images.
 *
 * An image input is first listed (image.c): images, each with its config
 * and its layers in order. Then, in three steps:
 *
 *  1. each image's config fields (Env, Labels, Cmd, Entrypoint, history)
 *     are scanned as small entries of their own;
 *  2. each distinct layer digest is read once per run, its bytes hashed as
 *     they stream and checked against the digest; its findings are kept,
 *     not reported, and its whiteouts recorded;
 *  3. once every layer's entries are scanned, each image reports the
 *     findings of each of its layers, marked deleted when a later layer of
 *     that image whites the file out.
 *
 * Step 3 waits for step 2 because whether a finding is deleted depends on
 * the image, and a layer shared by 500 images is read only once.
 */
#include "image_scan.h"

#include "alloc.h"
#include "image.h"
#include "input_limits.h"
#include "scan.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A finding made in a layer, kept until its images are reported. */
typedef struct kept {
    const ks_rule_info *rule;
    ks_confidence confidence;
    char *secret;
    size_t secret_len;
    double entropy;
    char fingerprint[33];
    char **chain;           /* inside the layer: path, then nested paths */
    size_t chain_len;
    uint64_t line, column, offset;
    unsigned flags;
} kept;

typedef struct ksi_layer {
    char *digest;
    kept *kept;
    size_t n_kept, cap_kept;
    char **deleted;         /* "dir/name" removed by a ".wh.name" */
    size_t n_deleted, cap_deleted;
    char **opaque;          /* "dir/" emptied by ".wh..wh..opq" */
    size_t n_opaque, cap_opaque;
    int read;               /* scanned (or tried) in this run */
    int mismatch;           /* bytes did not match the digest */
} ksi_layer;

struct ksi_layer_map {
    ksi_layer **items;
    size_t count, cap;
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

static int push_string(char ***list, size_t *n, size_t *cap, const char *s,
                       size_t len)
{
    char *copy;

    if (ksi_grow(list, cap, *n + 1, sizeof(**list)))
        return -1;
    copy = ksi_strndup(s, len);
    if (!copy)
        return -1;
    (*list)[(*n)++] = copy;
    return 0;
}

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ksi_free(list[i]);
    ksi_free(list);
}

static void layer_free(ksi_layer *l)
{
    for (size_t i = 0; i < l->n_kept; i++) {
        ksi_free(l->kept[i].secret);
        free_strings(l->kept[i].chain, l->kept[i].chain_len);
    }
    ksi_free(l->kept);
    free_strings(l->deleted, l->n_deleted);
    free_strings(l->opaque, l->n_opaque);
    ksi_free(l->digest);
    ksi_free(l);
}

void ksi_layer_map_free(struct ksi_layer_map *map)
{
    if (!map)
        return;
    for (size_t i = 0; i < map->count; i++)
        layer_free(map->items[i]);
    ksi_free(map->items);
    ksi_free(map);
}

/* ---- keeping a layer's findings and whiteouts --------------------------- */

static int copy_finding(kept *k, const ks_finding *f)
{
    const ks_location *loc = &f->location;

    memset(k, 0, sizeof(*k));
    k->rule = f->rule;
    k->confidence = f->confidence;
    k->secret = ksi_strndup(f->secret, f->secret_len);
    k->secret_len = f->secret_len;
    k->entropy = f->entropy;
    snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", f->fingerprint);
    k->line = loc->line;
    k->column = loc->column;
    k->offset = loc->offset;
    k->flags = loc->flags;
    if (!k->secret)
        return -1;
    /* chain[0] is the layer digest; what follows is inside the layer. */
    for (size_t i = 1; i < loc->chain_len; i++) {
        size_t cap = k->chain_len;

        if (push_string(&k->chain, &k->chain_len, &cap, loc->chain[i],
                        strlen(loc->chain[i])))
            return -1;
    }
    return 0;
}

int ksi_layer_keep(ks_scan *s, ksi_layer *l, const ks_finding *f)
{
    kept k;
    int failed;

    pthread_mutex_lock(&s->cb_lock);
    failed = copy_finding(&k, f) ||
             ksi_grow(&l->kept, &l->cap_kept, l->n_kept + 1,
                      sizeof(*l->kept));
    if (!failed)
        l->kept[l->n_kept++] = k;
    pthread_mutex_unlock(&s->cb_lock);
    if (failed) {
        ksi_free(k.secret);
        free_strings(k.chain, k.chain_len);
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
        failed = push_string(&l->opaque, &l->n_opaque, &l->cap_opaque, p,
                             dir_len);
    } else {
        snprintf(joined, sizeof(joined), "%.*s%s", (int)dir_len, p,
                 base + 4);
        failed = push_string(&l->deleted, &l->n_deleted, &l->cap_deleted,
                             joined, strlen(joined));
    }
    pthread_mutex_unlock(&s->cb_lock);
    if (failed)
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, l->digest, NULL, 0,
                   "out of memory recording whiteouts");
    return 0;
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

/* ---- the layer map ------------------------------------------------------ */

static ksi_layer *layer_for(ks_scan *s, const char *digest, int *fresh)
{
    struct ksi_layer_map *map = s->layers;
    ksi_layer *l;

    *fresh = 0;
    if (!map) {
        map = ksi_calloc(1, sizeof(*map));
        if (!map)
            return NULL;
        s->layers = map;
    }
    for (size_t i = 0; i < map->count; i++) {
        if (strcmp(map->items[i]->digest, digest) == 0)
            return map->items[i];
    }
    if (ksi_grow(&map->items, &map->cap, map->count + 1,
                 sizeof(*map->items)))
        return NULL;
    l = ksi_calloc(1, sizeof(*l));
    if (l)
        l->digest = ksi_strdup(digest);
    if (!l || !l->digest) {
        ksi_free(l);
        return NULL;
    }
    map->items[map->count++] = l;
    *fresh = 1;
    return l;
}

/* ---- reading a layer ---------------------------------------------------- */

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

static void read_blob_file(ks_scan *s, ksi_layer *l, const char *path,
                           const char *ref, size_t index)
{
    const char *chain[1] = { l->digest };
    ksi_read_ctx rc = { ref, chain, 1, 0, 0, l, 1 };
    ksi_sha256 hash;
    ksi_source src;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_IO, ref, NULL, 0,
                   "layer %zu (%s): cannot open %s: %s", index, l->digest,
                   path, strerror(errno));
        return;
    }
    ksi_sha256_init(&hash);
    ksi_source_fd(&src, fd);
    src.hash = &hash;
    ksi_read_source(&s->self, &src, UINT64_MAX, &rc);
    ksi_source_drain(&src);
    close(fd);
    check_digest(s, l, &hash, ref, index);
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

static void read_blob_member(ks_scan *s, ksi_layer *l, const char *file,
                             const char *member, const char *ref,
                             size_t index)
{
    const char *chain[1] = { l->digest };
    ksi_read_ctx rc = { ref, chain, 1, 0, 0, l, 1 };
    struct archive *outer = open_member(file, member);
    ksi_sha256 hash;
    ksi_source src;

    if (!outer) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARCHIVE, ref, NULL, 0,
                   "layer %zu (%s): member %s not found in %s", index,
                   l->digest, member, file);
        return;
    }
    ksi_sha256_init(&hash);
    ksi_source_archive(&src, outer);
    src.hash = &hash;
    ksi_read_source(&s->self, &src, UINT64_MAX, &rc);
    ksi_source_drain(&src);
    archive_read_free(outer);
    check_digest(s, l, &hash, ref, index);
}

/* Reads the layer unless this run already has. */
static void read_layer(ks_scan *s, const char *source_file,
                       const ksi_image *img, size_t index)
{
    const ksi_layer_ref *ref = &img->layers[index];
    ksi_layer *l;
    int fresh;

    if (!ref->digest) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARCHIVE, img->reference, NULL,
                   0, "layer %zu has no digest; not scanned", index);
        return;
    }
    l = layer_for(s, ref->digest, &fresh);
    if (!l) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, img->reference, NULL, 0,
                   "out of memory");
        return;
    }
    if (!fresh && l->read) {
        atomic_fetch_add(&s->layers_reused, 1);
        return;
    }
    l->read = 1;
    /* A missing or foreign blob was reported when the image was listed. */
    if (!ref->blob_path && !ref->member)
        return;
    atomic_fetch_add(&s->layers_scanned, 1);
    if (ref->blob_path)
        read_blob_file(s, l, ref->blob_path, img->reference, index);
    else
        read_blob_member(s, l, source_file, ref->member, img->reference,
                         index);
}

/* ---- the config --------------------------------------------------------- */

static void scan_field(ks_scan *s, const ksi_image *img, const char *field,
                       const char *text, size_t len)
{
    const char *chain[3] = { img->reference, "config", field };
    ks_location loc;
    ksi_entry e = { img->reference, chain, 3, 0, 0, NULL, &loc };

    memset(&loc, 0, sizeof(loc));
    loc.image = img->reference;
    loc.manifest_digest = img->manifest_digest;
    loc.platform = img->platform;
    loc.layer_index = -1;
    loc.deleted_by = -1;
    loc.config_field = field;
    ksi_scan_memory(&s->self, &e, (const unsigned char *)text, len);
}

static void scan_strings(ks_scan *s, const ksi_image *img, const char *name,
                         json_t *array)
{
    char field[64];
    size_t i;
    json_t *v;

    json_array_foreach(array, i, v) {
        if (!json_is_string(v))
            continue;
        snprintf(field, sizeof(field), "%s[%zu]", name, i);
        scan_field(s, img, field, json_string_value(v),
                   json_string_length(v));
    }
}

/* Cmd and Entrypoint are scanned as the one command line they form. */
static void scan_command(ks_scan *s, const ksi_image *img, const char *name,
                         json_t *array)
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
        scan_field(s, img, name, line, len);
    ksi_free(line);
}

static void scan_config(ks_scan *s, const ksi_image *img)
{
    json_error_t err;
    json_t *root, *cfg, *history, *labels, *v;
    const char *key;
    char field[KSI_MAX_PATH];
    size_t i;

    root = json_loadb((const char *)img->config, img->config_len, 0, &err);
    if (!json_is_object(root)) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARCHIVE, img->reference, NULL, 0,
                   "config %s is not a JSON object: %s",
                   img->config_digest ? img->config_digest : "", err.text);
        json_decref(root);
        return;
    }
    cfg = json_object_get(root, "config");
    scan_strings(s, img, "Env", json_object_get(cfg, "Env"));
    scan_command(s, img, "Cmd", json_object_get(cfg, "Cmd"));
    scan_command(s, img, "Entrypoint", json_object_get(cfg, "Entrypoint"));
    labels = json_object_get(cfg, "Labels");
    json_object_foreach(labels, key, v) {
        if (!json_is_string(v))
            continue;
        snprintf(field, sizeof(field), "Labels[%s]", key);
        scan_field(s, img, field, json_string_value(v),
                   json_string_length(v));
    }
    history = json_object_get(root, "history");
    json_array_foreach(history, i, v) {
        json_t *by = json_object_get(v, "created_by");

        if (!json_is_string(by))
            continue;
        snprintf(field, sizeof(field), "history[%zu].created_by", i);
        scan_field(s, img, field, json_string_value(by),
                   json_string_length(by));
    }
    json_decref(root);
}

/* ---- reporting an image's layers ---------------------------------------- */

static int deleted_by(ks_scan *s, const ksi_image *img, size_t index,
                      const char *path)
{
    const char *p = norm_path(path);

    for (size_t m = index + 1; m < img->n_layers; m++) {
        int fresh;
        const ksi_layer *later;

        if (!img->layers[m].digest)
            continue;
        later = layer_for(s, img->layers[m].digest, &fresh);
        if (later && hides(later, p))
            return (int)m;
    }
    return -1;
}

static int report_kept(ks_scan *s, const ksi_image *img,
                       size_t index, const ksi_layer *l, const kept *k)
{
    const char *chain[KSI_MAX_CHAIN];
    char layer_name[48];
    ks_finding f;
    size_t n = 0;

    snprintf(layer_name, sizeof(layer_name), "layer %zu", index);
    chain[n++] = img->reference;
    chain[n++] = layer_name;
    for (size_t i = 0; i < k->chain_len && n < KSI_MAX_CHAIN; i++)
        chain[n++] = k->chain[i];

    memset(&f, 0, sizeof(f));
    f.rule = k->rule;
    f.confidence = k->confidence;
    f.secret = k->secret;
    f.secret_len = k->secret_len;
    f.entropy = k->entropy;
    f.fingerprint = k->fingerprint;
    /* Like config findings, a layer's are named by the image they are in. */
    f.location.input = img->reference;
    f.location.chain = chain;
    f.location.chain_len = n;
    f.location.path = chain[n - 1];
    f.location.line = k->line;
    f.location.column = k->column;
    f.location.offset = k->offset;
    f.location.flags = k->flags | (l->mismatch ? KS_LOC_DIGEST_MISMATCH : 0);
    f.location.image = img->reference;
    f.location.manifest_digest = img->manifest_digest;
    f.location.platform = img->platform;
    f.location.layer_index = (int)index;
    f.location.layer_digest = l->digest;
    f.location.deleted_by = k->chain_len ? deleted_by(s, img, index,
                                                      k->chain[0])
                                         : -1;
    if (f.location.deleted_by >= 0)
        f.location.flags |= KS_LOC_DELETED;
    return ksi_emit_finding(s, &f);
}

static void report_image(ks_scan *s, const ksi_image *img)
{
    for (size_t i = 0; i < img->n_layers && !ksi_stopped(s); i++) {
        const ksi_layer *l;
        int fresh;

        if (!img->layers[i].digest)
            continue;
        l = layer_for(s, img->layers[i].digest, &fresh);
        for (size_t k = 0; l && k < l->n_kept; k++) {
            if (report_kept(s, img, i, l, &l->kept[k]))
                return;
        }
    }
}

/* ---- inputs ------------------------------------------------------------- */

typedef struct image_input {
    ksi_image_kind kind;
    char *path;         /* the OCI dir, archive file or store root */
    char *repo;         /* registry store only */
    char *tag;
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

/* Returns 1 when `input` is an image source (filling *in), 0 if not, -1
 * when it uses the image syntax but names nothing usable. */
static int parse_input(const char *input, image_input *in)
{
    memset(in, 0, sizeof(*in));
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

static ks_status list_images(ks_scan *s, const image_input *in,
                             ksi_image_list *list)
{
    const char *platform = s->opts.platform;

    switch (in->kind) {
    case KSI_IMAGE_OCI_DIR:
        return ksi_images_oci(in->path, in->tag, platform, list,
                              on_list_diag, s);
    case KSI_IMAGE_REGISTRY_STORE:
        return ksi_images_registry_store(in->path, in->repo, in->tag,
                                         platform, list, on_list_diag, s);
    case KSI_IMAGE_DOCKER_ARCHIVE:
    case KSI_IMAGE_OCI_ARCHIVE:
        return ksi_images_docker_archive(in->path, in->tag, platform, list,
                                         on_list_diag, s);
    case KSI_IMAGE_NONE:
        break;
    }
    return KS_ERR_ARG;
}

int ksi_scan_image_input(ks_scan *s, const char *input)
{
    const char *chain[1] = { input };
    ksi_image_list list = { 0 };
    image_input in;
    int kind = parse_input(input, &in);

    if (kind == 0)
        return 0;
    if (kind < 0) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, input, chain, 1,
                   "no image source there: the path after the prefix must "
                   "be an OCI layout directory (oci:), a docker save "
                   "archive (docker-archive:) or a registry store root "
                   "(registry-store:)");
        goto out;
    }
    if (list_images(s, &in, &list) == KS_ERR_NOMEM)
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, input, chain, 1,
                   "out of memory listing images");
    atomic_fetch_add(&s->images, list.count);

    for (size_t i = 0; i < list.count && !ksi_stopped(s); i++)
        scan_config(s, &list.items[i]);
    for (size_t i = 0; i < list.count && !ksi_stopped(s); i++) {
        for (size_t k = 0; k < list.items[i].n_layers; k++)
            read_layer(s, in.path, &list.items[i], k);
    }
    ksi_queue_wait_idle(s);
    for (size_t i = 0; i < list.count && !ksi_stopped(s); i++)
        report_image(s, &list.items[i]);
out:
    ksi_image_list_free(&list);
    ksi_free(in.path);
    ksi_free(in.repo);
    ksi_free(in.tag);
    return 1;
}
