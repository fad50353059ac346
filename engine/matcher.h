/*
 * matcher.h - scanning one entry's bytes: Hyperscan finds candidate ends for
 * every rule at once, PCRE2 confirms each candidate in a bounded window and
 * extracts the secret, and each confirmed secret is located (line, column,
 * offset) and handed to a sink.
 *
 * A matcher belongs to one thread. It owns a Hyperscan scratch space, PCRE2
 * match data and a JIT stack, and the buffer that streaming keeps.
 */
#ifndef KSI_MATCHER_H
#define KSI_MATCHER_H

#include "keysift.h"

#include <stddef.h>
#include <stdint.h>

struct ksi_layer;

/*
 * What an entry is called: its input and its container chain, plus, inside
 * container images, the layer it belongs to or the image location of a
 * config field.
 */
typedef struct ksi_entry {
    const char *input;
    const char *const *chain;
    size_t chain_len;
    unsigned flags;             /* KS_LOC_* */
    unsigned depth;             /* archive levels around the entry */
    struct ksi_layer *layer;    /* findings are kept for this layer */
    const ks_location *image;   /* image fields to report, or NULL */
} ksi_entry;

/*
 * Where confirmed findings and per-entry diagnostics go. Each function
 * returns nonzero to stop scanning.
 */
typedef struct ksi_sink {
    int (*finding)(void *ctx, const ksi_entry *entry,
                   const ks_finding *finding);
    int (*diag)(void *ctx, const ksi_entry *entry, ks_diag_level level,
                ks_status status, const char *message);
    void *ctx;
} ksi_sink;

typedef struct ksi_matcher ksi_matcher;

/*
 * Creates a matcher for a compiled rule set; with `profile`, it times the
 * capture pass per rule. NULL when out of memory.
 */
ksi_matcher *ksi_matcher_new(const ks_ruleset *rules, int profile);

struct ksi_rule_dbs;

/*
 * Has the matcher also time every rule's pattern alone over the bytes it
 * scans (profile_rules >= 2). `dbs` must outlive the matcher. Returns 0,
 * or -1 when out of memory.
 */
int ksi_matcher_time_rules(ksi_matcher *m, const struct ksi_rule_dbs *dbs);

/* Adds the matcher's per-rule counters to acc[] and zeroes its own. */
void ksi_matcher_drain_stats(ksi_matcher *m, ks_rule_stats *acc);
void ksi_matcher_free(ksi_matcher *m);

/*
 * Scans a whole entry held in memory. Returns KS_OK, KS_STOPPED (the sink
 * asked to stop) or KS_ERR_MATCHER. `len` must be below 4 GiB.
 */
ks_status ksi_match_block(ksi_matcher *m, const ksi_entry *entry,
                          const void *data, size_t len, const ksi_sink *sink);

/*
 * Streams an entry of any size in bounded memory:
 *
 *     ksi_stream_open(m, entry, sink);
 *     while (more) {
 *         void *space; size_t room;
 *         ksi_stream_space(m, &space, &room);
 *         n = read(fd, space, room);
 *         ksi_stream_commit(m, n);
 *     }
 *     ksi_stream_close(m);
 *
 * Each call returns KS_OK, KS_STOPPED or an error; after anything but KS_OK
 * the caller still calls ksi_stream_close(), which then only cleans up.
 */
ks_status ksi_stream_open(ksi_matcher *m, const ksi_entry *entry,
                          const ksi_sink *sink);
void ksi_stream_space(ksi_matcher *m, void **space, size_t *room);
ks_status ksi_stream_commit(ksi_matcher *m, size_t len);
ks_status ksi_stream_close(ksi_matcher *m);

#endif
