/*
 * reader.c - turns byte sources (files, pipes, standard input, archive
 * entries, memory) into scanned entries.
 *
 * The first bytes decide what a stream is: a tar or zip archive, a
 * compressed stream (gzip, zstd, xz, bzip2, lz4), or plain bytes. Archives
 * and compressed streams are read with libarchive straight from the source,
 * never extracted; the bytes already peeked at are handed back first, so
 * pipes work as well as files. An archive entry that is itself an archive
 * (a jar in a layer, a tar.gz in a tar) is opened in place, up to the scan's
 * max_depth.
 */
#include "scan.h"

#include "alloc.h"
#include "budget.h"
#include "image_scan.h"
#include "inflate.h"
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

/*
 * Bytes read for libarchive at a time. Entries that fit inside one such
 * block are scanned where they lie, so bigger blocks mean fewer copies.
 */
#define ARCHIVE_READ_SIZE (4u << 20)

/*
 * A pre-POSIX tar header has no magic, only a checksum: the sum of its 512
 * bytes with the checksum field counted as spaces, in octal at offset 148.
 */
static int looks_like_old_tar(const unsigned char *p, size_t n)
{
    unsigned long want = 0, sum = 0;
    size_t i = 148;

    if (n < 512 || p[0] == '\0')
        return 0;
    while (i < 156 && p[i] == ' ')
        i++;
    if (i == 156 || p[i] < '0' || p[i] > '7')
        return 0;
    for (; i < 156 && p[i] >= '0' && p[i] <= '7'; i++)
        want = want * 8 + (unsigned long)(p[i] - '0');
    for (i = 0; i < 512; i++)
        sum += i >= 148 && i < 156 ? ' ' : p[i];
    return sum == want;
}

static int is_archive(const unsigned char *p, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
    } magics[] = {
        { "\x1f\x8b", 2 },                  /* gzip */
        { "\x28\xb5\x2f\xfd", 4 },          /* zstd */
        { "\xfd\x37\x7a\x58\x5a\x00", 6 },  /* xz */
        { "\x04\x22\x4d\x18", 4 },          /* lz4 */
        { "PK\x03\x04", 4 },                /* zip, jar, war, ear */
    };

    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
        if (n >= magics[i].len &&
            memcmp(p, magics[i].magic, magics[i].len) == 0)
            return 1;
    }
    /* bzip2: "BZh" and a block size digit, then a block or end marker. */
    if (n >= 10 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9' &&
        (memcmp(p + 4, "\x31\x41\x59\x26\x53\x59", 6) == 0 ||
         memcmp(p + 4, "\x17\x72\x45\x38\x50\x90", 6) == 0))
        return 1;
    if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
        return 1;
    return looks_like_old_tar(p, n);
}

/* ---- sources ------------------------------------------------------------ */

void ksi_source_fd(ksi_source *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
}

void ksi_source_archive(ksi_source *s, struct archive *outer)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->outer = outer;
}

static void source_memory(ksi_source *s, const unsigned char *data,
                          size_t len)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->mem = data;
    s->mem_len = len;
}

/* Reads from the underlying source. Returns bytes, 0 at end, -1 on error
 * with s->error set. */
static ssize_t source_raw(ksi_source *s, unsigned char *buf, size_t cap)
{
    ssize_t n;

    if (s->fd >= 0) {
        do
            n = read(s->fd, buf, cap);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            snprintf(s->error, sizeof(s->error), "read error: %s",
                     strerror(errno));
    } else if (s->outer) {
        n = archive_read_data(s->outer, buf, cap);
        if (n < 0)
            snprintf(s->error, sizeof(s->error), "%s",
                     archive_error_string(s->outer)
                         ? archive_error_string(s->outer)
                         : "archive read error");
    } else if (s->inflater) {
        const char *why;

        n = ksi_inflate_read(s->inflater, buf, cap);
        why = ksi_inflater_error(s->inflater);
        if (n < 0)
            snprintf(s->error, sizeof(s->error), "%s",
                     why[0] ? why : s->below->error);
    } else {
        n = (ssize_t)(s->mem_len - s->mem_pos < cap ? s->mem_len - s->mem_pos
                                                     : cap);
        memcpy(buf, s->mem + s->mem_pos, (size_t)n);
        s->mem_pos += (size_t)n;
    }
    if (n > 0 && s->hash)
        ksi_sha256_update(s->hash, buf, (size_t)n);
    if (n > 0 && s->counter)
        atomic_fetch_add(s->counter, (uint_fast64_t)n);
    if (n > 0 && s->budget)
        atomic_fetch_add(&s->budget->raw, (uint_fast64_t)n);
    return n;
}

