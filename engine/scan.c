/*
 * scan.c - the scan handle: options, the worker pool and its queue, and the
 * one place where findings and diagnostics reach the caller's callbacks.
 */
#include "scan.h"

#include "alloc.h"
#include "budget.h"
#include "image_scan.h"
#include "input_limits.h"
#include "rule_profile.h"
#include "ruleset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ks_scan_options_init(ks_scan_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->block_max = KSI_DEFAULT_BLOCK_MAX;
    opts->max_unpacked = KSI_DEFAULT_MAX_UNPACKED;
    opts->max_total_unpacked = KSI_DEFAULT_MAX_TOTAL_UNPACKED;
    opts->max_ratio = KSI_DEFAULT_MAX_RATIO;
    opts->max_entries = KSI_DEFAULT_MAX_ENTRIES;
    opts->max_seconds = KSI_DEFAULT_MAX_SECONDS;
    opts->max_path = KSI_MAX_PATH;
}

/* ---- callbacks ---------------------------------------------------------- */

static void request_stop(ks_scan *s)
{
    atomic_store(&s->stop, 1);
}

/* Joins a chain into "a / b / c" in `out`. */
static void join_chain(const char *const *chain, size_t n, char *out,
                       size_t cap)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s", i ? " / " : "",
                         chain[i]);

        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int ksi_emit_finding(ks_scan *s, const ks_finding *f)
{
    int stop = 0;

    atomic_fetch_add(&s->findings, 1);
    if (s->opts.on_record) {
        stop = ksi_record_finding(s, f);
    } else if (s->opts.on_finding) {
        pthread_mutex_lock(&s->cb_lock);
        stop = s->opts.on_finding(f, s->opts.user);
        pthread_mutex_unlock(&s->cb_lock);
    }
    if (stop)
        request_stop(s);
    return stop || ksi_stopped(s);
}

int ksi_report(ks_scan *s, ks_diag_level level, ks_status status,
               const char *input, const char *const *chain,
               size_t chain_len, const char *fmt, ...)
{
    char where[KSI_MAX_PATH], message[1024];
    ks_diag d;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    join_chain(chain, chain_len, where, sizeof(where));
    if (!where[0])
        snprintf(where, sizeof(where), "%s", input);
    d = (ks_diag){ level, status, input, where, message };
    return ksi_emit_diag(s, &d);
}

int ksi_emit_diag(ks_scan *s, const ks_diag *d)
{
    int stop = 0;

    atomic_fetch_add(d->level == KS_DIAG_ERROR ? &s->errors : &s->warnings,
                     1);
    if (s->opts.on_diag) {
        pthread_mutex_lock(&s->cb_lock);
        stop = s->opts.on_diag(d, s->opts.user);
        pthread_mutex_unlock(&s->cb_lock);
    }
    if (s->opts.on_record)
        ksi_record_diag(s, d);
    if (stop)
        request_stop(s);
    return stop;
}

static int sink_finding(void *ctx, const ksi_entry *e, const ks_finding *f)
{
    ks_scan *s = ctx;

    /* A layer's findings wait until every image holding it is known. */
    if (e->layer)
        return ksi_layer_keep(s, e->layer, f) || ksi_stopped(s);
    return ksi_emit_finding(s, f);
}

static int sink_diag(void *ctx, const ksi_entry *e, ks_diag_level level,
                     ks_status status, const char *message)
{
    if (e->layer && level == KS_DIAG_ERROR)
        ksi_layer_failed(e->layer);
    return ksi_report(ctx, level, status, e->input, e->chain, e->chain_len,
                      "%s", message);
}

void ksi_scan_sink(ks_scan *s, ksi_sink *sink)
{
    sink->finding = sink_finding;
    sink->diag = sink_diag;
    sink->ctx = s;
}

void ksi_entry_done(ks_scan *s, uint64_t bytes)
{
    atomic_fetch_add(&s->entries, 1);
    atomic_fetch_add(&s->bytes, bytes);
}

