/*
 * budget.h - what one unit of input may cost: bytes unpacked from it, the
 * ratio of those to the bytes read, and wall-clock time.
 *
 * A unit is a file named as an input, a file found in a directory,
 * standard input, or one image layer. Its entries may be scanned by other
 * workers than the one reading it, so its budget is reference counted and
 * its counters atomic; each job carries a reference, and a worker keeps
 * the budget of what it is working on in `w->budget`. The first limit the
 * unit reaches is reported once, and everything still working on the unit
 * stops at its next check. The limits themselves are in input_limits.h
 * and ks_scan_options.
 */
#ifndef KSI_BUDGET_H
#define KSI_BUDGET_H

#include "matcher.h"

#include <stdatomic.h>
#include <stdint.h>

struct ksi_worker;

typedef struct ksi_budget {
    atomic_int refs;
    atomic_int spent;               /* a limit was reached: stop */
    atomic_int deep_told;           /* an archive past max_depth was told */
    atomic_uint_fast64_t raw;       /* bytes read from the unit's source */
    atomic_uint_fast64_t unpacked;  /* entry bytes out of its archives and
                                     * compressed streams */
    uint64_t deadline_ns;           /* CLOCK_MONOTONIC; 0 means none */
} ksi_budget;

/*
 * Starts a unit on `w`: a fresh budget becomes w->budget, and the one it
 * replaces is stored in *prev for ksi_unit_end(). Returns 0, or -1 when
 * out of memory (reported on `input` and `chain`; nothing to end).
 */
int ksi_unit_begin(struct ksi_worker *w, ksi_budget **prev,
                   const char *input, const char *const *chain,
                   size_t chain_len);

/* Ends the unit begun by ksi_unit_begin(), putting `prev` back. */
void ksi_unit_end(struct ksi_worker *w, ksi_budget *prev);

/* Takes and drops a reference. NULL is ok. */
ksi_budget *ksi_budget_ref(ksi_budget *b);
void ksi_budget_unref(ksi_budget *b);

/*
 * Counts `n` bytes of entry `e` about to be scanned on `w` (they count as
 * unpacked when the entry lies inside an archive or compressed stream)
 * and checks every limit of the unit and of the run. Returns 0 to go on,
 * or -1 when the unit is spent: the caller scans nothing more of it.
 */
int ksi_budget_take(struct ksi_worker *w, const ksi_entry *e, uint64_t n);

/* ksi_budget_take() with nothing to count: between entries and reads. */
static inline int ksi_budget_check(struct ksi_worker *w, const ksi_entry *e)
{
    return ksi_budget_take(w, e, 0);
}

/* Has the budget of what `w` works on been spent? */
int ksi_budget_spent(const struct ksi_worker *w);

/*
 * Writes a byte count the way limits are given on the command line
 * ("64G", "1536M", "100000") into out[cap]. Returns out.
 */
char *ksi_bytes_str(uint64_t n, char *out, size_t cap);

#endif
