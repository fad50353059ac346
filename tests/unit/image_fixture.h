/*
 * image_fixture.h - building container image sources on disk for the
 * engine's image tests: directories, blobs stored under their own sha256
 * as OCI layouts and registry stores keep them, index files, and tar
 * archives written with libarchive.
 */
#ifndef KEYSIFT_IMAGE_FIXTURE_H
#define KEYSIFT_IMAGE_FIXTURE_H

#include "unit.h"

#include "sha256.h"

#include <archive.h>
#include <archive_entry.h>

#define OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define BIG 8192

static inline void mkdirs(const char *path)
{
    char buf[1024];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", buf, strerror(errno));
}

static inline void write_text(const char *path, const char *text)
{
    unit_write_file(path, text, strlen(text));
}

static inline void sha_hex(const void *data, size_t len, char hex[65])
{
    unsigned char sum[32];
    ksi_sha256 ctx;

    ksi_sha256_init(&ctx);
    ksi_sha256_update(&ctx, data, len);
    ksi_sha256_final(&ctx, sum);
    ksi_hex(sum, sizeof(sum), hex);
}

typedef enum store { OCI, REGISTRY } store;

/* Where a store keeps the blob `hex`: an OCI layout or a registry's v2. */
static inline void blob_path(store kind, const char *root, const char *hex,
                      char *out, size_t cap)
{
    if (kind == REGISTRY)
        snprintf(out, cap, "%s/blobs/sha256/%.2s/%s/data", root, hex, hex);
    else
        snprintf(out, cap, "%s/blobs/sha256/%s", root, hex);
}

/* Stores `text` under its own digest, which goes to `digest`. */
static inline void put_blob(store kind, const char *root, const char *text,
                     char digest[72])
{
    char hex[65], path[1024];

    sha_hex(text, strlen(text), hex);
    blob_path(kind, root, hex, path, sizeof(path));
    *strrchr(path, '/') = '\0';
    mkdirs(path);
    blob_path(kind, root, hex, path, sizeof(path));
    write_text(path, text);
    snprintf(digest, 72, "sha256:%s", hex);
}

/* One descriptor of an index, with optional platform and tag. */
static inline void entry_json(char *out, size_t cap, const char *type,
                       const char *digest, size_t size, const char *platform,
                       const char *ref_name)
{
    char plat[160] = "", ann[200] = "";

    if (platform)
        snprintf(plat, sizeof(plat), ",\"platform\":%s", platform);
    if (ref_name)
        snprintf(ann, sizeof(ann),
                 ",\"annotations\":{\"org.opencontainers.image.ref.name\":"
                 "\"%s\"}", ref_name);
    snprintf(out, cap, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu"
             "%s%s}", type, digest, size, plat, ann);
}

static inline void write_index(const char *dir, const char *entries)
{
    char path[1024], text[BIG];

    snprintf(path, sizeof(path), "%s/oci-layout", dir);
    write_text(path, "{\"imageLayoutVersion\":\"1.0.0\"}");
    snprintf(text, sizeof(text),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s]}",
             OCI_INDEX, entries);
    snprintf(path, sizeof(path), "%s/index.json", dir);
    write_text(path, text);
}

typedef struct tar_member {
    const char *name;
    const char *data;       /* a regular file's bytes */
    const char *symlink;    /* or a symbolic link's target */
} tar_member;

/* Writes one regular file of `len` bytes, mode `perm`, to an archive. */
static inline void put_member(struct archive *a, const char *name,
                              const void *data, size_t len, int perm)
{
    struct archive_entry *e = archive_entry_new();

    assert_non_null(e);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, (la_int64_t)len);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    if (len)
        assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static inline void write_tar(const char *path, const tar_member *m, size_t n,
                      int gzip)
{
    struct archive *a = archive_write_new();

    assert_non_null(a);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (gzip)
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e;

        if (!m[i].symlink) {
            put_member(a, m[i].name, m[i].data,
                       m[i].data ? strlen(m[i].data) : 0, 0644);
            continue;
        }
        e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, m[i].symlink);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}


/* Reads a whole file the test made; *len gets its size. */
static inline char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = unit_xmalloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/*
 * Writes a tar (gzip-compressed when asked) of the members and stores it
 * as a blob; its digest goes to `digest`, its stored size to *size.
 */
static inline void put_tar_blob(store kind, const char *root,
                                const tar_member *m, size_t n, int gzip,
                                char digest[72], size_t *size)
{
    char tmp[1024], hex[65], path[1024];
    size_t len;
    char *bytes;

    snprintf(tmp, sizeof(tmp), "%s/layer.tmp", root);
    write_tar(tmp, m, n, gzip);
    bytes = read_all(tmp, &len);
    unlink(tmp);
    sha_hex(bytes, len, hex);
    blob_path(kind, root, hex, path, sizeof(path));
    *strrchr(path, '/') = '\0';
    mkdirs(path);
    blob_path(kind, root, hex, path, sizeof(path));
    unit_write_file(path, bytes, len);
    free(bytes);
    snprintf(digest, 72, "sha256:%s", hex);
    *size = len;
}

#endif
