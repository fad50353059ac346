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

#include <pthread.h>
#include <stdatomic.h>

typedef enum ksi_job_kind {
    KSI_JOB_FILE,       /* open `chain`'s last element and scan it */
    KSI_JOB_BUFFER,     /* scan `data`, an archive entry read whole */
} ksi_job_kind;

typedef struct ksi_job {
    struct ksi_job *next;
    ksi_job_kind kind;
    const char *input;      /* as the caller named it; outlives the run */
    char **chain;           /* owned */
    size_t chain_len;
    unsigned flags;
    unsigned char *data;    /* owned; KSI_JOB_BUFFER only */
    size_t len;
} ksi_job;

/* A FIFO of jobs bounded by KSI_QUEUE_BYTES and KSI_QUEUE_ITEMS. */
typedef struct ksi_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    ksi_job *head;
    ksi_job *tail;
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
    pthread_t thread;
} ksi_worker;

struct ks_scan {
    const ks_ruleset *rules;
    ks_scan_options opts;
    pthread_mutex_t cb_lock;        /* callbacks run one at a time */
    atomic_int stop;
    ksi_queue queue;
    ksi_worker self;                /* for ks_scan_buffer and the producer */
    int self_ready;
    struct timespec last_progress;
    ks_rule_stats *rule_stats;      /* per rule, summed after each run */

    atomic_uint_fast64_t inputs, entries, bytes, findings;
    atomic_uint_fast64_t warnings, errors, skipped;
};

/* Queues a job; blocks while the queue is full. Takes ownership. */
void ksi_queue_push(ks_scan *s, ksi_job *job);

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

/* The sink that routes a matcher's output to the scan's callbacks. */
void ksi_scan_sink(ks_scan *s, ksi_sink *sink);

/* Counts a finished entry and calls the progress callback when due. */
void ksi_entry_done(ks_scan *s, uint64_t bytes);

static inline int ksi_stopped(ks_scan *s)
{
    return atomic_load_explicit(&s->stop, memory_order_relaxed);
}

/* Walks a directory input, queueing every regular file. (walk.c) */
void ksi_walk(ks_scan *s, const char *input);

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
