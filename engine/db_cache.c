/*
 * db_cache.c - on-disk cache of compiled databases.
 *
 * A cache file holds a magic line, then for each of the block and stream
 * databases its length (8 bytes, little-endian) and Hyperscan's serialized
 * form, then the rule count and one 8-byte record per rule, then the
 * SHA-256 of that count and those records. The key names everything that
 * shapes the compiled database (see ruleset.c), and Hyperscan itself
 * refuses a database built by another version or for another CPU, or whose
 * bytes fail its own checksum; the digest at the end does the same for the
 * rule records, which Hyperscan knows nothing of. Any refusal means the
 * rules are compiled again and the file replaced.
 *
 * Writers never share a file: each writes a temporary file of its own
 * (mkstemp) and renames it over the entry, so two runs racing to fill the
 * cache leave one whole file, and a reader sees the old file or the new
 * one, never a mix.
 */
#include "db_cache.h"

#include "alloc.h"
#include "input_limits.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char magic[8] = "KSDB003\n";

/* Databases larger than this are not cached (nor trusted on load). */
#define MAX_DB_BYTES (256u << 20)

static int read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    size_t put = 0;

    while (put < len) {
        ssize_t n = write(fd, (const char *)buf + put, len - put);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        put += (size_t)n;
    }
    return 0;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static hs_database_t *load_one(int fd)
{
    unsigned char lenbuf[8];
    uint64_t len;
    char *bytes;
    hs_database_t *db = NULL;

    if (read_all(fd, lenbuf, sizeof(lenbuf)))
        return NULL;
    len = get_le64(lenbuf);
    if (len == 0 || len > MAX_DB_BYTES)
        return NULL;
    bytes = ksi_malloc((size_t)len);
    if (bytes && read_all(fd, bytes, (size_t)len) == 0 &&
        hs_deserialize_database(bytes, (size_t)len, &db) != HS_SUCCESS)
        db = NULL;
    ksi_free(bytes);
    return db;
}

static int path_for(const char *dir, const char *key, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s.hsdb", dir, key);

    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Bytes of the rule records: the count, then 8 bytes per rule. */
static size_t meta_bytes(size_t n)
{
    return 8 + 8 * n;
}

static void digest_of(const unsigned char *bytes, size_t len,
                      unsigned char out[32])
{
    ksi_sha256 ctx;

    ksi_sha256_init(&ctx);
    ksi_sha256_update(&ctx, bytes, len);
    ksi_sha256_final(&ctx, out);
}

static int load_meta(int fd, ksi_rule_meta *meta, size_t n)
{
    size_t len = meta_bytes(n);
    unsigned char *rec = ksi_malloc(len + 32);
    unsigned char want[32];
    int rc = -1;

    if (!rec)
        return -1;
    if (read_all(fd, rec, len + 32) || get_le64(rec) != n)
        goto out;
    digest_of(rec, len, want);
    if (memcmp(want, rec + len, sizeof(want)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        meta[i].hs_flags = get_le32(rec + 8 + 8 * i);
        meta[i].lookback = get_le32(rec + 12 + 8 * i);
    }
    rc = 0;
out:
    ksi_free(rec);
    return rc;
}

static int store_meta(int fd, const ksi_rule_meta *meta, size_t n)
{
    size_t len = meta_bytes(n);
    unsigned char *rec = ksi_malloc(len + 32);
    int rc;

    if (!rec)
        return -1;
    put_le64(rec, n);
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 4; b++) {
            rec[8 + 8 * i + b] = (unsigned char)(meta[i].hs_flags >> (8 * b));
            rec[12 + 8 * i + b] =
                (unsigned char)(meta[i].lookback >> (8 * b));
        }
    }
    digest_of(rec, len, rec + len);
    rc = write_all(fd, rec, len + 32);
    ksi_free(rec);
    return rc;
}

int ksi_db_cache_load(const char *dir, const char *key,
                      hs_database_t **block, hs_database_t **stream,
                      ksi_rule_meta *meta, size_t n)
{
    char path[KSI_MAX_PATH], head[sizeof(magic)];
    int fd;

    if (!dir || path_for(dir, key, path, sizeof(path)))
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    *block = NULL;
    *stream = NULL;
    if (read_all(fd, head, sizeof(head)) == 0 &&
        memcmp(head, magic, sizeof(magic)) == 0) {
        *block = load_one(fd);
        *stream = *block ? load_one(fd) : NULL;
        if (*stream && load_meta(fd, meta, n) != 0) {
            hs_free_database(*stream);
            *stream = NULL;
        }
    }
    close(fd);
    if (*block && *stream)
        return 0;
    hs_free_database(*block);
    hs_free_database(*stream);
    *block = NULL;
    *stream = NULL;
    return -1;
}

static int store_one(int fd, const hs_database_t *db)
{
    char *bytes = NULL;
    size_t len = 0;
    unsigned char lenbuf[8];
    int rc;

    if (hs_serialize_database(db, &bytes, &len) != HS_SUCCESS)
        return -1;
    put_le64(lenbuf, len);
    rc = len <= MAX_DB_BYTES && write_all(fd, lenbuf, sizeof(lenbuf)) == 0 &&
                 write_all(fd, bytes, len) == 0
             ? 0
             : -1;
    ksi_free(bytes);
    return rc;
}

/* Creates `dir` and its parents, private to the user. */
static int make_dirs(const char *dir)
{
    char buf[KSI_MAX_PATH];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, dir, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

void ksi_db_cache_store(const char *dir, const char *key,
                        const hs_database_t *block,
                        const hs_database_t *stream,
                        const ksi_rule_meta *meta, size_t n)
{
    char path[KSI_MAX_PATH], tmp[KSI_MAX_PATH + 32];
    int fd, ok;

    if (!dir || path_for(dir, key, path, sizeof(path)) || make_dirs(dir))
        return;
    /* A name of its own even when racing runs share a PID (containers). */
    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return;
    ok = write_all(fd, magic, sizeof(magic)) == 0 &&
         store_one(fd, block) == 0 && store_one(fd, stream) == 0 &&
         store_meta(fd, meta, n) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}
