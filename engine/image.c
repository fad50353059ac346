/*
 * image.c - lists the images of an OCI layout, a `docker save` archive or a
 * registry store: for each one its manifest, config and layers.
 *
 * All three kinds of source come down to one walk. A source can load a
 * small blob (manifest, index, config) by digest and say where a layer's
 * blob lives; from a starting descriptor the walk loads the document,
 * follows an index down to its manifests and turns each manifest into a
 * ksi_image. Only the starting points differ: index.json entries in an OCI
 * layout, tag links in a registry store, manifest.json entries (or
 * index.json) in an archive. An archive is read once, up front: its JSON
 * members are kept in memory and every member's name is noted, so nothing
 * later has to go back to the file.
 */
#include "image.h"

#include "alloc.h"
#include "input_limits.h"
#include "registry.h"
#include "sha256.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Limits on image metadata, each reported as KS_WARN_LIMIT when reached.
 *
 * KSI_MAX_MANIFEST_SIZE   an image manifest or index blob. Registries
 *                         refuse manifests over 4 MiB; real ones are KiB.
 * KSI_MAX_CONFIG_SIZE     an image config; a long build history makes
 *                         configs the largest JSON an image has.
 * KSI_MAX_INDEX_JSON_SIZE index.json of an OCI layout and the top-level
 *                         manifest.json or index.json of an archive: these
 *                         list every image of the source.
 * KSI_MAX_ARCHIVE_JSON    JSON bytes kept in memory from one archive.
 * KSI_MAX_ARCHIVE_MEMBERS members noted from one archive.
 * KSI_MAX_INDEX_DEPTH     indexes nested inside indexes.
 * KSI_MAX_MANIFESTS_PER_REF  manifests and indexes loaded while following
 *                         one tag, so that a crafted fan-out of nested
 *                         indexes cannot multiply without end.
 * KSI_MAX_IMAGE_LAYERS    layers of one image (Docker stops at 127).
 * KSI_MAX_REPO_DEPTH      path components of a registry repository name.
 * KSI_MAX_TAG_LINK_SIZE   a registry tag link file ("sha256:<hex>").
 * KSI_MAX_LINK_HOPS       links followed from one archive member to its
 *                         data (old `docker save` links shared layers).
 */
#define KSI_MAX_MANIFEST_SIZE (4u << 20)
#define KSI_MAX_CONFIG_SIZE (8u << 20)
#define KSI_MAX_INDEX_JSON_SIZE (16u << 20)
#define KSI_MAX_ARCHIVE_JSON (64u << 20)
#define KSI_MAX_ARCHIVE_MEMBERS (1u << 20)
#define KSI_MAX_INDEX_DEPTH 4u
#define KSI_MAX_MANIFESTS_PER_REF 1024u
#define KSI_MAX_IMAGE_LAYERS 1024u
#define KSI_MAX_REPO_DEPTH 32u
#define KSI_MAX_TAG_LINK_SIZE 256u
#define KSI_MAX_LINK_HOPS 8u

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST \
    "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST \
    "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1"

#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_REF_TYPE "vnd.docker.reference.type"

/* "sha256:" and 64 hex digits, plus NUL. */
#define DIGEST_SIZE 72

/* Bytes of each archive member looked at to tell JSON from layer data. */
#define PEEK_SIZE 512

/* Block size for libarchive's reads of the archive file. */
#define ARCHIVE_BLOCK (64u << 10)

typedef enum blob_result {
    BLOB_OK,
    BLOB_MISSING,
    BLOB_TOO_BIG,
    BLOB_NOT_FILE,
    BLOB_NOT_JSON,
    BLOB_IO,
    BLOB_NOMEM,
    BLOB_REMOTE,        /* a registry refused or failed; see source.why */
} blob_result;

/* What the archive pass did with a member's bytes. */
typedef enum keep_state {
    KEEP_NONE,          /* a link: its target holds the bytes */
    KEEP_DATA,          /* JSON, held in `data` */
    KEEP_NOT_JSON,      /* layer data or anything else */
    KEEP_TOO_BIG,       /* JSON-looking but over the limits */
} keep_state;

typedef struct member {
    char *name;         /* normalised: no "./", no "..", no double "/" */
    char *link;         /* target of a link as stored, or NULL */
    int symlink;        /* `link` is relative to the member's directory
                         * (a hard link names it from the archive's top) */
    uint64_t size;
    size_t order;       /* position in the archive: a later duplicate wins */
    unsigned char *data;
    size_t len;
    keep_state keep;
} member;

typedef struct member_table {
    member *items;      /* sorted by name, then order, once read */
    size_t count;
    size_t cap;
    size_t kept;        /* bytes held in `data` of all members */
} member_table;

typedef enum store_kind {
    STORE_OCI_DIR,
    STORE_REGISTRY,
    STORE_ARCHIVE,
    STORE_REMOTE,       /* a registry over HTTP */
} store_kind;

/* One listing call: where blobs come from and where results go. */
typedef struct source {
    store_kind kind;
    const char *dir;                /* layout dir, or the registry's v2 */
    const member_table *members;    /* STORE_ARCHIVE */
    ksi_remote *remote;             /* STORE_REMOTE */
    const char *repo;               /* STORE_REMOTE: the repository */
    const char *platform;           /* filter, or NULL */
    ksi_image_list *out;
    ksi_image_diag_fn diag;
    void *ctx;
    ks_status status;               /* KS_ERR_NOMEM once memory ran out */
    char why[512];                  /* a registry's last failure */
    size_t followed;                /* documents loaded for this tag */
} source;

/* A descriptor, as far as the walk needs one. */
typedef struct desc {
    const char *digest;
    const char *media_type;
    uint64_t size;
    const char *platform;           /* "os/arch[/variant]" or NULL */
} desc;

typedef enum doc_kind {
    DOC_INDEX,
    DOC_MANIFEST,
    DOC_SCHEMA1,
    DOC_OTHER,
} doc_kind;

/* ---- small helpers ------------------------------------------------------ */

static int str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *strf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    s = ksi_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A copy of `path` without trailing slashes, for naming references. */
static char *trim_slashes(const char *path)
{
    size_t len = strlen(path);

    while (len > 1 && path[len - 1] == '/')
        len--;
    return ksi_strndup(path, len);
}

static void report(source *src, ks_diag_level level, ks_status status,
                   const char *where, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void report(source *src, ks_diag_level level, ks_status status,
                   const char *where, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!src->diag)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    src->diag(src->ctx, level, status, where, msg);
}

static int nomem(source *src)
{
    src->status = KS_ERR_NOMEM;
    return -1;
}

static int is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}

/*
 * The hex part of "sha256:<64 lowercase hex>", or NULL for anything else.
 * Only digests that pass become parts of paths and member names, so a
 * hostile manifest cannot point outside the blob store.
 */
static const char *digest_hex(const char *digest)
{
    if (!digest || !starts_with(digest, "sha256:"))
        return NULL;
    digest += 7;
    if (strlen(digest) != 64 || !is_lower_hex(digest, 64))
        return NULL;
    return digest;
}

static void digest_of(const void *data, size_t len, char out[DIGEST_SIZE])
{
    unsigned char sum[32];
    ksi_sha256 ctx;

    ksi_sha256_init(&ctx);
    ksi_sha256_update(&ctx, data, len);
    ksi_sha256_final(&ctx, sum);
    memcpy(out, "sha256:", 7);
    ksi_hex(sum, sizeof(sum), out + 7);
}

/* ---- JSON --------------------------------------------------------------- */

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static uint64_t jsize(const json_t *obj)
{
    json_int_t v = json_integer_value(json_object_get(obj, "size"));

    return v > 0 ? (uint64_t)v : 0;
}

static json_t *parse_json(source *src, const char *where, const char *what,
                          const unsigned char *data, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)data, len, 0, &err);

    if (!j)
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, where,
               "%s is not valid JSON (line %d, column %d: %s)", what,
               err.line, err.column, err.text);
    return j;
}

/* ---- platforms ---------------------------------------------------------- */

/*
 * "os/arch[/variant]" from an index entry's platform object or from a
 * config, which use the same field names. NULL when os or architecture is
 * absent; the caller tells that from running out of memory by the status.
 */
static char *platform_of(source *src, const json_t *obj)
{
    const char *os = jstr(obj, "os");
    const char *arch = jstr(obj, "architecture");
    const char *variant = jstr(obj, "variant");
    char *p;

    if (!os || !arch || !*os || !*arch)
        return NULL;
    if (variant && *variant)
        p = strf("%s/%s/%s", os, arch, variant);
    else
        p = strf("%s/%s", os, arch);
    if (!p)
        nomem(src);
    return p;
}

