/*
 * reader.c - turns an open file, a pipe or standard input into entries.
 *
 * The first bytes decide what a stream is: a tar archive, a compressed
 * stream (gzip, zstd, xz, bzip2, lz4), or plain bytes. Archives and
 * compressed streams are read with libarchive straight from the descriptor,
 * never extracted. The bytes already peeked at are handed back to libarchive
 * first, so pipes work as well as files.
 */
#include "scan.h"

#include "alloc.h"
#include "input_limits.h"

#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Enough to see a tar header's "ustar" magic at offset 257. */
#define PEEK_SIZE 512

/* Bytes libarchive asks for at a time. */
#define ARCHIVE_READ_SIZE (256u << 10)

typedef enum stream_kind { KIND_PLAIN, KIND_ARCHIVE } stream_kind;

static stream_kind detect(const unsigned char *p, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
    } compressed[] = {
        { "\x1f\x8b", 2 },                  /* gzip */
        { "\x28\xb5\x2f\xfd", 4 },          /* zstd */
        { "\xfd\x37\x7a\x58\x5a\x00", 6 },  /* xz */
        { "\x04\x22\x4d\x18", 4 },          /* lz4 */
    };

    for (size_t i = 0; i < sizeof(compressed) / sizeof(compressed[0]); i++) {
        if (n >= compressed[i].len &&
            memcmp(p, compressed[i].magic, compressed[i].len) == 0)
            return KIND_ARCHIVE;
    }
    /* bzip2: "BZh" and a block size digit, then a block or end marker. */
    if (n >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9' &&
        (memcmp(p + 4, "\x31\x41\x59\x26\x53\x59", 6) == 0 ||
         memcmp(p + 4, "\x17\x72\x45\x38\x50\x90", 6) == 0))
        return KIND_ARCHIVE;
    if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
        return KIND_ARCHIVE;
    return KIND_PLAIN;
}

/* Reads until `len` bytes or end of input. Returns bytes read or -1. */
static ssize_t read_full(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int ensure_buf(ksi_worker *w, size_t need)
{
    unsigned char *grown;

    if (w->cap >= need)
        return 0;
    grown = ksi_realloc(w->buf, need);
    if (!grown)
        return -1;
    w->buf = grown;
    w->cap = need;
    return 0;
}

static void report_status(ksi_worker *w, const ksi_entry *e, ks_status st)
{
    if (st == KS_OK || st == KS_STOPPED)
        return;
    ksi_report(w->scan, KS_DIAG_ERROR, st, e->input, e->chain, e->chain_len,
               "%s", ks_status_str(st));
}

void ksi_scan_memory(ksi_worker *w, const ksi_entry *e,
                     const unsigned char *data, size_t len)
{
    ksi_sink sink;
    ks_status st;

    ksi_scan_sink(w->scan, &sink);
    if (len <= UINT32_MAX) {
        st = ksi_match_block(w->matcher, e, data, len, &sink);
    } else {
        st = ksi_stream_open(w->matcher, e, &sink);
        for (size_t off = 0; st == KS_OK && off < len;) {
            void *space;
            size_t room;

            ksi_stream_space(w->matcher, &space, &room);
            if (room > len - off)
                room = len - off;
            memcpy(space, data + off, room);
            off += room;
            st = ksi_stream_commit(w->matcher, room);
        }
        if (st == KS_OK)
            st = ksi_stream_close(w->matcher);
        else
            ksi_stream_close(w->matcher);
    }
    report_status(w, e, st);
    ksi_entry_done(w->scan, len);
}

/*
 * Streams plain bytes from `fd` after `peeked` bytes already in hand.
 * Returns 0, or -1 after reporting a read error.
 */
static void stream_fd(ksi_worker *w, const ksi_entry *e, int fd,
                      const unsigned char *peeked, size_t npeek)
{
    ksi_sink sink;
    uint64_t total = npeek;
    void *space;
    size_t room;
    ks_status st;

    ksi_scan_sink(w->scan, &sink);
    st = ksi_stream_open(w->matcher, e, &sink);
    if (st == KS_OK) {
        ksi_stream_space(w->matcher, &space, &room);
        memcpy(space, peeked, npeek);
        st = ksi_stream_commit(w->matcher, npeek);
    }
    while (st == KS_OK && !ksi_stopped(w->scan)) {
        ssize_t n;

        ksi_stream_space(w->matcher, &space, &room);
        n = read_full(fd, space, room);
        if (n < 0) {
            ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_IO, e->input, e->chain,
                       e->chain_len, "read error after %llu bytes: %s",
                       (unsigned long long)total, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        st = ksi_stream_commit(w->matcher, (size_t)n);
    }
    if (st == KS_OK)
        st = ksi_stream_close(w->matcher);
    else
        ksi_stream_close(w->matcher);
    report_status(w, e, st);
    ksi_entry_done(w->scan, total);
}

static void scan_plain(ksi_worker *w, const ksi_entry *e, int fd,
                       uint64_t size, const unsigned char *peeked,
                       size_t npeek)
{
    ssize_t n;

    if (size == UINT64_MAX || size > w->scan->opts.block_max ||
        size < npeek) {
        stream_fd(w, e, fd, peeked, npeek);
        return;
    }
    if (ensure_buf(w, (size_t)size + 1)) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, e->input, e->chain,
                   e->chain_len, "out of memory reading %llu bytes",
                   (unsigned long long)size);
        return;
    }
    memcpy(w->buf, peeked, npeek);
    /* One byte more than the size shows whether the file grew. */
    n = read_full(fd, w->buf + npeek, (size_t)size + 1 - npeek);
    if (n < 0) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_IO, e->input, e->chain,
                   e->chain_len, "read error: %s", strerror(errno));
        return;
    }
    if ((uint64_t)n + npeek > size) {
        ksi_report(w->scan, KS_DIAG_WARNING, KS_WARN_LIMIT, e->input,
                   e->chain, e->chain_len,
                   "file grew while being read; only its first %llu bytes "
                   "were scanned", (unsigned long long)size);
        n = (ssize_t)(size - npeek);
    }
    ksi_scan_memory(w, e, w->buf, npeek + (size_t)n);
}