void ks_scan_get_stats(const ks_scan *s, ks_scan_stats *out)
{
    ks_scan *m = (ks_scan *)s;  /* atomics are read, never written */

    out->inputs = atomic_load(&m->inputs);
    out->entries = atomic_load(&m->entries);
    out->bytes = atomic_load(&m->bytes);
    out->findings = atomic_load(&m->findings);
    out->warnings = atomic_load(&m->warnings);
    out->errors = atomic_load(&m->errors);
    out->skipped = atomic_load(&m->skipped);
    out->images = atomic_load(&m->images);
    out->layers_scanned = atomic_load(&m->layers_scanned);
    out->layers_reused = atomic_load(&m->layers_reused);
    out->layers_cached = atomic_load(&m->layers_cached);
    out->layers_total = atomic_load(&m->layers_total);
    out->layers_done = atomic_load(&m->layers_done);
    out->units_other_shard = atomic_load(&m->units_other_shard);
    out->stored_bytes = atomic_load(&m->stored_bytes);
    out->stored_total = atomic_load(&m->stored_total);
    out->layer_findings = atomic_load(&m->layer_findings);
}

/* ---- jobs and the queue ------------------------------------------------- */

void ksi_job_free(ksi_job *job)
{
    if (!job)
        return;
    for (size_t i = 0; i < job->chain_len; i++)
        ksi_free(job->chain[i]);
    ksi_free(job->chain);
    ksi_free(job->data);
    if (job->chunk)
        ksi_chunk_unref(job->chunk);
    if (job->arg_free)
        job->arg_free(job->arg);
    ksi_budget_unref(job->budget);
    ksi_free(job);
}

ksi_job *ksi_job_new(ksi_job_kind kind, const char *input,
                     const char *const *chain, size_t chain_len,
                     const char *last)
{
    ksi_job *job = ksi_calloc(1, sizeof(*job));
    size_t n = chain_len + (last != NULL);

    if (!job)
        return NULL;
    job->kind = kind;
    job->input = input;
    job->chain = ksi_calloc(n, sizeof(*job->chain));
    if (!job->chain)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        job->chain[i] = ksi_strdup(i < chain_len ? chain[i] : last);
        if (!job->chain[i])
            goto fail;
        job->chain_len++;
    }
    return job;

fail:
    ksi_job_free(job);
    return NULL;
}

static int queue_init(ksi_queue *q)
{
    memset(q, 0, sizeof(*q));
    if (pthread_mutex_init(&q->lock, NULL))
        return -1;
    if (pthread_cond_init(&q->not_empty, NULL)) {
        pthread_mutex_destroy(&q->lock);
        return -1;
    }
    if (pthread_cond_init(&q->not_full, NULL)) {
        pthread_cond_destroy(&q->not_empty);
        pthread_mutex_destroy(&q->lock);
        return -1;
    }
    if (pthread_cond_init(&q->idle, NULL)) {
        pthread_cond_destroy(&q->not_full);
        pthread_cond_destroy(&q->not_empty);
        pthread_mutex_destroy(&q->lock);
        return -1;
    }
    return 0;
}

static void queue_destroy(ksi_queue *q)
{
    pthread_cond_destroy(&q->idle);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->lock);
}

/*
 * Entries waiting below this many bytes keep the other workers fed while
 * the reader scans an entry of its own; past it, the reader scans what it
 * reads until a worker falls idle.
 */
#define QUEUE_LOW_WATER (16u << 20)

static void fifo_put(ksi_fifo *f, ksi_job *job)
{
    job->next = NULL;
    if (f->tail)
        f->tail->next = job;
    else
        f->head = job;
    f->tail = job;
}

static ksi_job *fifo_take(ksi_fifo *f)
{
    ksi_job *job = f->head;

    if (job) {
        f->head = job->next;
        if (!f->head)
            f->tail = NULL;
    }
    return job;
}

static void queue_add(ksi_queue *q, ksi_job *job)
{
    /* A layer is finished once no job of it is left. */
    if (job->layer)
        ksi_layer_hold(job->layer);
    fifo_put(job->kind == KSI_JOB_BUFFER ? &q->entries : &q->inputs, job);
    q->items++;
    q->bytes += job->len;
    pthread_cond_signal(&q->not_empty);
}

void ksi_queue_push(ks_scan *s, ksi_job *job)
{
    ksi_queue *q = &s->queue;

    pthread_mutex_lock(&q->lock);
    /* An entry bigger than the whole budget still goes, alone. */
    while (q->items > 0 && (q->items >= KSI_QUEUE_ITEMS ||
                            q->bytes + job->len > KSI_QUEUE_BYTES))
        pthread_cond_wait(&q->not_full, &q->lock);
    queue_add(q, job);
    pthread_mutex_unlock(&q->lock);
}