/* Splits "os/arch[/variant]" into up to three parts; returns the count. */
static size_t platform_parts(const char *p, const char *part[3],
                             size_t len[3])
{
    size_t n = 0;

    while (n < 3) {
        const char *slash = strchr(p, '/');

        part[n] = p;
        len[n] = slash ? (size_t)(slash - p) : strlen(p);
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    return n;
}

/* OS and architecture must agree; a variant only when both sides have one
 * ("linux/arm64" stands for every arm64 variant). */
static int platform_matches(const char *want, const char *have)
{
    const char *w[3], *h[3];
    size_t wl[3], hl[3];
    size_t nw = platform_parts(want, w, wl);
    size_t nh = platform_parts(have, h, hl);

    if (nw < 2 || nh < 2)
        return 0;
    for (size_t i = 0; i < 3 && i < nw && i < nh; i++) {
        if (wl[i] != hl[i] || memcmp(w[i], h[i], wl[i]) != 0)
            return 0;
    }
    return 1;
}

/*
 * Build tools put provenance and SBOM manifests into the index next to the
 * images, marked with a made-up platform or an annotation. They hold no
 * filesystem, and are not images anyone asked for.
 */
static int is_attestation(const json_t *entry)
{
    const json_t *ann = json_object_get(entry, "annotations");
    const json_t *plat = json_object_get(entry, "platform");

    if (str_eq(jstr(ann, ANN_REF_TYPE), "attestation-manifest"))
        return 1;
    return str_eq(jstr(plat, "os"), "unknown") &&
           str_eq(jstr(plat, "architecture"), "unknown");
}

/* ---- files -------------------------------------------------------------- */

/*
 * Reads a whole regular file of at most `limit` bytes, NUL-terminated.
 * Links are not followed, so a store cannot lead the scan to files outside
 * it. On BLOB_IO, errno says why.
 */
static blob_result read_file(const char *path, size_t limit,
                             unsigned char **out, size_t *len)
{
    unsigned char *buf = NULL;
    blob_result r = BLOB_OK;
    struct stat sb;
    size_t got = 0;
    int saved = 0;
    int fd;

    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return BLOB_MISSING;
        return errno == ELOOP ? BLOB_NOT_FILE : BLOB_IO;
    }
    if (fstat(fd, &sb) != 0) {
        r = BLOB_IO;
        saved = errno;
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        r = BLOB_NOT_FILE;
        goto done;
    }
    if ((uint64_t)sb.st_size > limit) {
        r = BLOB_TOO_BIG;
        goto done;
    }
    buf = ksi_malloc((size_t)sb.st_size + 1);
    if (!buf) {
        r = BLOB_NOMEM;
        goto done;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = BLOB_IO;
            saved = n < 0 ? errno : EIO;
            goto done;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;

done:
    ksi_free(buf);
    close(fd);
    errno = saved;
    return r;
}

static int is_dir(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * Whether any part of `path` after the store's own directory `dir` (which
 * `path` starts with) is a symbolic link. Opening with O_NOFOLLOW guards
 * only the last part, and a store whose blobs/sha256/ab, say, links to
 * some other directory would lead the scan to read files outside it. The
 * directory the user named may itself be a link; nothing below it may.
 */
static int link_below(const char *dir, const char *path)
{
    size_t skip = strlen(dir);
    char buf[KSI_MAX_PATH];
    size_t len = strlen(path);
    struct stat sb;

    if (strncmp(path, dir, skip) != 0 || len >= sizeof(buf))
        return 1;
    memcpy(buf, path, len + 1);
    for (size_t i = skip + 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (lstat(buf, &sb) == 0 && S_ISLNK(sb.st_mode))
            return 1;
        buf[i] = i < len ? '/' : '\0';
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ksi_free(names[i]);
    ksi_free(names);
}

/*
 * A directory's entry names in name order, so that listings are
 * reproducible. Returns the count; -1 if the directory cannot be opened
 * (errno says why), -2 when out of memory.
 */
static long list_dir(const char *path, char ***out)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d = opendir(path);

    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (ksi_grow(&names, &cap, n + 1, sizeof(*names)) != 0)
            goto fail;
        names[n] = ksi_strdup(de->d_name);
        if (!names[n])
            goto fail;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), by_name);
    *out = names;
    return (long)n;

fail:
    closedir(d);
    free_names(names, n);
    return -2;
}

/* ---- archive members ---------------------------------------------------- */

/*
 * Appends `path` to the normalised path `out` of length *n, dropping empty
 * and "." parts and resolving "..". Fails if ".." would climb above the
 * archive's top or the result would not fit.
 */
static int push_path(char *out, size_t cap, size_t *n, const char *path)
{
    while (*path) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);

        if (len == 2 && path[0] == '.' && path[1] == '.') {
            if (*n == 0)
                return -1;
            while (*n > 0 && out[*n - 1] != '/')
                (*n)--;
            if (*n > 0)
                (*n)--;
        } else if (len > 0 && !(len == 1 && path[0] == '.')) {
            if (*n + 1 + len + 1 > cap)
                return -1;
            if (*n > 0)
                out[(*n)++] = '/';
            memcpy(out + *n, path, len);
            *n += len;
        }
        path += len;
        if (*path == '/')
            path++;
    }
    out[*n] = '\0';
    return 0;
}

static int normalise(const char *path, char *out, size_t cap)
{
    size_t n = 0;

    out[0] = '\0';
    return push_path(out, cap, &n, path);
}

static int member_order(const void *a, const void *b)
{
    const member *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The member named `name` (normalised), the last one if repeated. */
static const member *member_get(const member_table *t, const char *name)
{
    size_t lo = 0, hi = t->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(t->items[mid].name, name) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && strcmp(t->items[lo - 1].name, name) == 0)
        return &t->items[lo - 1];
    return NULL;
}

/* Where a link member points, normalised into `out`. */
static int link_target(const member *m, char *out, size_t cap)
{
    size_t n = 0;

    out[0] = '\0';
    if (!m->symlink || m->link[0] == '/')
        return push_path(out, cap, &n, m->link);
    if (push_path(out, cap, &n, m->name) != 0)
        return -1;
    while (n > 0 && out[n - 1] != '/')
        n--;
    if (n > 0)
        n--;
    out[n] = '\0';
    return push_path(out, cap, &n, m->link);
}

/* The member holding the data of `name`, following links; NULL if none. */
static const member *member_find(const member_table *t, const char *name)
{
    char buf[KSI_MAX_PATH];
    const member *m;

    if (normalise(name, buf, sizeof(buf)) != 0)
        return NULL;
    m = member_get(t, buf);
    for (unsigned hops = 0; m && m->link; hops++) {
        if (hops == KSI_MAX_LINK_HOPS || link_target(m, buf, sizeof(buf)))
            return NULL;
        m = member_get(t, buf);
    }
    return m;
}

static void members_free(member_table *t)
{
    for (size_t i = 0; i < t->count; i++) {
        ksi_free(t->items[i].name);
        ksi_free(t->items[i].link);
        ksi_free(t->items[i].data);
    }
    ksi_free(t->items);
    memset(t, 0, sizeof(*t));
}

/* Reads up to `len` bytes of the current entry. Returns bytes or -1. */
static long read_data(struct archive *a, unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        la_ssize_t n = archive_read_data(a, buf + got, len - got);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long)got;
}

static int looks_like_json(const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
                     p[i] == '\n'))
        i++;
    return i < n && (p[i] == '{' || p[i] == '[');
}

static const char *archive_why(struct archive *a)
{
    const char *why = archive_error_string(a);

    return why ? why : "unknown error";
}

/*
 * Keeps a regular member's bytes if they are JSON within the limits.
 * Layers are told apart by their first bytes, never read further.
 */
static int keep_json(source *src, const char *file, struct archive *a,
                     member_table *t, member *m)
{
    size_t limit = strchr(m->name, '/') ? KSI_MAX_CONFIG_SIZE
                                        : KSI_MAX_INDEX_JSON_SIZE;
    unsigned char peek[PEEK_SIZE];
    long got = read_data(a, peek, sizeof(peek));
    long rest;

    m->keep = KEEP_NOT_JSON;
    if (got < 0) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, file,
               "member %s cannot be read: %s", m->name, archive_why(a));
        return 0;
    }
    if (!looks_like_json(peek, (size_t)got))
        return 0;
    if (m->size > limit || m->size < (uint64_t)got ||
        t->kept + m->size > KSI_MAX_ARCHIVE_JSON) {
        m->keep = KEEP_TOO_BIG;
        return 0;
    }
    m->data = ksi_malloc((size_t)m->size + 1);
    if (!m->data)
        return nomem(src);
    memcpy(m->data, peek, (size_t)got);
    rest = read_data(a, m->data + got, (size_t)m->size - (size_t)got);
    if (rest < 0) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, file,
               "member %s cannot be read: %s", m->name, archive_why(a));
        rest = 0;
    }
    m->len = (size_t)got + (size_t)rest;
    m->data[m->len] = '\0';
    m->keep = KEEP_DATA;
    t->kept += m->len;
    return 0;
}

/* Notes one archive entry. Returns -1 only when out of memory. */
static int add_member(source *src, const char *file, struct archive *a,
                      struct archive_entry *ae, member_table *t)
{
    const char *raw = archive_entry_pathname(ae);
    const char *hard = archive_entry_hardlink(ae);
    const char *sym = archive_entry_symlink(ae);
    mode_t type = archive_entry_filetype(ae);
    char name[KSI_MAX_PATH];
    member *m;

    if (!raw || normalise(raw, name, sizeof(name)) != 0 || !name[0])
        return 0;
    if (!hard && type != AE_IFREG && !(type == AE_IFLNK && sym))
        return 0;
    if (ksi_grow(&t->items, &t->cap, t->count + 1, sizeof(*t->items)) != 0)
        return nomem(src);
    m = &t->items[t->count];
    memset(m, 0, sizeof(*m));
    m->order = t->count;
    m->name = ksi_strdup(name);
    if (!m->name)
        return nomem(src);
    t->count++;
    if (hard || type == AE_IFLNK) {
        m->link = ksi_strdup(hard ? hard : sym);
        m->symlink = !hard;
        return m->link ? 0 : nomem(src);
    }
    m->size = archive_entry_size(ae) > 0 ? (uint64_t)archive_entry_size(ae)
                                         : 0;
    return keep_json(src, file, a, t, m);
}