static ssize_t source_read(ksi_source *s, unsigned char *buf, size_t cap)
{
    size_t n;

    if (!s->n_pending)
        return source_raw(s, buf, cap);
    n = s->n_pending < cap ? s->n_pending : cap;
    memcpy(buf, s->pending, n);
    s->pending += n;
    s->n_pending -= n;
    return (ssize_t)n;
}

/* Reads until `len` bytes or the end. Returns bytes read, or -1. */
static ssize_t source_fill(ksi_source *s, unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = source_read(s, buf + got, len - got);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/*
 * Reads from the underlying source until `cap` bytes or the end. A failure
 * after some bytes returns those; the failure shows on the next call.
 */
static ssize_t raw_fill(ksi_source *s, unsigned char *buf, size_t cap)
{
    size_t got = 0;

    while (got < cap) {
        ssize_t n = source_raw(s, buf + got, cap - got);

        if (n < 0 && got == 0)
            return -1;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/*
 * The next bytes of a source for libarchive: where the source already
 * holds them in memory (peeked bytes, a memory source) a pointer to them,
 * else read into `scratch`. Returns bytes, 0 at end, -1 on error.
 */
static ssize_t source_block(ksi_source *s, unsigned char *scratch,
                            size_t cap, const void **out)
{
    ssize_t n;

    if (s->n_pending) {
        n = (ssize_t)s->n_pending;
        *out = s->pending;
        s->pending += n;
        s->n_pending = 0;
        return n;
    }
    if (s->fd < 0 && !s->outer && !s->inflater) {
        n = (ssize_t)(s->mem_len - s->mem_pos);
        *out = s->mem + s->mem_pos;
        s->mem_pos = s->mem_len;
        if (n > 0 && s->hash)
            ksi_sha256_update(s->hash, *out, (size_t)n);
        return n;
    }
    /* Filled to the brim: an inflater hands out a few hundred KiB per
     * call, and entries must rarely straddle two blocks. */
    *out = scratch;
    return raw_fill(s, scratch, cap);
}

static ssize_t pull_below(void *ctx, unsigned char *buf, size_t cap)
{
    return source_read(ctx, buf, cap);
}

void ksi_source_drain(ksi_source *s)
{
    unsigned char buf[16384];

    s->n_pending = 0;
    while (source_raw(s, buf, sizeof(buf)) > 0)
        continue;
}

/* ---- helpers ------------------------------------------------------------ */

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

/* Problems inside a nested archive cost only that archive: warnings. */
static ks_diag_level problem_level(const ksi_read_ctx *rc)
{
    return rc->depth >= 1 ? KS_DIAG_WARNING : KS_DIAG_ERROR;
}

static void ctx_of_entry(ksi_read_ctx *rc, const ksi_entry *e,
                         int parallel)
{
    rc->input = e->input;
    rc->chain = e->chain;
    rc->chain_len = e->chain_len;
    rc->flags = e->flags;
    rc->depth = e->depth;
    rc->layer = e->layer;
    rc->parallel = parallel;
}

static int may_open(const ksi_worker *w, unsigned depth)
{
    unsigned max = w->scan->opts.max_depth;

    return depth + 1 <= max;
}

/*
 * An archive nested past max_depth is scanned as the bytes it is; that is
 * told once per unit, on the first one met.
 */
static void too_deep(ksi_worker *w, const ksi_entry *e)
{
    /* Results still depend on max_depth alone, which the results cache
     * keys on: unlike the other limits, this leaves the layer cacheable. */
    if (w->budget && atomic_exchange(&w->budget->deep_told, 1))
        return;
    ksi_report(w->scan, KS_DIAG_WARNING, KS_WARN_LIMIT, e->input, e->chain,
               e->chain_len, "limit reached: an archive nested more than %u "
               "deep (--max-depth) is scanned as bytes, not opened",
               w->scan->opts.max_depth);
}

/* ---- plain bytes -------------------------------------------------------- */

static void match_memory(ksi_worker *w, const ksi_entry *e,
                         const unsigned char *data, size_t len)
{
    ksi_sink sink;
    ks_status st;

    if (ksi_budget_take(w, e, len) < 0)
        return;
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

void ksi_scan_memory(ksi_worker *w, const ksi_entry *e,
                     const unsigned char *data, size_t len)
{
    ksi_read_ctx rc;
    ksi_source src;

    if (!is_archive(data, len < PEEK_SIZE ? len : PEEK_SIZE)) {
        match_memory(w, e, data, len);
        return;
    }
    if (!may_open(w, e->depth)) {
        too_deep(w, e);
        match_memory(w, e, data, len);
        return;
    }
    ctx_of_entry(&rc, e, 0);
    source_memory(&src, data, len);
    if (ksi_read_source(w, &src, UINT64_MAX, &rc) < 0) {
        /* Archive-looking bytes libarchive cannot read: scan them as
         * they are, which is what a nested archive gets past max_depth. */
        match_memory(w, e, data, len);
    }
}

/* Streams plain bytes from a source, `peeked` already in hand. */
static void stream_plain(ksi_worker *w, const ksi_entry *e, ksi_source *src,
                         const unsigned char *peeked, size_t npeek)
{
    ksi_sink sink;
    uint64_t total = npeek;
    void *space;
    size_t room;
    ks_status st;

    if (ksi_budget_take(w, e, npeek) < 0)
        return;
    ksi_scan_sink(w->scan, &sink);
    st = ksi_stream_open(w->matcher, e, &sink);
    w->streaming++;
    if (st == KS_OK) {
        ksi_stream_space(w->matcher, &space, &room);
        memcpy(space, peeked, npeek);
        st = ksi_stream_commit(w->matcher, npeek);
    }
    while (st == KS_OK && !ksi_stopped(w->scan)) {
        ssize_t n;

        ksi_stream_space(w->matcher, &space, &room);
        n = source_fill(src, space, room);
        if (n < 0) {
            if (!ksi_budget_spent(w))
                ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_IO, e->input,
                           e->chain, e->chain_len, "%s after %llu bytes",
                           src->error, (unsigned long long)total);
            break;
        }
        if (n == 0 || ksi_budget_take(w, e, (uint64_t)n) < 0)
            break;
        total += (uint64_t)n;
        st = ksi_stream_commit(w->matcher, (size_t)n);
    }
    if (st == KS_OK)
        st = ksi_stream_close(w->matcher);
    else
        ksi_stream_close(w->matcher);
    w->streaming--;
    report_status(w, e, st);
    ksi_entry_done(w->scan, total);
}

static void scan_plain(ksi_worker *w, const ksi_entry *e, ksi_source *src,
                       uint64_t size, const unsigned char *peeked,
                       size_t npeek)
{
    ssize_t n;

    if (size == UINT64_MAX || size > w->scan->opts.block_max ||
        size < npeek || w->buf_busy) {
        stream_plain(w, e, src, peeked, npeek);
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
    n = source_fill(src, w->buf + npeek, (size_t)size + 1 - npeek);
    if (n < 0) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_IO, e->input, e->chain,
                   e->chain_len, "%s", src->error);
        return;
    }
    if ((uint64_t)n + npeek > size) {
        ksi_report(w->scan, KS_DIAG_WARNING, KS_WARN_LIMIT, e->input,
                   e->chain, e->chain_len,
                   "file grew while being read; only its first %llu bytes "
                   "were scanned", (unsigned long long)size);
        n = (ssize_t)(size - npeek);
    }
    w->buf_busy = 1;
    match_memory(w, e, w->buf, npeek + (size_t)n);
    w->buf_busy = 0;
}

/* ---- archives ----------------------------------------------------------- */

/*
 * Read buffers a reader that hands entries over keeps in its pool: enough
 * that other workers can hold several while it fills the next.
 */
#define READ_CHUNKS 8u

/* State while reading one archive. */
typedef struct arc {
    ksi_worker *w;
    struct archive *a;
    ksi_source *src;
    const ksi_read_ctx *rc;
    unsigned char *readbuf;     /* when no chunk is free */
    ksi_chunk_pool pool;        /* when entries may be handed over */
    int have_pool;
    ksi_chunk *cur;             /* the chunk libarchive reads from */
    int raw;                    /* a compressed stream, not an archive */
    size_t entries;             /* headers read */
    int cut_path_told;          /* a too-long entry path was reported */
} arc;

/* The archive itself, as an entry: for what is reported on all of it. */
static ksi_entry arc_whole(const arc *c)
{
    const ksi_read_ctx *rc = c->rc;

    return (ksi_entry){ rc->input, rc->chain, rc->chain_len, rc->flags,
                        rc->depth, rc->layer, NULL };
}

/*
 * libarchive is done with the previous block once it asks for the next.
 * Blocks go into pooled chunks, so that entries lying inside one can be
 * handed to other workers by reference; when every chunk is still held,
 * the reader first scans a queued entry itself (unless it is in the middle
 * of streaming one), then falls back to its own buffer, whose entries are
 * copied if handed over.
 */
static la_ssize_t arc_read(struct archive *a, void *ctx, const void **out)
{
    arc *c = ctx;
    ksi_entry whole = arc_whole(c);
    unsigned char *buf;
    ssize_t n;

    if (c->cur)
        ksi_chunk_unref(c->cur);
    c->cur = NULL;
    /* libarchive may read far between two headers (skipping an entry's
     * data), so the unit's limits are checked here too. */
    if (ksi_budget_check(c->w, &whole) < 0) {
        archive_set_error(a, EINTR, "a limit was reached");
        return -1;
    }
    if (c->have_pool) {
        c->cur = ksi_chunk_get(&c->pool);
        if (!c->cur && !c->w->streaming && ksi_queue_help(c->w))
            c->cur = ksi_chunk_get(&c->pool);
    }
    /* Memory sources and peeked bytes need no buffer at all. */
    if (!c->cur && !c->readbuf && c->src->n_pending == 0 &&
        (c->src->fd >= 0 || c->src->outer || c->src->inflater) &&
        !(c->readbuf = ksi_malloc(ARCHIVE_READ_SIZE))) {
        archive_set_error(a, ENOMEM, "out of memory");
        return -1;
    }
    buf = c->cur ? c->cur->data : c->readbuf;
    n = source_block(c->src, buf, ARCHIVE_READ_SIZE, out);
    if (n < 0) {
        archive_set_error(a, EIO, "%s", c->src->error);
        return -1;
    }
    return n;
}

static void arc_failed(arc *c, const ksi_entry *e)
{
    const char *why = archive_error_string(c->a);

    /* Stopped by a limit, which said so itself. */
    if (ksi_budget_spent(c->w))
        return;
    /* A failed read can surface in a later call that has cleared the
     * error it set; the source still knows what went wrong. */
    if (!why && c->src->error[0])
        why = c->src->error;

    ksi_report(c->w->scan, problem_level(c->rc), KS_ERR_ARCHIVE,
               c->rc->input, e->chain, e->chain_len,
               "archive is corrupt or truncated%s%s", why ? ": " : "",
               why ? why : " (the archive library gave no detail)");
}

static ksi_job *entry_job(const ksi_entry *e)
{
    ksi_job *job = ksi_job_new(KSI_JOB_BUFFER, e->input, e->chain,
                               e->chain_len, NULL);

    if (job) {
        job->flags = e->flags;
        job->depth = e->depth;
        job->layer = e->layer;
    }
    return job;
}

/*
 * Gathers an entry that libarchive hands over in several blocks (it
 * straddles a read, or is sparse) into one buffer of `size` bytes.
 * `first` is the block already in hand. Returns the buffer, or NULL with
 * *failed set when the archive failed (or memory ran out, *failed = 2).
 */
static unsigned char *gather_entry(arc *c, const void *first, size_t len,
                                   la_int64_t off, size_t size, int *failed)
{
    unsigned char *data = ksi_malloc(size + 1);
    size_t filled = 0;      /* bytes before this are set */
    int st = ARCHIVE_OK;

    if (!data) {
        *failed = 2;
        return NULL;
    }
    for (;;) {
        /* A truncated entry can end in an empty block with no address. */
        if (len > 0 && off >= 0 && (uint64_t)off < size) {
            size_t at = (size_t)off;
            size_t n = size - at < len ? size - at : len;

            /* Holes of a sparse entry read as zeros. */
            if (at > filled)
                memset(data + filled, 0, at - filled);
            memcpy(data + at, first, n);
            if (at + n > filled)
                filled = at + n;
        }
        st = archive_read_data_block(c->a, &first, &len, &off);
        if (st != ARCHIVE_OK && st != ARCHIVE_WARN)
            break;
    }
    if (st != ARCHIVE_EOF) {
        ksi_free(data);
        *failed = 1;
        return NULL;
    }
    if (filled < size)
        memset(data + filled, 0, size - filled);
    return data;
}

/* Does data[0..len) lie inside the chunk libarchive is reading? */
static int in_chunk(const arc *c, const void *data, size_t len)
{
    const unsigned char *p = data, *base;

    if (!c->cur)
        return 0;
    base = c->cur->data;
    return p >= base && len <= ARCHIVE_READ_SIZE &&
           (size_t)(p - base) <= ARCHIVE_READ_SIZE - len;
}

/*
 * Hands an entry to the queue: by reference when it lies in a pooled
 * chunk, else `owned` or a copy. Returns 0, or -1 to scan it here.
 */
static int hand_over(arc *c, const ksi_entry *e, const void *data,
                     size_t size, unsigned char *owned)
{
    ksi_job *job;

    if (!c->rc->parallel || !ksi_queue_wants(c->w->scan, size))
        return -1;
    job = entry_job(e);
    if (!job)
        return -1;
    if (owned) {
        job->data = owned;
    } else if (in_chunk(c, data, size)) {
        job->view = data;
        job->chunk = c->cur;
        ksi_chunk_ref(c->cur);
    } else if ((job->data = ksi_malloc(size + 1)) != NULL) {
        if (size)
            memcpy(job->data, data, size);
    } else {
        ksi_job_free(job);
        return -1;
    }
    job->budget = ksi_budget_ref(c->w->budget);
    job->len = size;
    ksi_queue_push_entry(c->w->scan, job);
    return 0;
}

/*
 * A small entry, read whole. When it lies in one block of libarchive's
 * input it is scanned in place or handed over by reference, with no copy;
 * a copy is made only to join the pieces of a split entry, or to hand one
 * over from a buffer that is not pooled.
 */
static int whole_entry(arc *c, const ksi_entry *e, size_t size)
{
    ksi_worker *w = c->w;
    const void *block = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    la_int64_t off = 0;
    int st = archive_read_data_block(c->a, &block, &len, &off);
    int failed = 0;

    if (st == ARCHIVE_EOF) {
        /* No data where the header promised some: nothing to scan. */
        ksi_scan_memory(w, e, (const unsigned char *)"", 0);
        return 0;
    }
    if (st != ARCHIVE_OK && st != ARCHIVE_WARN) {
        arc_failed(c, e);
        return -1;
    }
    if (off != 0 || len != size) {
        data = gather_entry(c, block, len, off, size, &failed);
        if (!data && failed != 1) {
            ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, c->rc->input,
                       e->chain, e->chain_len, "out of memory reading "
                       "entry");
            return -1;
        }
        if (!data) {
            arc_failed(c, e);
            return -1;
        }
        block = data;
    }
    if (hand_over(c, e, block, size, data) == 0)
        return 0;
    ksi_scan_memory(w, e, block, size);
    ksi_free(data);
    return 0;
}

/* A large entry: opened in place if it is an archive, else streamed. */
static int streamed_entry(arc *c, const ksi_entry *e)
{
    unsigned char peek[PEEK_SIZE];
    ksi_source inner;
    ksi_read_ctx rc;
    ssize_t n;

    ksi_source_archive(&inner, c->a);
    n = source_fill(&inner, peek, sizeof(peek));
    if (n < 0) {
        arc_failed(c, e);
        return -1;
    }
    if (is_archive(peek, (size_t)n) && may_open(c->w, e->depth)) {
        ctx_of_entry(&rc, e, 0);
        inner.pending = peek;
        inner.n_pending = (size_t)n;
        ksi_read_source(c->w, &inner, UINT64_MAX, &rc);
        /* The nested reader saw the outer archive fail under it. */
        if (inner.error[0])
            arc_failed(c, e);
    } else {
        if (is_archive(peek, (size_t)n))
            too_deep(c->w, e);
        stream_plain(c->w, e, &inner, peek, (size_t)n);
    }
    return inner.error[0] ? -1 : 0;
}

/* Basename of an archive path. */
static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* A path longer than max_path is cut; the first in an archive is told. */
static void cut_path(arc *c, const char *name)
{
    ksi_entry whole = arc_whole(c);

    if (c->cut_path_told)
        return;
    c->cut_path_told = 1;
    if (whole.layer)
        ksi_layer_failed(whole.layer);
    ksi_report(c->w->scan, KS_DIAG_WARNING, KS_WARN_LIMIT, whole.input,
               whole.chain, whole.chain_len, "limit reached: an entry path "
               "of %zu bytes (--max-path %u); it and any others as long "
               "are named by their first %u bytes", strlen(name),
               c->w->scan->opts.max_path, c->w->scan->opts.max_path);
}

/* Handles one archive entry. Returns -1 when the archive is unreadable. */
static int one_entry(arc *c, struct archive_entry *ae)
{
    const ksi_read_ctx *rc = c->rc;
    const char *name = archive_entry_pathname(ae);
    const char *chain[KSI_MAX_CHAIN];
    char inner[KSI_MAX_PATH + 1];
    size_t n = 0, keep;
    ksi_entry e;

    if (archive_entry_filetype(ae) != AE_IFREG ||
        archive_entry_hardlink(ae) != NULL)
        return 0;
    if (!name)
        name = "(unnamed)";
    keep = strlen(name);
    if (keep > c->w->scan->opts.max_path) {
        keep = c->w->scan->opts.max_path;
        cut_path(c, name);
    }
    snprintf(inner, sizeof(inner), "%.*s", (int)keep, name);
    if (rc->layer && rc->depth == 0 && strncmp(base_of(inner), ".wh.", 4) == 0)
        return ksi_layer_whiteout(c->w->scan, rc->layer, inner);
    if (rc->chain_len + 1 > KSI_MAX_CHAIN)
        return -1;
    for (size_t i = 0; i < rc->chain_len; i++)
        chain[n++] = rc->chain[i];
    if (!c->raw)
        chain[n++] = inner;
    e = (ksi_entry){ rc->input, chain, n, rc->flags, rc->depth + 1,
                     rc->layer, NULL };
    if (e.depth >= 2)
        e.flags |= KS_LOC_NESTED;

    if (archive_entry_size_is_set(ae) && archive_entry_size(ae) >= 0 &&
        (uint64_t)archive_entry_size(ae) <= c->w->scan->opts.block_max)
        return whole_entry(c, &e, (size_t)archive_entry_size(ae));
    return streamed_entry(c, &e);
}

static struct archive *open_archive(arc *c)
{
    struct archive *a = archive_read_new();

    if (!a)
        return NULL;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_raw(a);
    archive_read_support_format_empty(a);
    /* A failed open leaves the reason on the handle; the first header
     * read then fails and reports it. */
    (void)archive_read_open(a, c, NULL, arc_read, NULL);
    return a;
}

static void too_many_entries(const arc *c)
{
    ksi_entry whole = arc_whole(c);

    if (whole.layer)
        ksi_layer_failed(whole.layer);
    ksi_report(c->w->scan, KS_DIAG_WARNING, KS_WARN_LIMIT, whole.input,
               whole.chain, whole.chain_len, "limit reached: more than %u "
               "entries in this archive (--max-entries); the rest of it is "
               "not scanned", c->w->scan->opts.max_entries);
}

/*
 * Reads an archive from `src`. Returns 0, or -1 when not even a first
 * entry could be read (the caller may then scan the bytes as they are).
 */
static int scan_archive(ksi_worker *w, ksi_source *src,
                        const ksi_read_ctx *rc, int may_fall_back)
{
    arc c;
    ksi_entry whole = { rc->input, rc->chain, rc->chain_len, rc->flags,
                        rc->depth, rc->layer, NULL };
    struct archive_entry *ae;
    int rc_out = 0;

    memset(&c, 0, sizeof(c));
    c.w = w;
    c.src = src;
    c.rc = rc;
    c.a = open_archive(&c);
    if (!c.a) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, rc->input,
                   rc->chain, rc->chain_len, "out of memory opening archive");
        return 0;
    }
    /* Without a pool, entries handed over are copied: slower, not wrong. */
    c.have_pool = rc->parallel &&
                  ksi_chunk_pool_init(&c.pool, READ_CHUNKS,
                                      ARCHIVE_READ_SIZE) == 0;
    if (rc->parallel)
        ksi_queue_reading(w->scan, 1);
    for (;;) {
        int st = archive_read_next_header(c.a, &ae);

        if (st == ARCHIVE_EOF || ksi_stopped(w->scan) ||
            ksi_budget_check(w, &whole) < 0)
            break;
        if (st == ARCHIVE_WARN) {
            ksi_report(w->scan, KS_DIAG_WARNING, KS_ERR_ARCHIVE, rc->input,
                       rc->chain, rc->chain_len, "%s",
                       archive_error_string(c.a));
        } else if (st != ARCHIVE_OK) {
            if (c.entries == 0 && may_fall_back) {
                rc_out = -1;    /* memory: the caller rescans it raw */
                break;
            }
            arc_failed(&c, &whole);
            break;
        }
        if (++c.entries > w->scan->opts.max_entries &&
            w->scan->opts.max_entries) {
            too_many_entries(&c);
            break;
        }
        c.raw = archive_format(c.a) == ARCHIVE_FORMAT_RAW;
        if (one_entry(&c, ae) < 0)
            break;
    }
    if (rc->parallel)
        ksi_queue_reading(w->scan, -1);
    archive_read_free(c.a);
    if (c.cur)
        ksi_chunk_unref(c.cur);
    if (c.have_pool)
        ksi_chunk_pool_close(&c.pool, w);
    ksi_free(c.readbuf);
    return rc_out;
}