int ksi_queue_wants(ks_scan *s, size_t len)
{
    ksi_queue *q = &s->queue;
    int yes;

    pthread_mutex_lock(&q->lock);
    yes = q->workers > 1 && q->items < KSI_QUEUE_ITEMS &&
          q->bytes + len <= KSI_QUEUE_BYTES &&
          (q->waiting > 0 ||
           (q->readers < q->workers && q->bytes < QUEUE_LOW_WATER));
    pthread_mutex_unlock(&q->lock);
    return yes;
}

void ksi_queue_reading(ks_scan *s, int delta)
{
    ksi_queue *q = &s->queue;

    pthread_mutex_lock(&q->lock);
    q->readers = (size_t)((long)q->readers + delta);
    pthread_mutex_unlock(&q->lock);
}

void ksi_queue_push_entry(ks_scan *s, ksi_job *job)
{
    ksi_queue *q = &s->queue;

    pthread_mutex_lock(&q->lock);
    queue_add(q, job);
    pthread_mutex_unlock(&q->lock);
}

int ksi_queue_call(ks_scan *s, void (*call)(ksi_worker *, void *),
                   void *arg, void (*arg_free)(void *))
{
    ksi_job *job = ksi_calloc(1, sizeof(*job));

    if (!job) {
        arg_free(arg);
        return -1;
    }
    job->kind = KSI_JOB_CALL;
    job->call = call;
    job->arg = arg;
    job->arg_free = arg_free;
    ksi_queue_push(s, job);
    return 0;
}

/* Counts a job taken off the queue (none when NULL) as running. */
static void queue_taken(ksi_queue *q, const ksi_job *job)
{
    if (!job)
        return;
    q->items--;
    q->bytes -= job->len;
    q->running++;
    pthread_cond_broadcast(&q->not_full);
}

static ksi_job *queue_pop(ksi_queue *q)
{
    ksi_job *job;

    pthread_mutex_lock(&q->lock);
    q->waiting++;
    /* After the close, a running job may still queue entries: workers
     * leave only once nothing is queued or running. */
    while (!q->entries.head && !q->inputs.head &&
           !(q->closed && q->running == 0))
        pthread_cond_wait(&q->not_empty, &q->lock);
    q->waiting--;
    job = fifo_take(&q->entries);
    if (!job)
        job = fifo_take(&q->inputs);
    queue_taken(q, job);
    pthread_mutex_unlock(&q->lock);
    return job;
}

static void queue_job_done(ksi_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->running--;
    if (!q->entries.head && !q->inputs.head && q->running == 0) {
        pthread_cond_broadcast(&q->idle);
        if (q->closed)
            pthread_cond_broadcast(&q->not_empty);
    }
    pthread_mutex_unlock(&q->lock);
}

void ksi_queue_wait_idle(ks_scan *s)
{
    ksi_queue *q = &s->queue;

    pthread_mutex_lock(&q->lock);
    while (q->entries.head || q->inputs.head || q->running)
        pthread_cond_wait(&q->idle, &q->lock);
    pthread_mutex_unlock(&q->lock);
}

static void queue_close(ksi_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

/* ---- workers ------------------------------------------------------------ */

static int worker_init(ksi_worker *w, ks_scan *s)
{
    memset(w, 0, sizeof(*w));
    w->scan = s;
    w->matcher = ksi_matcher_new(s->rules, s->opts.profile_rules);
    if (w->matcher && s->rule_dbs &&
        ksi_matcher_time_rules(w->matcher, s->rule_dbs))
        return -1;
    return w->matcher ? 0 : -1;
}

static void worker_clear(ksi_worker *w)
{
    if (w->matcher)
        ksi_matcher_drain_stats(w->matcher, w->scan->rule_stats);
    ksi_matcher_free(w->matcher);
    ksi_free(w->buf);
    memset(w, 0, sizeof(*w));
}

/* A file the caller named, read by a worker (links are followed). */
static void scan_named_file(ksi_worker *w, const char *input)
{
    const char *chain[1] = { input };
    struct stat sb;
    int fd = open(input, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_IO, input, chain, 1, "%s",
                   strerror(errno));
        return;
    }
    if (fstat(fd, &sb) != 0)
        sb.st_mode = 0;
    ksi_scan_fd(w, fd, S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size
                                           : UINT64_MAX,
                input, chain, 1, 1);
    close(fd);
}