/*
 * Reads the archive once, noting every member and keeping JSON ones.
 * Returns 0, or -1 if the archive cannot be opened (reported) or memory
 * ran out. A damaged archive keeps what was read before the damage.
 */
static int read_members(source *src, const char *file, member_table *t)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    int rc = 0;

    if (!a)
        return nomem(src);
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, file, ARCHIVE_BLOCK) != ARCHIVE_OK) {
        report(src, KS_DIAG_ERROR, KS_ERR_IO, file,
               "cannot open as an archive: %s", archive_why(a));
        rc = -1;
        goto done;
    }
    while (rc == 0) {
        int r = archive_read_next_header(a, &ae);

        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_WARN) {
            report(src, KS_DIAG_WARNING, KS_ERR_ARCHIVE, file, "%s",
                   archive_why(a));
        } else if (r != ARCHIVE_OK && t->count == 0) {
            report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, file,
                   "not a tar archive: %s", archive_why(a));
            rc = -1;
            break;
        } else if (r != ARCHIVE_OK) {
            report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, file,
                   "archive is corrupt or truncated: %s", archive_why(a));
            break;
        }
        if (t->count == KSI_MAX_ARCHIVE_MEMBERS) {
            report(src, KS_DIAG_WARNING, KS_WARN_LIMIT, file,
                   "more than %u members; the rest are not read",
                   KSI_MAX_ARCHIVE_MEMBERS);
            break;
        }
        rc = add_member(src, file, a, ae, t);
    }

done:
    archive_read_free(a);
    if (t->count > 1)
        qsort(t->items, t->count, sizeof(*t->items), member_order);
    return rc;
}

/* Loads a kept JSON member by name, as a private NUL-terminated copy. */
static blob_result load_member(const member_table *t, const char *name,
                               size_t limit, unsigned char **out,
                               size_t *len)
{
    const member *m = member_find(t, name);

    if (!m)
        return BLOB_MISSING;
    if (m->keep == KEEP_NOT_JSON)
        return BLOB_NOT_JSON;
    if (m->keep != KEEP_DATA || m->len > limit)
        return BLOB_TOO_BIG;
    *out = ksi_malloc(m->len + 1);
    if (!*out)
        return BLOB_NOMEM;
    memcpy(*out, m->data, m->len + 1);
    *len = m->len;
    return BLOB_OK;
}

/* ---- blob stores -------------------------------------------------------- */

static char *blob_file(const source *src, const char *hex)
{
    if (src->kind == STORE_REGISTRY)
        return strf("%s/blobs/sha256/%.2s/%s/data", src->dir, hex, hex);
    return strf("%s/blobs/sha256/%s", src->dir, hex);
}

/* A registry's answer as a blob result; the reason goes to `why`. */
static blob_result remote_result(ksi_remote_err err)
{
    switch (err) {
    case KSI_REMOTE_OK:
        return BLOB_OK;
    case KSI_REMOTE_NOT_FOUND:
        return BLOB_MISSING;
    case KSI_REMOTE_TOO_BIG:
        return BLOB_TOO_BIG;
    case KSI_REMOTE_NOMEM:
        return BLOB_NOMEM;
    case KSI_REMOTE_AUTH:
    case KSI_REMOTE_FAILED:
        break;
    }
    return BLOB_REMOTE;
}

/*
 * Loads a small blob by the hex of its (already checked) sha256 digest:
 * a manifest or index when `manifest`, else a config. Only a registry
 * keeps the two apart.
 */
static blob_result load_blob(source *src, const char *hex, int manifest,
                             size_t limit, unsigned char **out, size_t *len)
{
    blob_result r;
    char *path;
    int saved;

    if (src->kind == STORE_REMOTE) {
        char digest[80];

        snprintf(digest, sizeof(digest), "sha256:%s", hex);
        return remote_result(ksi_remote_get(src->remote, src->repo, manifest,
                                             digest, limit, out, len, NULL,
                                             src->why, sizeof(src->why)));
    }

    if (src->kind == STORE_ARCHIVE) {
        char name[80];

        snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
        return load_member(src->members, name, limit, out, len);
    }
    path = blob_file(src, hex);
    if (!path)
        return BLOB_NOMEM;
    r = link_below(src->dir, path) ? BLOB_NOT_FILE
                                   : read_file(path, limit, out, len);
    saved = errno;
    ksi_free(path);
    errno = saved;
    return r;
}

/* Sets where a layer's blob is, without reading it. */
static blob_result locate_layer(const source *src, const char *hex,
                                ksi_layer_ref *l)
{
    struct stat sb;
    char *path;

    /* A registry is asked for the layer when it is read. */
    if (src->kind == STORE_REMOTE) {
        (void)hex;
        l->remote = 1;
        return BLOB_OK;
    }

    if (src->kind == STORE_ARCHIVE) {
        char name[80];
        const member *m;

        snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
        m = member_find(src->members, name);
        if (!m)
            return BLOB_MISSING;
        if (!l->size)
            l->size = m->size;
        l->member = ksi_strdup(m->name);
        return l->member ? BLOB_OK : BLOB_NOMEM;
    }
    path = blob_file(src, hex);
    if (!path)
        return BLOB_NOMEM;
    if (lstat(path, &sb) != 0) {
        ksi_free(path);
        return BLOB_MISSING;
    }
    if (!S_ISREG(sb.st_mode) || link_below(src->dir, path)) {
        ksi_free(path);
        return BLOB_NOT_FILE;
    }
    if (!l->size)
        l->size = (uint64_t)sb.st_size;
    l->blob_path = path;
    return BLOB_OK;
}

/*
 * Reports why `what` could not be loaded. A missing blob is a warning when
 * `optional`: copies of one platform of a multi-platform image keep the
 * whole index but only that platform's manifest.
 */
static void report_blob(source *src, const char *where, const char *what,
                        blob_result r, size_t limit, int optional)
{
    switch (r) {
    case BLOB_OK:
        break;
    case BLOB_MISSING:
        if (optional)
            report(src, KS_DIAG_WARNING, KS_WARN_SKIPPED, where,
                   "%s is not stored here; skipped", what);
        else
            report(src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, where,
                   "%s is missing", what);
        break;
    case BLOB_TOO_BIG:
        report(src, KS_DIAG_WARNING, KS_WARN_LIMIT, where,
               "%s is larger than the %zu MiB limit; skipped", what,
               limit >> 20);
        break;
    case BLOB_NOT_FILE:
        report(src, KS_DIAG_ERROR, KS_ERR_IO, where,
               "%s is not a regular file (links are not followed)", what);
        break;
    case BLOB_NOT_JSON:
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, where, "%s is not JSON",
               what);
        break;
    case BLOB_IO:
        report(src, KS_DIAG_ERROR, KS_ERR_IO, where, "%s cannot be read: %s",
               what, strerror(errno));
        break;
    case BLOB_NOMEM:
        nomem(src);
        break;
    case BLOB_REMOTE:
        report(src, KS_DIAG_ERROR, KS_ERR_IO, where, "%s: %s", what,
               src->why);
        break;
    }
}

/*
 * Loads the blob `digest` for `role` ("manifest", "config") and checks that
 * it hashes to its name. A mismatch is a warning and the bytes are used:
 * they are what the image would run with. Returns 0, or -1 (reported).
 */
static int load_checked(source *src, const char *where, const char *role,
                        const desc *d, size_t limit, int optional,
                        unsigned char **out, size_t *len)
{
    const char *hex = digest_hex(d->digest);
    char what[128];
    char actual[DIGEST_SIZE];
    blob_result r;

    if (!hex) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, where,
               "%s digest \"%.80s\" is not a sha256 digest", role,
               d->digest ? d->digest : "");
        return -1;
    }
    snprintf(what, sizeof(what), "%s %s", role, d->digest);
    r = d->size > limit ? BLOB_TOO_BIG
                        : load_blob(src, hex, strcmp(role, "config") != 0,
                                    limit, out, len);
    if (r != BLOB_OK) {
        report_blob(src, where, what, r, limit, optional);
        return -1;
    }
    digest_of(*out, *len, actual);
    if (strcmp(actual, d->digest) != 0)
        report(src, KS_DIAG_WARNING, KS_ERR_ARCHIVE, where,
               "%s hashes to %s; used anyway", what, actual);
    return 0;
}

/* ---- images ------------------------------------------------------------- */

static void layer_free(ksi_layer_ref *l)
{
    ksi_free(l->digest);
    ksi_free(l->media_type);
    ksi_free(l->blob_path);
    ksi_free(l->member);
}

static void image_free(ksi_image *img)
{
    ksi_free(img->reference);
    ksi_free(img->manifest_digest);
    ksi_free(img->platform);
    ksi_free(img->config_digest);
    ksi_free(img->config);
    for (size_t i = 0; i < img->n_layers; i++)
        layer_free(&img->layers[i]);
    ksi_free(img->layers);
    ksi_free(img->repository);
    memset(img, 0, sizeof(*img));
}

void ksi_image_list_free(ksi_image_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        image_free(&list->items[i]);
    ksi_free(list->items);
    memset(list, 0, sizeof(*list));
}

