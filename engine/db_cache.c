/*
 * db_cache.c - on-disk cache of compiled databases.
 *
 * A cache file holds a magic line, then for each of the block and stream
 * databases its length (8 bytes, little-endian) and Hyperscan's serialized
 * form. The key names everything that shapes the compiled database (see
 * ruleset.c), and Hyperscan itself refuses a database built by another
 * version or for another CPU, in which case the rules are compiled again.
 */
#include "db_cache.h"

#include "alloc.h"
#include "input_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char magic[8] = "KSDB002\n";

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

static hs_database_t *load_one(int fd)
{
    unsigned char lenbuf[8];
    uint64_t len = 0;
    char *bytes;
    hs_database_t *db = NULL;

    if (read_all(fd, lenbuf, sizeof(lenbuf)))
        return NULL;
    for (int i = 7; i >= 0; i--)
        len = len << 8 | lenbuf[i];
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

static int load_meta(int fd, ksi_rule_meta *meta, size_t n)
{
    unsigned char rec[8];
    uint64_t count = 0;

    if (read_all(fd, rec, sizeof(rec)))
        return -1;
    for (int i = 7; i >= 0; i--)
        count = count << 8 | rec[i];
    if (count != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (read_all(fd, rec, sizeof(rec)))
            return -1;
        meta[i].hs_flags = (uint32_t)rec[0] | (uint32_t)rec[1] << 8 |
                           (uint32_t)rec[2] << 16 | (uint32_t)rec[3] << 24;
        meta[i].lookback = (uint32_t)rec[4] | (uint32_t)rec[5] << 8 |
                           (uint32_t)rec[6] << 16 | (uint32_t)rec[7] << 24;
    }
    return 0;
}

static int store_meta(int fd, const ksi_rule_meta *meta, size_t n)
{
    unsigned char rec[8];

    for (int i = 0; i < 8; i++)
        rec[i] = (unsigned char)((uint64_t)n >> (8 * i));
    if (write_all(fd, rec, sizeof(rec)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 4; b++) {
            rec[b] = (unsigned char)(meta[i].hs_flags >> (8 * b));
            rec[4 + b] = (unsigned char)(meta[i].lookback >> (8 * b));
        }
        if (write_all(fd, rec, sizeof(rec)))
            return -1;
    }
    return 0;
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
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (unsigned char)((uint64_t)len >> (8 * i));
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
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    ok = write_all(fd, magic, sizeof(magic)) == 0 &&
         store_one(fd, block) == 0 && store_one(fd, stream) == 0 &&
         store_meta(fd, meta, n) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        unlink(tmp);
}