static void run_job(ksi_worker *w, ksi_job *job)
{
    const char *const *chain = (const char *const *)job->chain;

    if (ksi_stopped(w->scan))
        return;
    if (job->kind == KSI_JOB_FILE) {
        ksi_scan_file(w, job->input, chain, job->chain_len);
    } else if (job->kind == KSI_JOB_INPUT) {
        scan_named_file(w, job->input);
    } else if (job->kind == KSI_JOB_CALL) {
        job->call(w, job->arg);
    } else {
        ksi_entry e = { job->input, chain, job->chain_len, job->flags,
                        job->depth, job->layer, NULL };

        ksi_scan_memory(w, &e, job->view ? job->view : job->data, job->len);
    }
}

/*
 * Runs a job taken off the queue and lets go of it. A reader may run one
 * while it is in the middle of a unit of its own, so the unit's budget is
 * put back afterwards.
 */
static void finish_job(ksi_worker *w, ksi_job *job)
{
    ksi_budget *own = w->budget;

    w->budget = job->budget;
    run_job(w, job);
    w->budget = own;
    if (job->layer)
        ksi_layer_release(w->scan, job->layer);
    ksi_job_free(job);
    queue_job_done(&w->scan->queue);
}

static void *worker_main(void *arg)
{
    ksi_worker *w = arg;
    ksi_job *job;

    while ((job = queue_pop(&w->scan->queue)) != NULL)
        finish_job(w, job);
    return NULL;
}

int ksi_queue_help(ksi_worker *w)
{
    ksi_queue *q = &w->scan->queue;
    ksi_job *job;

    pthread_mutex_lock(&q->lock);
    job = fifo_take(&q->entries);
    queue_taken(q, job);
    pthread_mutex_unlock(&q->lock);
    if (!job)
        return 0;
    finish_job(w, job);
    return 1;
}

/* ---- chunks ------------------------------------------------------------- */

int ksi_chunk_pool_init(ksi_chunk_pool *pool, size_t count, size_t size)
{
    memset(pool, 0, sizeof(*pool));
    pool->chunks = ksi_calloc(count, sizeof(*pool->chunks));
    if (!pool->chunks)
        return -1;
    if (pthread_mutex_init(&pool->lock, NULL)) {
        ksi_free(pool->chunks);
        return -1;
    }
    if (pthread_cond_init(&pool->released, NULL)) {
        pthread_mutex_destroy(&pool->lock);
        ksi_free(pool->chunks);
        return -1;
    }
    pool->count = count;
    pool->size = size;
    for (size_t i = 0; i < count; i++)
        pool->chunks[i].pool = pool;
    return 0;
}

static int pool_in_use(ksi_chunk_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++) {
        if (atomic_load(&pool->chunks[i].refs) > 0)
            return 1;
    }
    return 0;
}

void ksi_chunk_pool_close(ksi_chunk_pool *pool, ksi_worker *w)
{
    /*
     * The last reference is dropped under the lock (ksi_chunk_unref), so
     * once the lock shows none left, no thread will touch the pool again
     * and it can be freed.
     */
    pthread_mutex_lock(&pool->lock);
    while (pool_in_use(pool)) {
        pthread_mutex_unlock(&pool->lock);
        if (!ksi_queue_help(w)) {
            pthread_mutex_lock(&pool->lock);
            if (pool_in_use(pool))
                pthread_cond_wait(&pool->released, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
        }
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->count; i++)
        ksi_free(pool->chunks[i].data);
    ksi_free(pool->chunks);
    pthread_cond_destroy(&pool->released);
    pthread_mutex_destroy(&pool->lock);
}

ksi_chunk *ksi_chunk_get(ksi_chunk_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++) {
        ksi_chunk *c = &pool->chunks[i];

        if (atomic_load(&c->refs) != 0)
            continue;
        if (!c->data && !(c->data = ksi_malloc(pool->size)))
            return NULL;
        atomic_store(&c->refs, 1);
        return c;
    }
    return NULL;
}