/* Moves a finished image into the list. Returns 0 or -1 (no memory). */
static int push_image(source *src, ksi_image *img)
{
    ksi_image_list *out = src->out;

    if (src->kind == STORE_REMOTE) {
        img->remote = src->remote;
        img->repository = ksi_strdup(src->repo);
        if (!img->repository)
            return nomem(src);
    }

    if (ksi_grow(&out->items, &out->cap, out->count + 1,
                 sizeof(*out->items)) != 0)
        return nomem(src);
    out->items[out->count++] = *img;
    memset(img, 0, sizeof(*img));
    return 0;
}

static int is_foreign(const char *media_type)
{
    return media_type && (strstr(media_type, "nondistributable") ||
                          strstr(media_type, "foreign"));
}

/*
 * Reports a layer whose blob is not where it should be. Foreign layers
 * (Windows base layers) are by design fetched from elsewhere and never
 * stored, so their absence is only a warning. Layers are numbered from 0,
 * the base, as findings number them.
 */
static void report_layer(source *src, const char *where, size_t i,
                         const ksi_layer_ref *l, blob_result r)
{
    if (r == BLOB_MISSING && is_foreign(l->media_type)) {
        report(src, KS_DIAG_WARNING, KS_WARN_SKIPPED, where,
               "layer %zu (%s) is a foreign layer, not stored here; "
               "skipped", i, l->digest);
        return;
    }
    if (r == BLOB_MISSING)
        report(src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, where,
               "layer %zu (%s): blob is missing", i, l->digest);
    else if (r == BLOB_NOT_FILE)
        report(src, KS_DIAG_ERROR, KS_ERR_IO, where,
               "layer %zu (%s): blob is not a regular file (links are not "
               "followed)", i, l->digest);
}

static int set_layer(source *src, const char *where, const json_t *layers,
                     size_t i, ksi_layer_ref *l)
{
    const json_t *d = json_array_get(layers, i);
    const char *type = jstr(d, "mediaType");
    const char *digest = jstr(d, "digest");
    const char *hex = digest_hex(digest);
    blob_result r;

    l->size = jsize(d);
    if (type && !(l->media_type = ksi_strdup(type)))
        return nomem(src);
    if (!hex) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, where,
               "layer %zu has no sha256 digest", i);
        return 0;
    }
    l->digest = ksi_strdup(digest);
    if (!l->digest)
        return nomem(src);
    r = locate_layer(src, hex, l);
    if (r == BLOB_NOMEM)
        return nomem(src);
    report_layer(src, where, i, l, r);
    return 0;
}

/* Allocates the image's layer slots, bounded by KSI_MAX_IMAGE_LAYERS. */
static int alloc_layers(source *src, const char *where, size_t n,
                        ksi_image *img)
{
    if (n > KSI_MAX_IMAGE_LAYERS) {
        report(src, KS_DIAG_WARNING, KS_WARN_LIMIT, where,
               "%zu layers; only the first %u are listed", n,
               KSI_MAX_IMAGE_LAYERS);
        n = KSI_MAX_IMAGE_LAYERS;
    }
    img->layers = ksi_calloc(n, sizeof(*img->layers));
    if (!img->layers)
        return nomem(src);
    img->n_layers = n;
    return 0;
}

static int is_image_config(const char *media_type)
{
    return !media_type || strcmp(media_type, MT_OCI_CONFIG) == 0 ||
           strcmp(media_type, MT_DOCKER_CONFIG) == 0;
}

/*
 * The platform an image runs on: its index entry's if it had one, else
 * what its config says. A config that is not JSON is still scanned as
 * bytes, so it only earns a warning.
 */
static int set_platform(source *src, const char *where, const char *known,
                        ksi_image *img)
{
    json_error_t err;
    json_t *config;

    if (known) {
        img->platform = ksi_strdup(known);
        return img->platform ? 0 : nomem(src);
    }
    config = json_loadb((const char *)img->config, img->config_len, 0, &err);
    if (!config) {
        report(src, KS_DIAG_WARNING, KS_ERR_ARCHIVE, where,
               "config %s is not valid JSON (line %d: %s)",
               img->config_digest, err.line, err.text);
        return 0;
    }
    img->platform = platform_of(src, config);
    json_decref(config);
    return src->status == KS_OK ? 0 : -1;
}

static int wanted_platform(const source *src, const ksi_image *img)
{
    return !src->platform || !img->platform ||
           platform_matches(src->platform, img->platform);
}

/* Turns an image manifest into an image on the list. */
static void add_image(source *src, const char *ref, const desc *d,
                      const json_t *manifest)
{
    const json_t *config = json_object_get(manifest, "config");
    const json_t *layers = json_object_get(manifest, "layers");
    const char *ctype = jstr(config, "mediaType");
    ksi_image img = { 0 };
    desc cd;

    if (!json_is_object(config) || !json_is_array(layers)) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, ref,
               "manifest %s has no config or no layers", d->digest);
        return;
    }
    if (!is_image_config(ctype)) {
        report(src, KS_DIAG_WARNING, KS_WARN_SKIPPED, ref,
               "manifest %s is an artifact of type %.100s, not a container "
               "image; skipped", d->digest, ctype);
        return;
    }
    cd = (desc){ jstr(config, "digest"), ctype, jsize(config), NULL };
    if (load_checked(src, ref, "config", &cd, KSI_MAX_CONFIG_SIZE, 0,
                     &img.config, &img.config_len) != 0)
        goto drop;
    img.config_digest = ksi_strdup(cd.digest);
    img.reference = ksi_strdup(ref);
    img.manifest_digest = ksi_strdup(d->digest);
    if (!img.config_digest || !img.reference || !img.manifest_digest) {
        nomem(src);
        goto drop;
    }
    if (set_platform(src, ref, d->platform, &img) != 0 ||
        !wanted_platform(src, &img))
        goto drop;
    if (alloc_layers(src, ref, json_array_size(layers), &img) != 0)
        goto drop;
    for (size_t i = 0; i < img.n_layers; i++) {
        if (set_layer(src, ref, layers, i, &img.layers[i]))
            goto drop;
    }
    if (push_image(src, &img) == 0)
        return;

drop:
    image_free(&img);
}

/* ---- Docker schema 1 ---------------------------------------------------- */

/* The command of one v1Compatibility step, as Docker's history shows it. */
static json_t *step_command(const json_t *step)
{
    const json_t *cmd = json_object_get(json_object_get(step,
                                                        "container_config"),
                                        "Cmd");
    json_t *line = NULL;
    size_t i;
    json_t *arg;
    char *text = NULL;
    size_t len = 0;

    json_array_foreach(cmd, i, arg) {
        const char *a = json_string_value(arg);
        size_t n = a ? strlen(a) : 0;
        char *grown = ksi_realloc(text, len + n + 2);

        if (!grown) {
            ksi_free(text);
            return NULL;
        }
        text = grown;
        if (len)
            text[len++] = ' ';
        memcpy(text + len, a ? a : "", n);
        len += n;
        text[len] = '\0';
    }
    if (text)
        line = json_stringn(text, len);
    ksi_free(text);
    return line;
}

/*
 * A config rebuilt from a schema 1 manifest's history: the first step's
 * v1Compatibility is the image's own settings (its "config" holds Env,
 * Cmd, Entrypoint and Labels), and each step's container command is what
 * newer images keep as history[].created_by, base first.
 */
static json_t *schema1_config(const json_t *manifest, json_t **top)
{
    const json_t *history = json_object_get(manifest, "history");
    size_t n = json_array_size(history);
    json_t *config = json_object(), *steps = json_array();
    json_error_t err;

    *top = NULL;
    for (size_t i = n; config && steps && i > 0; i--) {
        const char *v1 = jstr(json_array_get(history, i - 1),
                              "v1Compatibility");
        json_t *step = v1 ? json_loads(v1, 0, &err) : NULL;
        json_t *cmd = step ? step_command(step) : NULL;

        if (cmd)
            json_array_append_new(steps, json_pack("{s:o}", "created_by",
                                                   cmd));
        if (i == 1)
            *top = step;
        else
            json_decref(step);
    }
    if (!config || !steps) {
        json_decref(config);
        json_decref(steps);
        return NULL;
    }
    json_object_set_new(config, "history", steps);
    if (*top) {
        json_object_set(config, "config", json_object_get(*top, "config"));
        json_object_set(config, "os", json_object_get(*top, "os"));
    }
    json_object_set(config, "architecture",
                    json_object_get(manifest, "architecture"));
    return config;
}

/*
 * A Docker v2 schema 1 manifest, which registries wrote until 2017 and
 * backups still hold: layers are fsLayers[].blobSum, top layer first, and
 * there is no config blob, so one is rebuilt from the history (above) and
 * named by its own digest.
 */
static void add_schema1_image(source *src, const char *ref, const desc *d,
                              const json_t *manifest)
{
    const json_t *fs = json_object_get(manifest, "fsLayers");
    size_t n = json_array_size(fs);
    json_t *config, *top = NULL, *layers = json_array();
    ksi_image img = { 0 };
    char digest[DIGEST_SIZE];
    char *text = NULL;

    if (!json_is_array(fs) || n == 0) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, ref,
               "schema 1 manifest %s has no fsLayers", d->digest);
        json_decref(layers);
        return;
    }
    config = schema1_config(manifest, &top);
    text = config ? json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    for (size_t i = n; layers && i > 0; i--)
        json_array_append_new(layers, json_pack(
            "{s:o}", "digest", json_deep_copy(json_object_get(
                                   json_array_get(fs, i - 1), "blobSum"))));
    if (!text || !layers) {
        nomem(src);
        goto out;
    }
    img.config_len = strlen(text);
    img.config = ksi_malloc(img.config_len + 1);
    if (img.config)
        memcpy(img.config, text, img.config_len + 1);
    digest_of(text, img.config_len, digest);
    img.config_digest = ksi_strdup(digest);
    img.reference = ksi_strdup(ref);
    img.manifest_digest = ksi_strdup(d->digest);
    if (!img.config || !img.config_digest || !img.reference ||
        !img.manifest_digest) {
        nomem(src);
        goto drop;
    }
    img.platform = d->platform ? ksi_strdup(d->platform)
                               : platform_of(src, config);
    if (src->status != KS_OK || !wanted_platform(src, &img))
        goto drop;
    if (alloc_layers(src, ref, n, &img) != 0)
        goto drop;
    for (size_t i = 0; i < img.n_layers; i++) {
        if (set_layer(src, ref, layers, i, &img.layers[i]))
            goto drop;
    }
    if (push_image(src, &img) == 0)
        goto out;
