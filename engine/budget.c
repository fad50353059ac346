/*
 * budget.c - counting what a unit of input costs against the scan's
 * limits (see budget.h).
 */
#include "budget.h"

#include "alloc.h"
#include "image_scan.h"
#include "input_limits.h"
#include "scan.h"

#include <stdio.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int ksi_unit_begin(ksi_worker *w, ksi_budget **prev, const char *input,
                   const char *const *chain, size_t chain_len)
{
    const ks_scan_options *o = &w->scan->opts;
    ksi_budget *b = ksi_calloc(1, sizeof(*b));

    if (!b) {
        ksi_report(w->scan, KS_DIAG_ERROR, KS_ERR_NOMEM, input, chain,
                   chain_len, "out of memory");
        return -1;
    }
    atomic_init(&b->refs, 1);
    if (o->max_seconds)
        b->deadline_ns = now_ns() + (uint64_t)o->max_seconds * 1000000000u;
    *prev = w->budget;
    w->budget = b;
    return 0;
}

void ksi_unit_end(ksi_worker *w, ksi_budget *prev)
{
    ksi_budget_unref(w->budget);
    w->budget = prev;
}

ksi_budget *ksi_budget_ref(ksi_budget *b)
{
    if (b)
        atomic_fetch_add(&b->refs, 1);
    return b;
}

void ksi_budget_unref(ksi_budget *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        ksi_free(b);
}

int ksi_budget_spent(const ksi_worker *w)
{
    return w->budget && atomic_load(&w->budget->spent);
}

char *ksi_bytes_str(uint64_t n, char *out, size_t cap)
{
    static const char units[] = "KMGT";
    int shift = 40;

    for (int i = 3; i >= 0; i--, shift -= 10) {
        if (n >= (1ull << shift) && n % (1ull << shift) == 0) {
            snprintf(out, cap, "%llu%c", (unsigned long long)(n >> shift),
                     units[i]);
            return out;
        }
    }
    snprintf(out, cap, "%llu", (unsigned long long)n);
    return out;
}

/*
 * Which limit, if any, the unit has reached; writes the warning's text.
 * Returns 1 when one is reached.
 */
static int over_limit(ks_scan *s, const ksi_budget *b, uint64_t unpacked,
                      uint64_t total, char *why, size_t cap)
{
    const ks_scan_options *o = &s->opts;
    uint64_t raw = atomic_load(&b->raw);
    char num[32];

    if (o->max_unpacked && unpacked > o->max_unpacked) {
        snprintf(why, cap, "more than %s bytes unpacked from this input "
                 "(--max-bytes)",
                 ksi_bytes_str(o->max_unpacked, num, sizeof(num)));
        return 1;
    }
    if (o->max_total_unpacked && total > o->max_total_unpacked) {
        snprintf(why, cap, "more than %s bytes unpacked in this run "
                 "(--max-total-bytes)",
                 ksi_bytes_str(o->max_total_unpacked, num, sizeof(num)));
        return 1;
    }
    if (o->max_ratio && raw && unpacked > KSI_RATIO_FLOOR &&
        unpacked / raw > o->max_ratio) {
        snprintf(why, cap, "%llu bytes unpacked from %llu read, more than "
                 "%u times as many (--max-ratio): a decompression bomb?",
                 (unsigned long long)unpacked, (unsigned long long)raw,
                 o->max_ratio);
        return 1;
    }
    if (b->deadline_ns && now_ns() > b->deadline_ns) {
        snprintf(why, cap, "more than %u s spent on this input "
                 "(--max-time)", o->max_seconds);
        return 1;
    }
    return 0;
}

int ksi_budget_take(ksi_worker *w, const ksi_entry *e, uint64_t n)
{
    ks_scan *s = w->scan;
    ksi_budget *b = w->budget;
    uint64_t unpacked, total;
    char why[256];

    if (!b)
        return 0;
    if (atomic_load(&b->spent))
        return -1;
    /* Bytes of a plain file or stream were not unpacked from anything;
     * only the clock counts for them. */
    if (e->depth == 0 || n == 0) {
        unpacked = atomic_load(&b->unpacked);
        total = atomic_load(&s->unpacked);
    } else {
        unpacked = atomic_fetch_add(&b->unpacked, n) + n;
        total = atomic_fetch_add(&s->unpacked, n) + n;
    }
    if (!over_limit(s, b, unpacked, total, why, sizeof(why)))
        return 0;
    /* Reported once, by whichever thread sees it first. */
    if (atomic_exchange(&b->spent, 1))
        return -1;
    if (e->layer)
        ksi_layer_failed(e->layer);
    ksi_report(s, KS_DIAG_WARNING, KS_WARN_LIMIT, e->input, e->chain,
               e->chain_len, "limit reached: %s; the rest of this input is "
               "not scanned", why);
    return -1;
}