void ksi_chunk_ref(ksi_chunk *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void ksi_chunk_unref(ksi_chunk *c)
{
    /* The chunk, and so its pool, lives while this reference does. */
    ksi_chunk_pool *pool = c->pool;

    /*
     * Under the lock, so that a closing reader neither misses the wake-up
     * nor frees the pool while this thread still uses it.
     */
    pthread_mutex_lock(&pool->lock);
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        pthread_cond_broadcast(&pool->released);
    pthread_mutex_unlock(&pool->lock);
}

static unsigned thread_count(const ks_scan_options *o)
{
    long n = o->threads ? (long)o->threads : sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        n = 1;
    if (n > 256)
        n = 256;
    return (unsigned)n;
}

ks_status ks_scan_new(const ks_ruleset *rules, const ks_scan_options *opts,
                      ks_scan **out)
{
    ks_scan *s;

    if (!rules || !out)
        return KS_ERR_ARG;
    if (opts && opts->shard_count > 1 &&
        opts->shard_index >= opts->shard_count)
        return KS_ERR_ARG;
    *out = NULL;
    if (!rules->compiled)
        return KS_ERR_STATE;
    s = ksi_calloc(1, sizeof(*s));
    if (!s)
        return KS_ERR_NOMEM;
    s->rules = rules;
    s->rule_stats = ksi_calloc(rules->count, sizeof(*s->rule_stats));
    if (!s->rule_stats) {
        ksi_free(s);
        return KS_ERR_NOMEM;
    }
    if (opts)
        s->opts = *opts;
    else
        ks_scan_options_init(&s->opts);
    if (s->opts.block_max == 0)
        s->opts.block_max = KSI_DEFAULT_BLOCK_MAX;
    if (s->opts.block_max > UINT32_MAX)
        s->opts.block_max = UINT32_MAX;
    if (s->opts.max_depth == 0)
        s->opts.max_depth = KSI_DEFAULT_MAX_DEPTH;
    /* A location names the input, a layer and one path per level. */
    if (s->opts.max_depth > KSI_MAX_CHAIN - 2)
        s->opts.max_depth = KSI_MAX_CHAIN - 2;
    if (s->opts.max_path == 0 || s->opts.max_path > KSI_MAX_PATH)
        s->opts.max_path = KSI_MAX_PATH;
    if (s->opts.profile_rules >= 2 &&
        !(s->rule_dbs = ksi_rule_dbs_new(rules))) {
        ksi_free(s->rule_stats);
        ksi_free(s);
        return KS_ERR_NOMEM;
    }
    if (pthread_mutex_init(&s->cb_lock, NULL)) {
        ksi_rule_dbs_free(s->rule_dbs);
        ksi_free(s->rule_stats);
        ksi_free(s);
        return KS_ERR_NOMEM;
    }
    *out = s;
    return KS_OK;
}

static int ensure_self(ks_scan *s)
{
    if (!s->self_ready) {
        if (worker_init(&s->self, s))
            return -1;
        s->self_ready = 1;
    }
    return 0;
}

/* Decides what an input is and hands it to the right reader. */
static void scan_input(ks_scan *s, const char *input)
{
    const char *chain[1] = { input };
    struct stat sb;
    int fd;

    atomic_fetch_add(&s->inputs, 1);
    if (ksi_scan_image_input(s, input))
        return;
    if (!ksi_in_shard(s, input)) {
        atomic_fetch_add(&s->units_other_shard, 1);
        return;
    }
    if (ksi_scan_process_input(s, input))
        return;
    if (strcmp(input, "-") == 0) {
        ksi_scan_fd(&s->self, STDIN_FILENO, UINT64_MAX, input, chain, 1, 1);
        return;
    }
    if (stat(input, &sb) != 0) {
        ksi_report(s, KS_DIAG_ERROR, errno == ENOENT ? KS_ERR_NOT_FOUND
                                                     : KS_ERR_IO,
                   input, chain, 1, "%s", strerror(errno));
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        ksi_walk(s, input, input);
        return;
    }
    /* A regular file is read by a worker, so that several inputs (layer
     * tarballs, say) are read at once when cores are free. */
    if (S_ISREG(sb.st_mode)) {
        ksi_job *job = ksi_job_new(KSI_JOB_INPUT, input, chain, 1, NULL);

        if (job)
            ksi_queue_push(s, job);
        else
            ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, input, chain, 1,
                       "out of memory");
        return;
    }
    fd = open(input, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_IO, input, chain, 1, "%s",
                   strerror(errno));
        return;
    }
    /* A FIFO or a device: read here, its size unknown. */
    ksi_scan_fd(&s->self, fd, UINT64_MAX, input, chain, 1, 1);
    close(fd);
}