drop:
    image_free(&img);
out:
    free(text);
    json_decref(top);
    json_decref(config);
    json_decref(layers);
}

/* ---- following descriptors --------------------------------------------- */

static doc_kind classify(const char *desc_type, const json_t *doc,
                         const char **type)
{
    const char *t = jstr(doc, "mediaType");

    *type = t ? t : desc_type;
    t = *type;
    if (!t) {
        if (json_is_array(json_object_get(doc, "manifests")))
            return DOC_INDEX;
        if (json_is_object(json_object_get(doc, "config")))
            return DOC_MANIFEST;
        if (json_integer_value(json_object_get(doc, "schemaVersion")) == 1)
            return DOC_SCHEMA1;
        return DOC_OTHER;
    }
    if (strcmp(t, MT_OCI_INDEX) == 0 || strcmp(t, MT_DOCKER_LIST) == 0)
        return DOC_INDEX;
    if (strcmp(t, MT_OCI_MANIFEST) == 0 || strcmp(t, MT_DOCKER_MANIFEST) == 0)
        return DOC_MANIFEST;
    if (starts_with(t, MT_DOCKER_SCHEMA1))
        return DOC_SCHEMA1;
    return DOC_OTHER;
}

static void follow(source *src, const char *ref, const desc *d,
                   unsigned depth);

/* Reads a descriptor out of an index entry; its platform is allocated. */
static int desc_from_json(source *src, const json_t *entry, desc *d,
                          char **platform)
{
    *platform = platform_of(src, json_object_get(entry, "platform"));
    if (src->status != KS_OK)
        return -1;
    *d = (desc){ jstr(entry, "digest"), jstr(entry, "mediaType"),
                 jsize(entry), *platform };
    return 0;
}

static void follow_entry(source *src, const char *ref, const json_t *entry,
                         unsigned depth)
{
    char *platform = NULL;
    desc d;

    if (is_attestation(entry) ||
        desc_from_json(src, entry, &d, &platform) != 0)
        return;
    if (!d.platform || !src->platform ||
        platform_matches(src->platform, d.platform))
        follow(src, ref, &d, depth);
    ksi_free(platform);
}

static void follow_index(source *src, const char *ref, const desc *d,
                         const json_t *index, unsigned depth)
{
    const json_t *list = json_object_get(index, "manifests");
    const json_t *entry;
    size_t i;

    if (!json_is_array(list)) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, ref,
               "index %s has no manifests list", d->digest);
        return;
    }
    if (depth + 1 > KSI_MAX_INDEX_DEPTH) {
        report(src, KS_DIAG_WARNING, KS_WARN_LIMIT, ref,
               "index %s is nested more than %u deep; skipped", d->digest,
               KSI_MAX_INDEX_DEPTH);
        return;
    }
    json_array_foreach(list, i, entry) {
        if (src->status != KS_OK)
            return;
        follow_entry(src, ref, entry, depth + 1);
    }
}

/* Loads the document a descriptor names and lists the images under it. */
static void follow_doc(source *src, const char *ref, const desc *d,
                       const unsigned char *data, size_t len,
                       unsigned depth);

static void follow(source *src, const char *ref, const desc *d,
                   unsigned depth)
{
    unsigned char *data = NULL;
    size_t len = 0;

    if (++src->followed > KSI_MAX_MANIFESTS_PER_REF) {
        if (src->followed == KSI_MAX_MANIFESTS_PER_REF + 1)
            report(src, KS_DIAG_WARNING, KS_WARN_LIMIT, ref,
                   "more than %u manifests under one tag; the rest are "
                   "skipped", KSI_MAX_MANIFESTS_PER_REF);
        return;
    }
    if (load_checked(src, ref, "manifest", d, KSI_MAX_MANIFEST_SIZE,
                     depth > 0, &data, &len) != 0)
        return;
    follow_doc(src, ref, d, data, len, depth);
    ksi_free(data);
}

/* Lists the images under a manifest or index already in memory. */
static void follow_doc(source *src, const char *ref, const desc *d,
                       const unsigned char *data, size_t len, unsigned depth)
{
    json_t *doc = NULL;
    const char *type;
    char what[128];

    snprintf(what, sizeof(what), "manifest %s", d->digest);
    doc = parse_json(src, ref, what, data, len);
    if (!doc)
        goto done;
    switch (classify(d->media_type, doc, &type)) {
    case DOC_INDEX:
        follow_index(src, ref, d, doc, depth);
        break;
    case DOC_MANIFEST:
        add_image(src, ref, d, doc);
        break;
    case DOC_SCHEMA1:
        add_schema1_image(src, ref, d, doc);
        break;
    case DOC_OTHER:
        report(src, KS_DIAG_WARNING, KS_WARN_SKIPPED, ref,
               "%s has unknown media type %.100s; skipped", what,
               type ? type : "(none)");
        break;
    }

done:
    json_decref(doc);
}

/* ---- OCI layouts -------------------------------------------------------- */

/*
 * Follows one entry of a top-level index (an OCI layout's index.json),
 * named by its ref.name annotation or, untagged, by its digest. Returns 1
 * if the entry was selected by `tag`.
 */
static int top_entry(source *src, const char *prefix, const char *tag,
                     const json_t *entry)
{
    const json_t *ann = json_object_get(entry, "annotations");
    const char *name = jstr(ann, ANN_REF_NAME);
    const char *digest = jstr(entry, "digest");
    char *ref;

    if (is_attestation(entry))
        return 0;
    if (tag && !str_eq(tag, name) && !str_eq(tag, digest))
        return 0;
    if (name)
        ref = strf("%s:%s", prefix, name);
    else
        ref = strf("%s@%s", prefix, digest ? digest : "(no digest)");
    if (!ref) {
        nomem(src);
        return 1;
    }
    src->followed = 0;
    follow_entry(src, ref, entry, 0);
    ksi_free(ref);
    return 1;
}

static void list_top_index(source *src, const char *where,
                           const unsigned char *data, size_t len,
                           const char *prefix, const char *tag)
{
    json_t *index = parse_json(src, where, "index", data, len);
    const json_t *list = json_object_get(index, "manifests");
    const json_t *entry;
    size_t matched = 0;
    size_t i;

    if (!index)
        return;
    if (!json_is_array(list)) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, where,
               "index has no manifests list");
        goto done;
    }
    json_array_foreach(list, i, entry) {
        if (src->status != KS_OK)
            break;
        matched += (size_t)top_entry(src, prefix, tag, entry);
    }
    if (tag && !matched && src->status == KS_OK)
        report(src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, where,
               "no image is tagged %s", tag);

done:
    json_decref(index);
}

/*
 * Sets up a listing. Returns 0, or -1 after reporting a platform filter
 * that is not "os/arch[/variant]": one that could match nothing would
 * otherwise empty the listing without a word.
 */
static int source_init(source *src, store_kind kind, const char *where,
                       const char *platform, ksi_image_list *out,
                       ksi_image_diag_fn diag, void *ctx)
{
    const char *part[3];
    size_t len[3], n;

    memset(src, 0, sizeof(*src));
    src->kind = kind;
    src->platform = platform;
    src->out = out;
    src->diag = diag;
    src->ctx = ctx;
    src->status = KS_OK;
    if (!platform)
        return 0;
    n = platform_parts(platform, part, len);
    if (n >= 2 && len[0] && len[1] && (n == 2 || len[2]) &&
        !strchr(part[n - 1], '/'))
        return 0;
    report(src, KS_DIAG_ERROR, KS_ERR_ARG, where,
           "platform \"%.100s\" is not os/arch or os/arch/variant", platform);
    return -1;
}

ks_status ksi_images_oci(const char *dir, const char *tag,
                         const char *platform, ksi_image_list *out,
                         ksi_image_diag_fn diag, void *ctx)
{
    unsigned char *data = NULL;
    char *name = NULL, *prefix = NULL, *where = NULL;
    size_t len = 0;
    blob_result r;
    source src;

    if (!dir || !out)
        return KS_ERR_ARG;
    if (source_init(&src, STORE_OCI_DIR, dir, platform, out, diag, ctx))
        return KS_ERR_ARG;
    name = trim_slashes(dir);
    prefix = name ? strf("oci:%s", name) : NULL;
    where = name ? strf("%s/index.json", name) : NULL;
    if (!prefix || !where) {
        nomem(&src);
        goto done;
    }
    src.dir = name;
    r = read_file(where, KSI_MAX_INDEX_JSON_SIZE, &data, &len);
    if (r != BLOB_OK) {
        report_blob(&src, where, "index.json", r, KSI_MAX_INDEX_JSON_SIZE,
                    0);
        goto done;
    }
    list_top_index(&src, where, data, len, prefix, tag);

done:
    ksi_free(data);
    ksi_free(where);
    ksi_free(prefix);
    ksi_free(name);
    return src.status;
}