/*
 * The decompressed bytes of a stream, in `dec`: a tar inside (or any
 * archive) is read from them, and anything else is one entry, named like
 * the stream and one level deeper, as libarchive's raw format would have
 * it. Returns as scan_archive().
 */
static int scan_decoded(ksi_worker *w, ksi_source *dec, const ksi_read_ctx *rc,
                        int from_memory, int nothing_out)
{
    unsigned char peek[PEEK_SIZE];
    ksi_entry e = { rc->input, rc->chain, rc->chain_len, rc->flags,
                    rc->depth + 1, rc->layer, NULL };
    ssize_t n = source_fill(dec, peek, sizeof(peek));

    if (n < 0 && from_memory && nothing_out)
        return -1;      /* the caller scans the bytes as they are */
    if (n < 0) {
        if (!ksi_budget_spent(w))
            ksi_report(w->scan, problem_level(rc), KS_ERR_ARCHIVE,
                       rc->input, rc->chain, rc->chain_len,
                       "archive is corrupt or truncated: %s", dec->error);
        return 0;
    }
    if (is_archive(peek, (size_t)n)) {
        dec->pending = peek;
        dec->n_pending = (size_t)n;
        return scan_archive(w, dec, rc, from_memory);
    }
    if (e.depth >= 2)
        e.flags |= KS_LOC_NESTED;
    stream_plain(w, &e, dec, peek, (size_t)n);
    return 0;
}