/* Starts up to n workers; *why says what stopped it short. */
static unsigned start_workers(ks_scan *s, ksi_worker *pool, unsigned n,
                              ks_status *why)
{
    unsigned started = 0;

    *why = KS_OK;
    for (unsigned i = 0; i < n; i++) {
        if (worker_init(&pool[i], s)) {
            worker_clear(&pool[i]);
            *why = KS_ERR_NOMEM;
            break;
        }
        if (pthread_create(&pool[i].thread, NULL, worker_main, &pool[i])) {
            worker_clear(&pool[i]);
            *why = KS_ERR_THREAD;
            break;
        }
        started++;
    }
    return started;
}

ks_status ks_scan_run(ks_scan *s, const char *const *inputs, size_t n)
{
    unsigned want, started;
    ksi_worker *pool;
    ks_status why;

    if (!s || (!inputs && n))
        return KS_ERR_ARG;
    if (ensure_self(s))
        return KS_ERR_NOMEM;
    want = thread_count(&s->opts);
    pool = ksi_calloc(want, sizeof(*pool));
    if (!pool)
        return KS_ERR_NOMEM;
    if (queue_init(&s->queue)) {
        ksi_free(pool);
        return KS_ERR_THREAD;
    }
    started = start_workers(s, pool, want, &why);
    pthread_mutex_lock(&s->queue.lock);
    s->queue.workers = started;
    pthread_mutex_unlock(&s->queue.lock);
    if (started == 0) {
        queue_destroy(&s->queue);
        ksi_free(pool);
        return why;
    }

    atomic_store(&s->unpacked, 0);
    if (s->opts.on_record)
        ksi_records_begin(s, inputs, n);
    ksi_ticker_start(s);
    for (size_t i = 0; i < n && !ksi_stopped(s); i++)
        scan_input(s, inputs[i]);

    queue_close(&s->queue);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(pool[i].thread, NULL);
        worker_clear(&pool[i]);
    }
    /* Jobs left behind by a stop are dropped unscanned. */
    for (ksi_job *j = queue_pop(&s->queue); j; j = queue_pop(&s->queue)) {
        ksi_job_free(j);
        queue_job_done(&s->queue);
    }
    queue_destroy(&s->queue);
    ksi_free(pool);
    ksi_ticker_stop(s);
    ksi_matcher_drain_stats(s->self.matcher, s->rule_stats);
    ksi_layer_map_free(s->layers);
    s->layers = NULL;
    if (s->opts.on_record)
        ksi_records_end(s);
    return ksi_stopped(s) ? KS_STOPPED : KS_OK;
}

ks_status ks_scan_buffer(ks_scan *s, const char *name, const void *data,
                         size_t len)
{
    const char *chain[1] = { name };
    ksi_entry e = { name, chain, 1, 0, 0, NULL, NULL };

    if (!s || !name || (!data && len))
        return KS_ERR_ARG;
    if (ensure_self(s))
        return KS_ERR_NOMEM;
    ksi_scan_memory(&s->self, &e, data, len);
    ksi_matcher_drain_stats(s->self.matcher, s->rule_stats);
    return ksi_stopped(s) ? KS_STOPPED : KS_OK;
}

void ks_scan_free(ks_scan *s)
{
    if (!s)
        return;
    if (s->self_ready)
        worker_clear(&s->self);
    pthread_mutex_destroy(&s->cb_lock);
    ksi_rule_dbs_free(s->rule_dbs);
    ksi_free(s->rule_stats);
    ksi_free(s);
}

ks_status ks_scan_rule_stats(const ks_scan *s, size_t index,
                             ks_rule_stats *out)
{
    if (!s || !out || index >= s->rules->count)
        return KS_ERR_ARG;
    *out = s->rule_stats[index];
    return KS_OK;
}