/* ---- registry stores ---------------------------------------------------- */

static int is_store_dir(const char *v2)
{
    char path[KSI_MAX_PATH];

    if ((size_t)snprintf(path, sizeof(path), "%s/repositories", v2) >=
            sizeof(path) || !is_dir(path))
        return 0;
    snprintf(path, sizeof(path), "%s/blobs", v2);
    return is_dir(path);
}

/* The v2 directory of a store, in `out`; 0 if there is one, else -1. */
static int find_v2(const char *root, char *out, size_t cap)
{
    static const char *const under[] = { "/docker/registry/v2", "/v2", "" };

    for (size_t i = 0; i < sizeof(under) / sizeof(under[0]); i++) {
        if ((size_t)snprintf(out, cap, "%s%s", root, under[i]) < cap &&
            is_store_dir(out))
            return 0;
    }
    return -1;
}

/* What one registry listing carries down its walk of repositories. */
typedef struct store_walk {
    source *src;
    const char *root;       /* as the references name it */
    const char *tag;        /* filter, or NULL */
    size_t matched;         /* tags selected */
} store_walk;

/* Reads a tag's link; returns the digest it holds (trimmed) or NULL. */
static char *read_tag_link(store_walk *w, const char *ref, const char *repo,
                           const char *tag)
{
    source *src = w->src;
    unsigned char *data = NULL;
    size_t len = 0;
    blob_result r;
    char *path;

    path = strf("%s/repositories/%s/_manifests/tags/%s/current/link",
                src->dir, repo, tag);
    if (!path) {
        nomem(src);
        return NULL;
    }
    r = link_below(src->dir, path)
            ? BLOB_NOT_FILE
            : read_file(path, KSI_MAX_TAG_LINK_SIZE, &data, &len);
    if (r != BLOB_OK)
        report_blob(src, ref, "tag link", r, KSI_MAX_TAG_LINK_SIZE, 0);
    ksi_free(path);
    while (data && len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '
                               || data[len - 1] == '\r'))
        data[--len] = '\0';
    return (char *)data;
}

static void list_tag(store_walk *w, const char *repo, const char *tag)
{
    source *src = w->src;
    char *ref = strf("registry-store:%s/%s:%s", w->root, repo, tag);
    char *digest = NULL;
    desc d;

    if (!ref) {
        nomem(src);
        return;
    }
    digest = read_tag_link(w, ref, repo, tag);
    if (!digest)
        goto done;
    if (w->tag && !str_eq(w->tag, tag) && !str_eq(w->tag, digest))
        goto done;
    w->matched++;
    if (!digest_hex(digest)) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, ref,
               "tag link holds \"%.80s\", not a sha256 digest", digest);
        goto done;
    }
    d = (desc){ digest, NULL, 0, NULL };
    src->followed = 0;
    follow(src, ref, &d, 0);

done:
    ksi_free(digest);
    ksi_free(ref);
}

static void list_tags(store_walk *w, const char *repo)
{
    source *src = w->src;
    char *dir = strf("%s/repositories/%s/_manifests/tags", src->dir, repo);
    char **names = NULL;
    long n;

    if (!dir) {
        nomem(src);
        return;
    }
    n = list_dir(dir, &names);
    if (n == -2)
        nomem(src);
    /* A repository whose tags were all deleted has no tags directory. */
    for (long i = 0; i < n && src->status == KS_OK; i++) {
        if (w->tag && !starts_with(w->tag, "sha256:") &&
            strcmp(w->tag, names[i]) != 0)
            continue;
        list_tag(w, repo, names[i]);
    }
    if (n > 0)
        free_names(names, (size_t)n);
    ksi_free(dir);
}

static void walk_repos(store_walk *w, const char *repo, unsigned depth);

/* Descends into a child of a repository directory, if it is a directory:
 * names like "team/app/api" nest, and "team/app" may be a repository too. */
static void walk_child(store_walk *w, const char *dir, const char *repo,
                       const char *child, unsigned depth)
{
    source *src = w->src;
    char *path = strf("%s/%s", dir, child);
    char *name = NULL;

    if (!path) {
        nomem(src);
        return;
    }
    if (!is_dir(path))
        goto done;
    name = repo[0] ? strf("%s/%s", repo, child) : ksi_strdup(child);
    if (!name) {
        nomem(src);
        goto done;
    }
    if (depth + 1 > KSI_MAX_REPO_DEPTH)
        report(src, KS_DIAG_WARNING, KS_WARN_LIMIT, path,
               "repository names deeper than %u parts are not listed",
               KSI_MAX_REPO_DEPTH);
    else
        walk_repos(w, name, depth + 1);

done:
    ksi_free(name);
    ksi_free(path);
}

static void walk_repos(store_walk *w, const char *repo, unsigned depth)
{
    source *src = w->src;
    char *dir = strf("%s/repositories%s%s", src->dir, repo[0] ? "/" : "",
                     repo);
    char **names = NULL;
    long n;

    if (!dir) {
        nomem(src);
        return;
    }
    n = list_dir(dir, &names);
    if (n == -1)
        report(src, KS_DIAG_ERROR, KS_ERR_IO, dir, "cannot list: %s",
               strerror(errno));
    if (n == -2)
        nomem(src);
    for (long i = 0; i < n && repo[0]; i++) {
        if (strcmp(names[i], "_manifests") == 0)
            list_tags(w, repo);
    }
    for (long i = 0; i < n && src->status == KS_OK; i++) {
        if (names[i][0] != '_')
            walk_child(w, dir, repo, names[i], depth);
    }
    if (n > 0)
        free_names(names, (size_t)n);
    ksi_free(dir);
}

/* A repository name as the registry allows it: no empty, ".", ".." or
 * "_"-prefixed parts, so it stays inside repositories/. */
static int repo_name_ok(const char *repo)
{
    const char *p = repo;

    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (len == 0 || p[0] == '_' || p[0] == '.')
            return 0;
        p += len;
        if (*p == '/' && !*++p)
            return 0;
    }
    return *repo != '\0';
}

static void list_one_repo(store_walk *w, const char *repo)
{
    source *src = w->src;
    char *dir = strf("%s/repositories/%s/_manifests", src->dir, repo);

    if (!dir) {
        nomem(src);
        return;
    }
    if (is_dir(dir))
        list_tags(w, repo);
    else
        report(src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, w->root,
               "no repository %s in this registry store", repo);
    ksi_free(dir);
}

ks_status ksi_images_registry_store(const char *root, const char *repo,
                                    const char *tag, const char *platform,
                                    ksi_image_list *out,
                                    ksi_image_diag_fn diag, void *ctx)
{
    char v2[KSI_MAX_PATH];
    store_walk w = { 0 };
    char *name = NULL;
    source src;

    if (!root || !out)
        return KS_ERR_ARG;
    if (source_init(&src, STORE_REGISTRY, root, platform, out, diag, ctx))
        return KS_ERR_ARG;
    if (repo && !repo_name_ok(repo)) {
        report(&src, KS_DIAG_ERROR, KS_ERR_ARG, root,
               "\"%.200s\" is not a repository name", repo);
        return KS_ERR_ARG;
    }
    if (find_v2(root, v2, sizeof(v2)) != 0) {
        report(&src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, root,
               "not a registry store: no repositories/ and blobs/ under "
               "docker/registry/v2, v2 or the directory itself");
        return KS_OK;
    }
    name = trim_slashes(root);
    if (!name)
        return KS_ERR_NOMEM;
    src.dir = v2;
    w = (store_walk){ &src, name, tag, 0 };
    if (repo)
        list_one_repo(&w, repo);
    else
        walk_repos(&w, "", 0);
    if (tag && !w.matched && src.status == KS_OK)
        report(&src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, name,
               "no image is tagged %s", tag);
    ksi_free(name);
    return src.status;
}

/* ---- docker save archives ----------------------------------------------- */

/* What one archive listing carries from image to image. */
typedef struct archive_walk {
    source *src;
    const char *file;
    const char *where;          /* "FILE / manifest.json" */
    const char *tag;            /* filter, or NULL */
    json_t *oci_index;          /* the archive's index.json, if any */
} archive_walk;

/* The archive's index.json parsed, or NULL: it only adds detail to what
 * manifest.json says, so its problems are not reported. */
static json_t *quiet_index(const member_table *t)
{
    unsigned char *data = NULL;
    size_t len = 0;
    json_t *doc = NULL;

    if (load_member(t, "index.json", KSI_MAX_INDEX_JSON_SIZE, &data,
                    &len) == BLOB_OK)
        doc = json_loadb((const char *)data, len, 0, NULL);
    ksi_free(data);
    return doc;
}

/* Quietly loads and parses a JSON blob of the archive; NULL if anything
 * is wrong. Used only to add detail that manifest.json lacks. */
static json_t *quiet_blob(archive_walk *aw, const char *digest)
{
    const char *hex = digest_hex(digest);
    unsigned char *data = NULL;
    size_t len = 0;
    json_t *doc = NULL;

    if (hex && load_blob(aw->src, hex, 1, KSI_MAX_MANIFEST_SIZE, &data,
                         &len) == BLOB_OK)
        doc = json_loadb((const char *)data, len, 0, NULL);
    ksi_free(data);
    return doc;
}

