/*
 * scan.h - the scan's insides, shared by the thread pool (scan.c), the tree
 * walk (walk.c) and the readers of files and archives (reader.c).
 *
 * One thread, the producer, goes through the inputs: it walks directories
 * and queues each file for a worker, and it reads top-level archives itself,
 * queueing their small entries whole and streaming their large ones on the
 * spot. Workers take jobs off a queue bounded in bytes and in items.
 */
#ifndef KSI_SCAN_H
#define KSI_SCAN_H

#include "keysift.h"
#include "matcher.h"
#include "sha256.h"

#include <pthread.h>

#include <stdatomic.h>

struct archive;

typedef enum ksi_job_kind {
    KSI_JOB_FILE,       /* open `chain`'s last element and scan it */
    KSI_JOB_BUFFER,     /* scan `data`, an archive entry read whole */
    KSI_JOB_INPUT,      /* a file the caller named: open it, following
                         * links, and read it, queueing archive entries */
    KSI_JOB_CALL,       /* run `call` on a worker (an image layer) */
} ksi_job_kind;

struct ksi_worker;
struct ksi_chunk;
struct ksi_budget;

typedef struct ksi_job {
    struct ksi_job *next;
    ksi_job_kind kind;
    const char *input;      /* as the caller named it; outlives the run */
    char **chain;           /* owned */
    size_t chain_len;
    unsigned flags;
    unsigned depth;         /* archive levels around the entry */
    struct ksi_layer *layer;    /* image layer the entry belongs to */
    unsigned char *data;    /* owned; KSI_JOB_BUFFER only */
    const unsigned char *view;  /* or: bytes inside `chunk` */
    struct ksi_chunk *chunk;    /* a reference, dropped with the job */
    size_t len;
    void (*call)(struct ksi_worker *w, void *arg);  /* KSI_JOB_CALL */
    void *arg;              /* owned, freed with arg_free */
    void (*arg_free)(void *arg);
    struct ksi_budget *budget;  /* a reference: the unit's limits */
} ksi_job;

/* A FIFO of jobs. */
typedef struct ksi_fifo {
    ksi_job *head;
    ksi_job *tail;
} ksi_fifo;

/*
 * The work queue. Archive entries that a reading worker hands over come
 * first, so idle workers help with the stream in progress before they
 * start another input; a new layer or file is taken only when no entry is
 * waiting. Entries are bounded in bytes (KSI_QUEUE_BYTES), everything in
 * items (KSI_QUEUE_ITEMS).
 */
typedef struct ksi_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    pthread_cond_t idle;        /* no job queued or running */
    size_t running;             /* jobs taken and not yet finished */
    size_t waiting;             /* workers waiting for a job */
    size_t workers;             /* workers started */
    size_t readers;             /* workers reading an archive that may
                                 * hand entries over */
    ksi_fifo entries;           /* KSI_JOB_BUFFER */
    ksi_fifo inputs;            /* everything else */
    size_t items;
    size_t bytes;
    int closed;
} ksi_queue;

/* What each thread owns: a matcher and a reusable read buffer. */
typedef struct ksi_worker {
    ks_scan *scan;
    ksi_matcher *matcher;
    unsigned char *buf;
    size_t cap;
    int buf_busy;               /* buf holds bytes being scanned */
    int streaming;              /* the matcher is inside a stream */
    struct ksi_budget *budget;  /* limits of the unit being worked on */
    pthread_t thread;
} ksi_worker;

/*
 * Read buffers that queued entries point into instead of being copied.
 * A reader fills a chunk, libarchive hands out entries lying inside it,
 * and each entry given to another worker holds a reference; the chunk is
 * refilled once every reference is gone. A pool belongs to one reader.
 */
typedef struct ksi_chunk {
    atomic_int refs;
    struct ksi_chunk_pool *pool;
    unsigned char *data;
} ksi_chunk;

typedef struct ksi_chunk_pool {
    pthread_mutex_t lock;
    pthread_cond_t released;
    ksi_chunk *chunks;
    size_t count;
    size_t size;                /* bytes in each chunk */
} ksi_chunk_pool;