static int from_memory(const ksi_source *src)
{
    return src->fd < 0 && !src->outer && !src->inflater;
}

/* A gzip or zstd stream, decompressed here rather than by libarchive. */
static int scan_compressed(ksi_worker *w, ksi_source *src,
                           const ksi_read_ctx *rc, ksi_codec codec)
{
    ksi_source dec;
    int rc_out;

    memset(&dec, 0, sizeof(dec));
    dec.fd = -1;
    dec.below = src;
    dec.inflater = ksi_inflater_new(codec, pull_below, src);
    if (!dec.inflater) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, rc->input,
                   rc->chain, rc->chain_len, "out of memory opening %s "
                   "stream", ksi_codec_name(codec));
        return 0;
    }
    rc_out = scan_decoded(w, &dec, rc, from_memory(src),
                          ksi_inflater_out_bytes(dec.inflater) == 0);
    ksi_inflater_free(dec.inflater);
    return rc_out;
}

/* xz, lz4 and bzip2, which libarchive's filters decompress. */
static int is_filtered(const unsigned char *p, size_t n)
{
    return (n >= 6 && memcmp(p, "\xfd\x37\x7a\x58\x5a\x00", 6) == 0) ||
           (n >= 4 && memcmp(p, "\x04\x22\x4d\x18", 4) == 0) ||
           (n >= 4 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' &&
            p[3] <= '9');
}

