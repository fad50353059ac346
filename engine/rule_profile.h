/*
 * rule_profile.h - each rule's pattern compiled alone, so that a profiling
 * scan can time what every rule costs the candidate stage by itself (the
 * shared database serves all rules in one pass and cannot be divided).
 */
#ifndef KSI_RULE_PROFILE_H
#define KSI_RULE_PROFILE_H

#include "keysift.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ksi_rule_dbs ksi_rule_dbs;

/* Compiles one block-mode database per rule. NULL when out of memory or
 * when Hyperscan refuses a pattern it took in the shared database. */
ksi_rule_dbs *ksi_rule_dbs_new(const ks_ruleset *rules);
void ksi_rule_dbs_free(ksi_rule_dbs *dbs);

/* A thread's scratch space for every per-rule database. */
typedef struct ksi_rule_scratch ksi_rule_scratch;

ksi_rule_scratch *ksi_rule_scratch_new(const ksi_rule_dbs *dbs);
void ksi_rule_scratch_free(ksi_rule_scratch *scratch);

/* Runs every rule's database over `len` bytes, adding each one's time in
 * nanoseconds to ns[rule]. */
void ksi_rule_dbs_time(const ksi_rule_dbs *dbs, ksi_rule_scratch *scratch,
                       const void *data, size_t len, ks_rule_stats *stats);

#endif