/* Up to `count` chunks of `size` bytes, allocated on first use. */
int ksi_chunk_pool_init(ksi_chunk_pool *pool, size_t count, size_t size);

/*
 * Waits until no queued or running entry refers to the pool (running
 * queued entries itself meanwhile), then frees it.
 */
void ksi_chunk_pool_close(ksi_chunk_pool *pool, struct ksi_worker *w);

/* A chunk nothing refers to, with one reference for the caller, or NULL
 * when every chunk is in use. */
ksi_chunk *ksi_chunk_get(ksi_chunk_pool *pool);
void ksi_chunk_ref(ksi_chunk *chunk);
void ksi_chunk_unref(ksi_chunk *chunk);

/* Runs one queued archive entry on `w`, if one waits; returns 1 if so. */
int ksi_queue_help(struct ksi_worker *w);

/*
 * A byte source the readers pull from: a descriptor, the current entry of
 * an archive, or memory. Every byte read is also fed to `hash` when set (a
 * layer's digest is checked as it streams).
 */
typedef struct ksi_source {
    int fd;                         /* >= 0: read(2) */
    struct archive *outer;          /* else: archive_read_data() */
    struct ksi_inflater *inflater;  /* else: decompressed from `below` */
    struct ksi_source *below;
    const unsigned char *mem;       /* else: memory */
    size_t mem_len;
    size_t mem_pos;
    ksi_sha256 *hash;
    atomic_uint_fast64_t *counter;  /* when set, counts the bytes read */
    struct ksi_budget *budget;      /* when set, counts them against it */
    const unsigned char *pending;   /* peeked bytes given back first */
    size_t n_pending;
    char error[256];                /* why the last read failed */
} ksi_source;

void ksi_source_fd(ksi_source *s, int fd);
void ksi_source_archive(ksi_source *s, struct archive *outer);

/* Reads what is left of a source (into its hash). */
void ksi_source_drain(ksi_source *s);

/* What a source is, for locations: its chain, depth, layer. */
typedef struct ksi_read_ctx {
    const char *input;
    const char *const *chain;
    size_t chain_len;
    unsigned flags;
    unsigned depth;             /* archive levels around the source */
    struct ksi_layer *layer;
    int parallel;               /* queue small archive entries */
} ksi_read_ctx;

/*
 * Scans a source: an archive entry by entry (nested archives opened up to
 * max_depth), anything else as plain bytes. `size` is UINT64_MAX when
 * unknown. Returns 0, or -1 when in-memory bytes that look like an archive
 * could not be read as one (nothing was reported; scan them as bytes).
 */
int ksi_read_source(ksi_worker *w, ksi_source *src, uint64_t size,
                    const ksi_read_ctx *rc);

/* Blocks until every queued job has been scanned. */
void ksi_queue_wait_idle(ks_scan *s);

/* The thread that calls on_progress (ticker.c). */
typedef struct ksi_ticker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
    int running;
} ksi_ticker;

/* Starts calling on_progress, if set, until ksi_ticker_stop(). */
void ksi_ticker_start(ks_scan *s);
void ksi_ticker_stop(ks_scan *s);

struct ks_scan {
    const ks_ruleset *rules;
    ks_scan_options opts;
    pthread_mutex_t cb_lock;        /* callbacks run one at a time */
    atomic_int stop;
    ksi_queue queue;
    ksi_worker self;                /* for ks_scan_buffer and the producer */
    int self_ready;
    ksi_ticker ticker;
    ks_rule_stats *rule_stats;      /* per rule, summed after each run */
    struct ksi_rule_dbs *rule_dbs;  /* profile_rules >= 2: each rule alone */
    struct ksi_layer_map *layers;   /* image layers seen in this run */

    atomic_uint_fast64_t inputs, entries, bytes, findings;
    atomic_uint_fast64_t warnings, errors, skipped;
    atomic_uint_fast64_t images, layers_scanned, layers_reused;
    atomic_uint_fast64_t layers_cached, layers_total, layers_done;
    atomic_uint_fast64_t units_other_shard, stored_bytes, stored_total;
    atomic_uint_fast64_t layer_findings;
    atomic_uint_fast64_t unpacked;  /* against max_total_unpacked */
};

