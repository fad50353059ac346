/*
 * db_cache.h - compiled Hyperscan databases kept on disk, so a CI gate
 * starts without recompiling the rules.
 */
#ifndef KSI_DB_CACHE_H
#define KSI_DB_CACHE_H

#include <hs/hs.h>

#include <stddef.h>
#include <stdint.h>

/* What compiling learnt about each rule, kept beside the databases. */
typedef struct ksi_rule_meta {
    uint32_t hs_flags;
    uint32_t lookback;
} ksi_rule_meta;

/*
 * Loads the block and stream databases stored under `key` (hex) in `dir`,
 * and the `n` rules' metadata into meta[]. Returns 0 with everything set,
 * or -1 (nothing set) when there is no usable entry: missing, torn, for
 * another rule count, or built for another Hyperscan or CPU.
 */
int ksi_db_cache_load(const char *dir, const char *key,
                      hs_database_t **block, hs_database_t **stream,
                      ksi_rule_meta *meta, size_t n);

/*
 * Stores both databases and the rules' metadata under `key`, atomically
 * (a reader never sees half a file). Failures are ignored: the cache only
 * saves time.
 */
void ksi_db_cache_store(const char *dir, const char *key,
                        const hs_database_t *block,
                        const hs_database_t *stream,
                        const ksi_rule_meta *meta, size_t n);

#endif