/* ---- archives ----------------------------------------------------------- */

typedef struct archive_src {
    int fd;
    const unsigned char *peeked;
    size_t npeek;
    unsigned char *buf;
} archive_src;

static la_ssize_t archive_src_read(struct archive *a, void *ctx,
                                   const void **out)
{
    archive_src *src = ctx;
    ssize_t n;

    if (src->npeek) {
        *out = src->peeked;
        n = (ssize_t)src->npeek;
        src->npeek = 0;
        return n;
    }
    do
        n = read(src->fd, src->buf, ARCHIVE_READ_SIZE);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        archive_set_error(a, errno, "read error: %s", strerror(errno));
        return -1;
    }
    *out = src->buf;
    return n;
}

/* Where an archive reader sends each entry. */
typedef struct entry_ctx {
    ksi_worker *w;
    struct archive *a;
    const char *input;
    const char *const *outer;   /* chain of the archive itself */
    size_t outer_len;
    int parallel;
    int raw;                    /* a compressed stream, not an archive */
} entry_ctx;

static void archive_failed(entry_ctx *c, const ksi_entry *e)
{
    const char *why = archive_error_string(c->a);

    ksi_report(c->w->scan, KS_DIAG_ERROR, KS_ERR_ARCHIVE, c->input, e->chain,
               e->chain_len, "archive is corrupt or truncated: %s",
               why ? why : "unknown error");
}

/* Reads a whole small entry into `buf`. Returns bytes read, or -1. */
static ssize_t read_entry(struct archive *a, unsigned char *buf, size_t len)
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
    return (ssize_t)got;
}

static int whole_entry(entry_ctx *c, const ksi_entry *e, size_t size)
{
    ksi_worker *w = c->w;
    unsigned char *data;
    ksi_job *job = NULL;
    ssize_t n;
    int failed;

    if (c->parallel) {
        job = ksi_job_new(KSI_JOB_BUFFER, c->input, e->chain, e->chain_len,
                          NULL);
        data = job ? ksi_malloc(size + 1) : NULL;
    } else {
        data = ensure_buf(w, size + 1) ? NULL : w->buf;
    }
    if (!data) {
        ksi_job_free(job);
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, c->input, e->chain,
                   e->chain_len, "out of memory reading entry");
        return -1;
    }
    n = read_entry(c->a, data, size);
    failed = n < 0;
    if (failed) {
        archive_failed(c, e);
        n = 0;
    }
    if (!job) {
        ksi_scan_memory(w, e, data, (size_t)n);
        return failed ? -1 : 0;
    }
    job->data = data;
    job->len = (size_t)n;
    job->flags = e->flags;
    ksi_queue_push(w->scan, job);
    return failed ? -1 : 0;
}