/* Queues a job; blocks while the queue is full. Takes ownership. */
void ksi_queue_push(ks_scan *s, ksi_job *job);

/*
 * Should a reader hand an entry of `len` bytes to another worker rather
 * than scan it itself? Yes when a worker is idle, or when some worker is
 * scanning entries (not reading an archive of its own) and few enough wait
 * that it may soon be idle; no when every other worker is reading too (a
 * copy would only cost) or the byte budget is spent. A reader never waits
 * for room.
 */
int ksi_queue_wants(ks_scan *s, size_t len);

/* A worker starts (+1) or stops (-1) reading an archive whose entries
 * it may hand over. */
void ksi_queue_reading(ks_scan *s, int delta);

/* Queues an archive entry without waiting. Takes ownership. */
void ksi_queue_push_entry(ks_scan *s, ksi_job *job);

/*
 * Runs call(worker, arg) on a worker thread; `arg` is freed with arg_free
 * afterwards, or unrun if the scan stops first. Blocks while the queue is
 * full. Returns 0, or -1 when out of memory (nothing was queued and arg is
 * freed).
 */
int ksi_queue_call(ks_scan *s, void (*call)(struct ksi_worker *, void *),
                   void *arg, void (*arg_free)(void *));

void ksi_job_free(ksi_job *job);

/* Builds a job whose chain is `chain` plus, if non-NULL, `last`. */
ksi_job *ksi_job_new(ksi_job_kind kind, const char *input,
                     const char *const *chain, size_t chain_len,
                     const char *last);

/*
 * Reports a diagnostic on the location `chain` (of `chain_len` elements)
 * inside `input`. Returns nonzero if the caller asked to stop.
 */
int ksi_report(ks_scan *s, ks_diag_level level, ks_status status,
               const char *input, const char *const *chain,
               size_t chain_len, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/*
 * Hands a finding to the caller's callback (or, in records mode, as a
 * record). Returns nonzero to stop.
 */
int ksi_emit_finding(ks_scan *s, const ks_finding *f);

/* Hands a diagnostic to the caller, counting it. Returns nonzero to stop. */
int ksi_emit_diag(ks_scan *s, const ks_diag *d);

/* The sink that routes a matcher's output to the scan's callbacks. */
void ksi_scan_sink(ks_scan *s, ksi_sink *sink);

/* Counts a finished entry and calls the progress callback when due. */
void ksi_entry_done(ks_scan *s, uint64_t bytes);

static inline int ksi_stopped(ks_scan *s)
{
    return atomic_load_explicit(&s->stop, memory_order_relaxed);
}

/*
 * Walks the directory `path` of an input, queueing every regular file.
 * Locations are built from `path`; diagnostics name `input`. (walk.c)
 */
void ksi_walk(ks_scan *s, const char *input, const char *path);

/*
 * If `input` is "pid:PID", scans that process's environment and root
 * filesystem and returns 1; returns 0 for any other input. (process.c)
 */
int ksi_scan_process_input(ks_scan *s, const char *input);

/*
 * Scans an open descriptor: detects an archive or compressed stream by its
 * first bytes and reads it entry by entry, or scans plain bytes whole or
 * streamed. `size` is the size if known, else UINT64_MAX. With `parallel`,
 * an archive's small entries are queued for the workers. (reader.c)
 */
void ksi_scan_fd(ksi_worker *w, int fd, uint64_t size, const char *input,
                 const char *const *chain, size_t chain_len, int parallel);

/* Opens a regular file by path and scans it. (reader.c) */
void ksi_scan_file(ksi_worker *w, const char *input,
                   const char *const *chain, size_t chain_len);

/* Scans bytes in memory as one entry, block or streamed. (reader.c) */
void ksi_scan_memory(ksi_worker *w, const ksi_entry *entry,
                     const unsigned char *data, size_t len);

#endif
