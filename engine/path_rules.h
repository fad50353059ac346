/*
 * path_rules.h - rules that look at an entry's path.
 *
 * A rule with a `path` applies only to entries whose path matches it; a
 * rule with a `path` and no `pattern` is a path rule, reported for every
 * entry whose path matches, whatever the entry holds. Every `path` of a
 * rule set is compiled into one small Hyperscan database. Each entry's path
 * (the last element of its location chain, so a file in a tree, a layer
 * entry and a member of a nested archive alike) is scanned against it once,
 * before any of its content, and the verdict says which rules the entry
 * opened. A rule set without any `path` costs an entry one pointer test.
 */
#ifndef KSI_PATH_RULES_H
#define KSI_PATH_RULES_H

#include "matcher.h"
#include "ruleset.h"

#include <stdint.h>

/* Rules with a `path` one rule set may hold. */
#define KSI_MAX_PATH_GATES 1024u

/* Which path-filtered rules one entry's path opened. */
typedef struct ksi_path_verdict {
    int named;          /* a path rule matched: report it */
    int gated;          /* a path-filtered content rule is open: scan the
                         * entry with the gated databases too */
    uint64_t open[KSI_MAX_PATH_GATES / 64];     /* bit per gate */
} ksi_path_verdict;

/*
 * Compiles the path database of a rule set whose rules are otherwise
 * compiled, and numbers the gates. Leaves rs->db_path NULL when no rule
 * has a `path`. Returns KS_OK, KS_ERR_RULE (naming the rule) or
 * KS_ERR_NOMEM, with the error on the rule set.
 */
ks_status ksi_path_compile(ks_ruleset *rs);

/*
 * Decides which path-filtered rules apply to `entry`, using `scratch` (a
 * clone of the rule set's prototype, owned by the calling thread).
 * Returns 0, or -1 if Hyperscan failed (then no gate is open).
 */
int ksi_path_classify(const ks_ruleset *rs, hs_scratch_t *scratch,
                      const ksi_entry *entry, ksi_path_verdict *v);

/* Whether a rule applies to the entry the verdict was made for. */
static inline int ksi_path_allows(const ksi_path_verdict *v,
                                  const ksi_rule *r)
{
    unsigned g = r->gate - 1;

    return r->gate == 0 || (v->open[g / 64] >> (g % 64) & 1u);
}

/*
 * The secret a path rule reports for an entry: its path, less the
 * directory input it was found under (so the fingerprint does not depend
 * on how the directory was named on the command line).
 */
const char *ksi_path_secret(const ksi_entry *entry, size_t *len);

#endif