static int streamed_entry(entry_ctx *c, const ksi_entry *e)
{
    ksi_worker *w = c->w;
    ksi_sink sink;
    uint64_t total = 0;
    int failed = 0;
    ks_status st;

    ksi_scan_sink(w->scan, &sink);
    st = ksi_stream_open(w->matcher, e, &sink);
    while (st == KS_OK && !ksi_stopped(w->scan)) {
        void *space;
        size_t room;
        la_ssize_t n;

        ksi_stream_space(w->matcher, &space, &room);
        n = archive_read_data(c->a, space, room);
        if (n < 0) {
            archive_failed(c, e);
            failed = 1;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        st = ksi_stream_commit(w->matcher, (size_t)n);
    }
    if (st == KS_OK)
        st = ksi_stream_close(w->matcher);
    else
        ksi_stream_close(w->matcher);
    report_status(w, e, st);
    ksi_entry_done(w->scan, total);
    return failed ? -1 : 0;
}

/* Handles one archive entry. Returns -1 when the archive is unreadable. */
static int one_entry(entry_ctx *c, struct archive_entry *ae)
{
    const char *name = archive_entry_pathname(ae);
    const char *chain[2];
    size_t n = 0;
    ksi_entry e;
    char inner[KSI_MAX_PATH];

    if (archive_entry_filetype(ae) != AE_IFREG ||
        archive_entry_hardlink(ae) != NULL)
        return 0;
    assert(c->outer_len < sizeof(chain) / sizeof(chain[0]));
    for (size_t i = 0; i < c->outer_len; i++)
        chain[n++] = c->outer[i];
    if (!c->raw) {
        snprintf(inner, sizeof(inner), "%s", name ? name : "(unnamed)");
        chain[n++] = inner;
    }
    e = (ksi_entry){ c->input, chain, n, 0 };

    if (archive_entry_size_is_set(ae) && archive_entry_size(ae) >= 0 &&
        (uint64_t)archive_entry_size(ae) <= c->w->scan->opts.block_max)
        return whole_entry(c, &e, (size_t)archive_entry_size(ae));
    return streamed_entry(c, &e);
}

static struct archive *open_archive(archive_src *src)
{
    struct archive *a = archive_read_new();

    if (!a)
        return NULL;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_raw(a);
    archive_read_support_format_empty(a);
    /* A failed open leaves the reason on the handle; the first header
     * read then fails and reports it. */
    (void)archive_read_open(a, src, NULL, archive_src_read, NULL);
    return a;
}

static void scan_archive(ksi_worker *w, int fd, const char *input,
                         const char *const *chain, size_t chain_len,
                         const unsigned char *peeked, size_t npeek,
                         int parallel)
{
    archive_src src = { fd, peeked, npeek, NULL };
    entry_ctx c = { w, NULL, input, chain, chain_len, parallel, 0 };
    ksi_entry whole = { input, chain, chain_len, 0 };
    struct archive_entry *ae;

    src.buf = ksi_malloc(ARCHIVE_READ_SIZE);
    c.a = src.buf ? open_archive(&src) : NULL;
    if (!c.a) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, input, chain,
                   chain_len, "out of memory opening archive");
        ksi_free(src.buf);
        return;
    }
    for (;;) {
        int rc = archive_read_next_header(c.a, &ae);

        if (rc == ARCHIVE_EOF || ksi_stopped(w->scan))
            break;
        if (rc == ARCHIVE_WARN) {
            ksi_report(w->scan, KS_DIAG_WARNING, KS_ERR_ARCHIVE, input,
                       chain, chain_len, "%s",
                       archive_error_string(c.a));
        } else if (rc != ARCHIVE_OK) {
            archive_failed(&c, &whole);
            break;
        }
        c.raw = archive_format(c.a) == ARCHIVE_FORMAT_RAW;
        if (one_entry(&c, ae) < 0)
            break;
    }
    archive_read_free(c.a);
    ksi_free(src.buf);
}

void ksi_scan_fd(ksi_worker *w, int fd, uint64_t size, const char *input,
                 const char *const *chain, size_t chain_len, int parallel)
{
    unsigned char peek[PEEK_SIZE];
    ksi_entry e = { input, chain, chain_len, 0 };
    ssize_t n = read_full(fd, peek, sizeof(peek));

    if (n < 0) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_IO, input, chain,
                   chain_len, "read error: %s", strerror(errno));
        return;
    }
    if (detect(peek, (size_t)n) == KIND_ARCHIVE)
        scan_archive(w, fd, input, chain, chain_len, peek, (size_t)n,
                     parallel);
    else
        scan_plain(w, &e, fd, size, peek, (size_t)n);
}

void ksi_scan_file(ksi_worker *w, const char *input,
                   const char *const *chain, size_t chain_len)
{
    const char *path = chain[chain_len - 1];
    struct stat sb;
    int fd;

    /* O_NONBLOCK: a FIFO swapped in after the walk must not hang us. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        ksi_report(w->scan, KS_DIAG_WARNING, KS_ERR_IO, input, chain,
                   chain_len, "cannot open: %s", strerror(errno));
        return;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        atomic_fetch_add(&w->scan->skipped, 1);
        close(fd);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    ksi_scan_fd(w, fd, (uint64_t)sb.st_size, input, chain, chain_len, 0);
    close(fd);
}