/*
 * In the newer `docker save` form the archive also holds the OCI manifest
 * of each image. Finds the one whose config is `config_digest` under
 * `index`, with its digest in `digest`; NULL when there is none.
 */
static json_t *find_manifest(archive_walk *aw, const json_t *index,
                             const char *config_digest, unsigned depth,
                             char digest[DIGEST_SIZE])
{
    const json_t *entry;
    size_t i;

    json_array_foreach(json_object_get(index, "manifests"), i, entry) {
        const char *d = jstr(entry, "digest");
        json_t *doc = quiet_blob(aw, d);
        json_t *found = NULL;
        const char *type;

        if (!doc)
            continue;
        switch (classify(jstr(entry, "mediaType"), doc, &type)) {
        case DOC_INDEX:
            if (depth < KSI_MAX_INDEX_DEPTH)
                found = find_manifest(aw, doc, config_digest, depth + 1,
                                      digest);
            break;
        case DOC_MANIFEST:
            if (str_eq(jstr(json_object_get(doc, "config"), "digest"),
                       config_digest)) {
                snprintf(digest, DIGEST_SIZE, "%s", d);
                found = json_incref(doc);
            }
            break;
        default:
            break;
        }
        json_decref(doc);
        if (found)
            return found;
    }
    return NULL;
}

/* The hex digest in a member name "blobs/sha256/<hex>", into `hex`. */
static int blob_name_hex(const char *name, char hex[65])
{
    char norm[KSI_MAX_PATH];
    const char *p = norm + strlen("blobs/sha256/");

    if (normalise(name, norm, sizeof(norm)) != 0 ||
        !starts_with(norm, "blobs/sha256/") || strlen(p) != 64 ||
        !is_lower_hex(p, 64))
        return 0;
    memcpy(hex, p, 65);
    return 1;
}

/* The digest a config's member name states ("blobs/sha256/<hex>" or the
 * classic "<hex>.json"), into `hex`, for checking the bytes against. */
static int config_name_hex(const char *name, char hex[65])
{
    const char *base = strrchr(name, '/');

    if (blob_name_hex(name, hex))
        return 1;
    base = base ? base + 1 : name;
    if (strlen(base) != 64 + 5 || strcmp(base + 64, ".json") != 0 ||
        !is_lower_hex(base, 64))
        return 0;
    memcpy(hex, base, 64);
    hex[64] = '\0';
    return 1;
}

static int docker_config(archive_walk *aw, size_t i, const char *name,
                         ksi_image *img)
{
    source *src = aw->src;
    char what[KSI_MAX_PATH + 64];
    char actual[DIGEST_SIZE];
    char hex[65];
    blob_result r;

    r = load_member(src->members, name, KSI_MAX_CONFIG_SIZE, &img->config,
                    &img->config_len);
    if (r != BLOB_OK) {
        snprintf(what, sizeof(what), "config %s of image %zu", name, i + 1);
        report_blob(src, aw->where, what, r, KSI_MAX_CONFIG_SIZE, 0);
        return -1;
    }
    digest_of(img->config, img->config_len, actual);
    if (config_name_hex(name, hex) && strcmp(actual + 7, hex) != 0)
        report(src, KS_DIAG_WARNING, KS_ERR_ARCHIVE, aw->where,
               "config %s of image %zu hashes to %s; used anyway", name,
               i + 1, actual);
    img->config_digest = ksi_strdup(actual);
    return img->config_digest ? 0 : nomem(src);
}

/* The tag to name an image by: the one asked for, else its first. */
static const char *pick_tag(const json_t *tags, const char *want)
{
    const json_t *t;
    size_t i;

    json_array_foreach(tags, i, t) {
        const char *s = json_string_value(t);

        if (s && (!want || strcmp(s, want) == 0))
            return s;
    }
    return NULL;
}

/* What manifest.json and the archive say about one image's layers. */
typedef struct docker_layers {
    const json_t *names;        /* manifest.json's Layers */
    const json_t *sources;      /* its LayerSources, for foreign layers */
    const json_t *diff_ids;     /* the config's, if one per layer */
    const json_t *oci_layers;   /* the OCI manifest's, if one per layer */
} docker_layers;

/*
 * The digest a layer member must hash to. The OCI manifest says it when
 * the archive has one; a "blobs/sha256/<hex>" member is named by it; a
 * classic "<id>/layer.tar" is the uncompressed layer, so its diff_id.
 */
static char *docker_layer_digest(const docker_layers *dl, size_t i,
                                 const char *name)
{
    const char *d = jstr(json_array_get(dl->oci_layers, i), "digest");
    char hex[65];

    if (d)
        return ksi_strdup(d);
    if (blob_name_hex(name, hex))
        return strf("sha256:%s", hex);
    d = json_string_value(json_array_get(dl->diff_ids, i));
    return ksi_strdup(d ? d : "");
}

static int docker_layer(archive_walk *aw, const char *ref,
                        const docker_layers *dl, size_t i, ksi_layer_ref *l)
{
    source *src = aw->src;
    const json_t *oci = json_array_get(dl->oci_layers, i);
    const char *name = json_string_value(json_array_get(dl->names, i));
    const char *type = jstr(oci, "mediaType");
    const member *m;

    if (!name) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, ref,
               "layer %zu has no member name", i);
        return 0;
    }
    l->digest = docker_layer_digest(dl, i, name);
    l->media_type = type ? ksi_strdup(type) : NULL;
    if (!l->digest || (type && !l->media_type))
        return nomem(src);
    if (!l->digest[0]) {
        ksi_free(l->digest);
        l->digest = NULL;
    }
    m = member_find(src->members, name);
    if (m) {
        l->size = jsize(oci) ? jsize(oci) : m->size;
        l->member = ksi_strdup(m->name);
        return l->member ? 0 : nomem(src);
    }
    if (l->digest && json_object_get(dl->sources, l->digest))
        report(src, KS_DIAG_WARNING, KS_WARN_SKIPPED, ref,
               "layer %zu (%s) is a foreign layer, not stored here; "
               "skipped", i, l->digest);
    else
        report(src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, ref,
               "layer %zu: member %s is missing from the archive", i, name);
    return 0;
}

/* Names an image: by the tag chosen, else by its manifest digest. */
static int docker_identity(archive_walk *aw, const char *tag,
                           const char *manifest_digest, ksi_image *img)
{
    const char *digest = manifest_digest[0] ? manifest_digest
                                            : img->config_digest;

    img->manifest_digest = ksi_strdup(digest);
    if (tag)
        img->reference = strf("docker-archive:%s:%s", aw->file, tag);
    else
        img->reference = strf("docker-archive:%s@%s", aw->file, digest);
    if (!img->manifest_digest || !img->reference)
        return nomem(aw->src);
    return 0;
}

static int docker_layers_of(archive_walk *aw, const json_t *entry,
                            const json_t *config, const json_t *manifest,
                            ksi_image *img)
{
    const json_t *names = json_object_get(entry, "Layers");
    const json_t *ids =
        json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    const json_t *oci = json_object_get(manifest, "layers");
    size_t n = json_array_size(names);
    docker_layers dl = { names, json_object_get(entry, "LayerSources"),
                         json_array_size(ids) == n ? ids : NULL,
                         json_array_size(oci) == n ? oci : NULL };

    if (alloc_layers(aw->src, img->reference, n, img) != 0)
        return -1;
    for (size_t i = 0; i < img->n_layers; i++) {
        if (docker_layer(aw, img->reference, &dl, i, &img->layers[i]))
            return -1;
    }
    return 0;
}

/*
 * Lists one entry of manifest.json: its config, then the OCI manifest the
 * newer form keeps for it (for digests and media types), then its layers.
 * Returns 1 if `tag` selected the entry.
 */
static int docker_entry(archive_walk *aw, size_t i, const json_t *entry)
{
    source *src = aw->src;
    const json_t *tags = json_object_get(entry, "RepoTags");
    char manifest_digest[DIGEST_SIZE] = "";
    json_t *manifest = NULL, *config = NULL;
    ksi_image img = { 0 };
    const char *tag;
    int selected = 0;

    if (!jstr(entry, "Config") ||
        !json_is_array(json_object_get(entry, "Layers"))) {
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, aw->where,
               "image %zu has no Config or no Layers", i + 1);
        return 0;
    }
    if (docker_config(aw, i, jstr(entry, "Config"), &img) != 0)
        goto done;
    manifest = find_manifest(aw, aw->oci_index, img.config_digest, 0,
                             manifest_digest);
    tag = pick_tag(tags, aw->tag);
    selected = !aw->tag || tag || str_eq(aw->tag, img.config_digest) ||
               str_eq(aw->tag, manifest_digest);
    if (!selected)
        goto done;
    if (docker_identity(aw, tag ? tag : pick_tag(tags, NULL),
                        manifest_digest, &img) != 0 ||
        set_platform(src, img.reference, NULL, &img) != 0 ||
        !wanted_platform(src, &img))
        goto done;
    config = json_loadb((const char *)img.config, img.config_len, 0, NULL);
    if (docker_layers_of(aw, entry, config, manifest, &img) == 0)
        push_image(src, &img);

done:
    json_decref(config);
    json_decref(manifest);
    image_free(&img);
    return selected;
}