/* Feeds a filter-only libarchive handle from a source. */
typedef struct filter_feed {
    ksi_source *src;
    unsigned char *buf;
} filter_feed;

static la_ssize_t feed_read(struct archive *a, void *ctx, const void **out)
{
    filter_feed *f = ctx;
    ssize_t n = source_block(f->src, f->buf, ARCHIVE_READ_SIZE, out);

    if (n < 0)
        archive_set_error(a, EIO, "%s", f->src->error);
    return n;
}

/*
 * An xz, lz4 or bzip2 stream: libarchive's filters decompress it under
 * its raw format, and the bytes are judged as a gzip stream's are. Left
 * to libarchive's own choice, a stream that starts with zeros would pass
 * for an empty tar, and whatever follows them would go unscanned.
 */
static int scan_filtered(ksi_worker *w, ksi_source *src,
                         const ksi_read_ctx *rc)
{
    filter_feed feed = { src, ksi_malloc(ARCHIVE_READ_SIZE) };
    struct archive *a = archive_read_new();
    struct archive_entry *ae;
    ksi_source dec;
    int rc_out = 0;

    if (!feed.buf || !a) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, rc->input,
                   rc->chain, rc->chain_len, "out of memory opening a "
                   "compressed stream");
        goto out;
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_raw(a);
    if (archive_read_open(a, &feed, NULL, feed_read, NULL) != ARCHIVE_OK ||
        archive_read_next_header(a, &ae) != ARCHIVE_OK) {
        if (from_memory(src)) {
            rc_out = -1;
        } else if (!ksi_budget_spent(w)) {
            const char *why = archive_error_string(a);

            ksi_report(w->scan, problem_level(rc), KS_ERR_ARCHIVE,
                       rc->input, rc->chain, rc->chain_len,
                       "archive is corrupt or truncated%s%s",
                       why ? ": " : "",
                       why ? why : " (the archive library gave no detail)");
        }
        goto out;
    }
    ksi_source_archive(&dec, a);
    rc_out = scan_decoded(w, &dec, rc, from_memory(src),
                          archive_filter_bytes(a, 0) == 0);
