/*
 * progress.c - the live progress line on standard error.
 *
 * One line, redrawn in place several times a second: layers and stored
 * bytes done out of the known total, bytes scanned, the rate, findings so
 * far and an estimate of the time left. It is drawn only on a terminal,
 * is erased before any other line goes to standard error, and leaves
 * nothing behind when the scan ends. Forced on a log file or a pipe
 * (--progress), it is written as a plain line every ten seconds instead.
 * Standard output never sees it.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds between two progress lines written to a log. */
#define LOG_INTERVAL 10.0

static double now_seconds(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void progress_init(progress *p, int mode)
{
    const char *term = getenv("TERM");

    memset(p, 0, sizeof(*p));
    p->start = now_seconds();
    p->tty = isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
    p->on = mode > 0 || (mode < 0 && p->tty);
    p->last = -LOG_INTERVAL;
}

/* "1.2 GB", "340 MB", "12 kB": three significant figures at most. */
static void size_text(char *out, size_t cap, double bytes)
{
    static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
    size_t u = 0;

    while (bytes >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
        bytes /= 1000;
        u++;
    }
    snprintf(out, cap, bytes < 10 && u ? "%.1f %s" : "%.0f %s", bytes,
             units[u]);
}

static void eta_text(char *out, size_t cap, double seconds)
{
    long s = (long)(seconds + 0.5);

    if (s >= 3600)
        snprintf(out, cap, ", ETA %ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(out, cap, ", ETA %ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, cap, ", ETA %lds", s);
}

void progress_draw(progress *p, const ks_scan_stats *st)
{
    double elapsed = now_seconds() - p->start;
    double rate = elapsed > 0 ? (double)st->bytes / elapsed : 0;
    char line[256], scanned[32], speed[32], stored[32], total[32];
    char eta[40] = "";
    size_t used;

    /* A log gets a line once there is something to say, then one every
     * LOG_INTERVAL seconds. */
    if (!p->on || (!p->tty && (elapsed - p->last < LOG_INTERVAL ||
                               (!st->entries && !st->layers_total))))
        return;
    p->last = elapsed;
    size_text(scanned, sizeof(scanned), (double)st->bytes);
    size_text(speed, sizeof(speed), rate);
    if (st->layers_total) {
        double stored_rate = elapsed > 0 ? (double)st->stored_bytes / elapsed
                                         : 0;

        size_text(stored, sizeof(stored), (double)st->stored_bytes);
        size_text(total, sizeof(total), (double)st->stored_total);
        if (stored_rate > 0 && st->stored_total > st->stored_bytes)
            eta_text(eta, sizeof(eta), (double)(st->stored_total -
                                                st->stored_bytes) /
                                           stored_rate);
        used = (size_t)snprintf(line, sizeof(line), "%llu/%llu layers, "
                                "%s of %s read, ",
                                (unsigned long long)st->layers_done,
                                (unsigned long long)st->layers_total,
                                stored, total);
    } else {
        used = (size_t)snprintf(line, sizeof(line), "%llu files, ",
                                (unsigned long long)st->entries);
    }
    if (used < sizeof(line))
        snprintf(line + used, sizeof(line) - used, "%s scanned, %s/s, "
                 "%llu found%s", scanned, speed,
                 (unsigned long long)(st->findings + st->layer_findings),
                 eta);
    if (!p->tty) {
        fprintf(stderr, "keysift: progress: %s\n", line);
        return;
    }
    /* \r and erase-to-end redraw the line in place. */
    fprintf(stderr, "\r\033[Kkeysift: %s", line);
    fflush(stderr);
    p->drawn = 1;
}

void progress_clear(progress *p)
{
    if (!p->drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = 0;
}