static void list_docker(archive_walk *aw)
{
    source *src = aw->src;
    unsigned char *data = NULL;
    json_t *list = NULL;
    const json_t *entry;
    size_t len = 0, matched = 0, i;
    blob_result r;

    r = load_member(src->members, "manifest.json", KSI_MAX_INDEX_JSON_SIZE,
                    &data, &len);
    if (r != BLOB_OK) {
        report_blob(src, aw->where, "manifest.json", r,
                    KSI_MAX_INDEX_JSON_SIZE, 0);
        return;
    }
    list = parse_json(src, aw->where, "manifest.json", data, len);
    if (list && !json_is_array(list))
        report(src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, aw->where,
               "manifest.json is not a list of images");
    json_array_foreach(list, i, entry) {
        if (src->status != KS_OK)
            break;
        matched += (size_t)docker_entry(aw, i, entry);
    }
    if (list && aw->tag && !matched && src->status == KS_OK)
        report(src, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, aw->where,
               "no image is tagged %s", aw->tag);
    json_decref(list);
    ksi_free(data);
}

/* A tar of an OCI layout: the layout's own walk, over archive members. */
static void list_oci_archive(source *src, const char *file, const char *tag)
{
    unsigned char *data = NULL;
    char *where = strf("%s / index.json", file);
    char *prefix = strf("oci-archive:%s", file);
    size_t len = 0;
    blob_result r;

    if (!where || !prefix) {
        nomem(src);
        goto done;
    }
    r = load_member(src->members, "index.json", KSI_MAX_INDEX_JSON_SIZE,
                    &data, &len);
    if (r != BLOB_OK)
        report_blob(src, where, "index.json", r, KSI_MAX_INDEX_JSON_SIZE, 0);
    else
        list_top_index(src, where, data, len, prefix, tag);

done:
    ksi_free(data);
    ksi_free(prefix);
    ksi_free(where);
}

ks_status ksi_images_docker_archive(const char *file, const char *tag,
                                    const char *platform,
                                    ksi_image_list *out,
                                    ksi_image_diag_fn diag, void *ctx)
{
    member_table t = { 0 };
    archive_walk aw = { 0 };
    char *where = NULL;
    source src;

    if (!file || !out)
        return KS_ERR_ARG;
    if (source_init(&src, STORE_ARCHIVE, file, platform, out, diag, ctx))
        return KS_ERR_ARG;
    src.members = &t;
    if (read_members(&src, file, &t) != 0)
        goto done;
    if (!member_get(&t, "manifest.json")) {
        if (member_get(&t, "index.json"))
            list_oci_archive(&src, file, tag);
        else
            report(&src, KS_DIAG_ERROR, KS_ERR_ARCHIVE, file,
                   "not an image archive: no manifest.json or index.json "
                   "at its top");
        goto done;
    }
    where = strf("%s / manifest.json", file);
    if (!where) {
        nomem(&src);
        goto done;
    }
    aw = (archive_walk){ &src, file, where, tag, NULL };
    aw.oci_index = quiet_index(&t);
    list_docker(&aw);
    json_decref(aw.oci_index);

done:
    ksi_free(where);
    members_free(&t);
    return src.status;
}

/* ---- detection ---------------------------------------------------------- */

/*
 * Whether an image archive could hold a member of this name: top-level
 * files, blobs/..., and the classic "<64 hex>/<file>" layer directories.
 */
static int image_member_name(const char *name)
{
    const char *slash = strchr(name, '/');

    if (!slash || starts_with(name, "blobs/") || strcmp(name, "blobs") == 0)
        return 1;
    return slash - name == 64 && is_lower_hex(name, 64) &&
           !strchr(slash + 1, '/');
}

static ksi_image_kind detect_archive(const char *path)
{
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    char name[KSI_MAX_PATH];
    int layout = 0, index = 0, manifest = 0;

    if (!a)
        return KSI_IMAGE_NONE;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, ARCHIVE_BLOCK) != ARCHIVE_OK)
        goto done;
    for (size_t n = 0; n < KSI_MAX_ARCHIVE_MEMBERS && !manifest; n++) {
        int r = archive_read_next_header(a, &ae);
        const char *raw;

        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            break;
        raw = archive_entry_pathname(ae);
        if (!raw || normalise(raw, name, sizeof(name)) != 0)
            break;
        manifest = strcmp(name, "manifest.json") == 0;
        layout |= strcmp(name, "oci-layout") == 0;
        index |= strcmp(name, "index.json") == 0;
        if (name[0] && !image_member_name(name))
            break;
    }

done:
    archive_read_free(a);
    if (manifest)
        return KSI_IMAGE_DOCKER_ARCHIVE;
    return layout && index ? KSI_IMAGE_OCI_ARCHIVE : KSI_IMAGE_NONE;
}

static ksi_image_kind detect_dir(const char *path)
{
    char a[KSI_MAX_PATH], b[KSI_MAX_PATH];

    if ((size_t)snprintf(a, sizeof(a), "%s/oci-layout", path) < sizeof(a) &&
        is_file(a))
        return KSI_IMAGE_OCI_DIR;
    snprintf(a, sizeof(a), "%s/index.json", path);
    snprintf(b, sizeof(b), "%s/blobs", path);
    if (is_file(a) && is_dir(b))
        return KSI_IMAGE_OCI_DIR;
    if (find_v2(path, a, sizeof(a)) == 0)
        return KSI_IMAGE_REGISTRY_STORE;
    return KSI_IMAGE_NONE;
}

ksi_image_kind ksi_image_detect(const char *path)
{
    struct stat sb;

    if (!path || stat(path, &sb) != 0)
        return KSI_IMAGE_NONE;
    if (S_ISDIR(sb.st_mode))
        return detect_dir(path);
    if (S_ISREG(sb.st_mode))
        return detect_archive(path);
    return KSI_IMAGE_NONE;
}

/* ---- registries over HTTP ----------------------------------------------- */

/* One tag (or digest) of a repository: resolve it, list its images. */
static void list_remote_ref(source *src, const char *name, const char *repo,
                            const char *tag, const char *digest)
{
    char *ref = digest ? strf("docker://%s/%s@%s", name, repo, digest)
                       : strf("docker://%s/%s:%s", name, repo, tag);
    unsigned char *body = NULL;
    char *header = NULL;
    char computed[DIGEST_SIZE];
    size_t len = 0;
    ksi_remote_err err;
    desc d;

    if (!ref) {
        nomem(src);
        return;
    }
    src->repo = repo;
    src->followed = 0;
    if (digest) {
        d = (desc){ digest, NULL, 0, NULL };
        follow(src, ref, &d, 0);
        goto done;
    }
    err = ksi_remote_get(src->remote, repo, 1, tag, KSI_MAX_MANIFEST_SIZE,
                         &body, &len, &header, src->why, sizeof(src->why));
    if (err != KSI_REMOTE_OK) {
        if (err == KSI_REMOTE_NOMEM)
            nomem(src);
        else
            report(src, KS_DIAG_ERROR, err == KSI_REMOTE_NOT_FOUND
                                           ? KS_ERR_NOT_FOUND
                                           : KS_ERR_IO,
                   ref, "%s", err == KSI_REMOTE_NOT_FOUND
                                  ? "no such repository or tag"
                                  : src->why);
        goto done;
    }
    /* A signed schema 1 manifest's digest is of its unsigned payload,
     * which only the registry's header names. */
    digest_of(body, len, computed);
    d = (desc){ header && digest_hex(header) ? header : computed, NULL, 0,
                NULL };
    follow_doc(src, ref, &d, body, len, 0);
done:
    ksi_free(body);
    ksi_free(header);
    ksi_free(ref);
}

static void list_remote_repo(source *src, const char *name, const char *repo)
{
    char **tags = NULL;
    size_t n = 0;
    ksi_remote_err err = ksi_remote_tags(src->remote, repo, &tags, &n,
                                         src->why, sizeof(src->why));
    char *where = strf("docker://%s/%s", name, repo);

    if (!where) {
        ksi_remote_strings_free(tags, n);
        nomem(src);
        return;
    }
    if (err != KSI_REMOTE_OK)
        report(src, KS_DIAG_ERROR, KS_ERR_IO, where,
               "cannot list its tags: %s", src->why);
    for (size_t i = 0; i < n && src->status == KS_OK; i++)
        list_remote_ref(src, name, repo, tags[i], NULL);
    ksi_remote_strings_free(tags, n);
    ksi_free(where);
}

ks_status ksi_images_remote(struct ksi_remote *remote, const char *name,
                            const char *repo, const char *tag,
                            const char *digest, const char *platform,
                            ksi_image_list *out, ksi_image_diag_fn diag,
                            void *ctx)
{
    char **repos = NULL;
    size_t n = 0;
    char *where;
    source src;

    if (!remote || !name || !out)
        return KS_ERR_ARG;
    if (source_init(&src, STORE_REMOTE, name, platform, out, diag, ctx))
        return KS_ERR_ARG;
    src.remote = remote;
    if (repo) {
        if (tag || digest)
            list_remote_ref(&src, name, repo, tag, digest);
        else
            list_remote_repo(&src, name, repo);
        return src.status;
    }
    where = strf("docker://%s", name);
    if (!where)
        return KS_ERR_NOMEM;
    if (ksi_remote_catalog(remote, &repos, &n, src.why, sizeof(src.why)) !=
        KSI_REMOTE_OK)
        report(&src, KS_DIAG_ERROR, KS_ERR_IO, where,
               "cannot list the registry's repositories: %s", src.why);
    for (size_t i = 0; i < n && src.status == KS_OK; i++)
        list_remote_repo(&src, name, repos[i]);
    ksi_remote_strings_free(repos, n);
    ksi_free(where);
    return src.status;
}