out:
    archive_read_free(a);
    ksi_free(feed.buf);
    return rc_out;
}

int ksi_read_source(ksi_worker *w, ksi_source *src, uint64_t size,
                    const ksi_read_ctx *rc)
{
    ksi_codec codec;
    unsigned char peek[PEEK_SIZE];
    ksi_entry e = { rc->input, rc->chain, rc->chain_len, rc->flags,
                    rc->depth, rc->layer, NULL };
    ssize_t n = source_fill(src, peek, sizeof(peek));

    if (n < 0) {
        if (!ksi_budget_spent(w))
            ksi_report(w->scan, problem_level(rc), KS_ERR_IO, rc->input,
                       rc->chain, rc->chain_len, "%s", src->error);
        return 0;
    }
    src->pending = peek;
    src->n_pending = (size_t)n;
    codec = ksi_codec_detect(peek, (size_t)n);
    if (codec != KSI_CODEC_NONE && may_open(w, rc->depth))
        return scan_compressed(w, src, rc, codec);
    if (is_filtered(peek, (size_t)n) && may_open(w, rc->depth))
        return scan_filtered(w, src, rc);
    if (is_archive(peek, (size_t)n) && may_open(w, rc->depth))
        return scan_archive(w, src, rc, from_memory(src));
    if (codec != KSI_CODEC_NONE || is_archive(peek, (size_t)n))
        too_deep(w, &e);
    src->n_pending = 0;
    scan_plain(w, &e, src, size, peek, (size_t)n);
    return 0;
}

void ksi_scan_fd(ksi_worker *w, int fd, uint64_t size, const char *input,
                 const char *const *chain, size_t chain_len, int parallel)
{
    ksi_read_ctx rc = { input, chain, chain_len, 0, 0, NULL, parallel };
    ksi_budget *outer;
    ksi_source src;

    if (ksi_unit_begin(w, &outer, input, chain, chain_len))
        return;
    ksi_source_fd(&src, fd);
    src.budget = w->budget;
    ksi_read_source(w, &src, size, &rc);
    ksi_unit_end(w, outer);
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
