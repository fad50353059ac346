/*
 * ticker.c - the progress callback's clock.
 *
 * Progress is reported from a thread of its own, ten times a second and
 * once at the start, rather than when work happens to finish: a single
 * layer or file can take minutes, and a progress line that stops moving
 * for that long looks like a hang. The thread only reads counters and
 * calls the callback under the scan's callback lock.
 */
#include "scan.h"

#include <errno.h>
#include <time.h>

/* Nanoseconds between two progress reports. */
#define TICK_NS 100000000L

static void report(ks_scan *s)
{
    ks_scan_stats st;

    ks_scan_get_stats(s, &st);
    pthread_mutex_lock(&s->cb_lock);
    if (s->opts.on_progress(&st, s->opts.user))
        atomic_store(&s->stop, 1);
    pthread_mutex_unlock(&s->cb_lock);
}

static void *tick_main(void *arg)
{
    ks_scan *s = arg;
    ksi_ticker *t = &s->ticker;
    struct timespec next;

    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        pthread_mutex_unlock(&t->lock);
        report(s);
        pthread_mutex_lock(&t->lock);
        next.tv_nsec += TICK_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        while (!t->stop && pthread_cond_timedwait(&t->wake, &t->lock,
                                                  &next) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

void ksi_ticker_start(ks_scan *s)
{
    ksi_ticker *t = &s->ticker;
    pthread_condattr_t attr;

    t->running = 0;
    t->stop = 0;
    if (!s->opts.on_progress)
        return;
    if (pthread_mutex_init(&t->lock, NULL))
        return;
    if (pthread_condattr_init(&attr) ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) ||
        pthread_cond_init(&t->wake, &attr)) {
        pthread_mutex_destroy(&t->lock);
        return;
    }
    pthread_condattr_destroy(&attr);
    if (pthread_create(&t->thread, NULL, tick_main, s) == 0) {
        t->running = 1;
        return;
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
}

void ksi_ticker_stop(ks_scan *s)
{
    ksi_ticker *t = &s->ticker;

    if (!t->running)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    t->running = 0;
}
