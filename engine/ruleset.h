/*
 * ruleset.h - the rule set's insides, shared by the YAML loader, the
 * compiler and the matcher.
 */
#ifndef KSI_RULESET_H
#define KSI_RULESET_H

#include "keysift.h"
#include "validate.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs/hs.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>

/* A growable list of owned strings. */
typedef struct ksi_strlist {
    char **items;
    size_t count;
    size_t cap;
} ksi_strlist;

int ksi_strlist_push(ksi_strlist *list, const char *s, size_t len);
void ksi_strlist_free(ksi_strlist *list);

typedef struct ksi_rule {
    ks_rule_info info;          /* the public view; points into the fields */
    char *id;
    char *name;
    char *description;
    char *pattern;              /* NULL for a path rule */
    char *path;                 /* path filter, or NULL */
    char *example_path;         /* examples are scanned under this name */
    char *source;
    char *family;
    char *validate;             /* validator name, or NULL */
    ksi_validator_fn validator;
    int lower_on_invalid;       /* on_invalid: lower (else drop) */
    ksi_strlist keywords;
    ksi_strlist references;
    ksi_strlist examples;
    ksi_strlist negative_examples;
    unsigned line;              /* line of the rule in its file */
    int severity_given;         /* the file set severity / confidence */
    int confidence_given;
    unsigned gate;              /* 1 + its expression in the path
                                 * database, or 0 without `path` */

    /* Filled in by ks_ruleset_compile(). */
    pcre2_code *re;
    atomic_int jit_done;        /* JIT-compiled on first use */
    char *hs_pattern;           /* the pattern as Hyperscan gets it */
    unsigned hs_flags;          /* 0, or HS_FLAG_PREFILTER */
    size_t lookback;            /* capture window behind a candidate end */
    size_t merge_gap;           /* candidate ends this close share a pass */
} ksi_rule;

struct ks_ruleset {
    ksi_rule **rules;               /* each rule allocated alone, so a
                                     * ks_rule_info never moves */
    size_t count;
    size_t cap;
    int compiled;
    int compile_failed;             /* a failed compile is final */
    /*
     * Content rules without a `path` are scanned in every entry; those with
     * one sit in databases of their own, scanned only in entries whose path
     * opened at least one of them. Either pair may be NULL (no such rule).
     */
    hs_database_t *db_block;
    hs_database_t *db_stream;
    hs_database_t *db_block_gated;
    hs_database_t *db_stream_gated;
    hs_database_t *db_path;         /* every rule's `path`, or NULL */
    uint32_t *gate_rules;           /* rule index of each path gate */
    uint32_t *path_only;            /* rules with a path and no pattern */
    size_t n_gates;
    size_t n_path_only;
    size_t n_content;               /* rules with a pattern, no path */
    size_t n_gated;                 /* rules with a pattern and a path */
    hs_scratch_t *scratch_proto;    /* cloned once per worker */
    pcre2_general_context *pcre_gctx;   /* routes PCRE2 to ksi_malloc */
    pcre2_compile_context *pcre_cctx;
    uint32_t max_captures;          /* largest capture count of any rule */
    ksi_strlist notes;              /* harmless oddities in rule files */
    ksi_strlist problems;           /* every error of the last failed add
                                     * or compile; the first is `error` */
    char *cache_dir;                /* compiled databases kept here */
    pthread_mutex_t jit_lock;       /* guards first-use JIT compiles */
    char hash[65];
    char error[1024];
};

/*
 * Most problems a rule file reports before giving up: enough to fix a file
 * in one pass, bounded against a generated file of a million bad rules.
 */
#define KSI_MAX_RULE_PROBLEMS 100u

/*
 * Sets the rule set's error text, printf-style. Returns `status`. A
 * KS_ERR_RULE problem is also added to the problem list, and only the
 * first of a failing add or compile becomes the error text, so loaders can
 * go on looking for more problems after one.
 */
ks_status ksi_ruleset_fail(ks_ruleset *rs, ks_status status,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Parses YAML rule text into `out` (rules appended, each fully owned).
 * On failure sets the rule set's error and returns KS_ERR_RULE or
 * KS_ERR_NOMEM; rules already appended to `out` are the caller's to free.
 */
ks_status ksi_rules_parse_yaml(ks_ruleset *rs, const char *name,
                               const char *text, size_t len,
                               ksi_rule **out, size_t *count, size_t *cap);

/* Starts a fresh problem list, at the start of an add or a compile. */
void ksi_ruleset_clear_problems(ks_ruleset *rs);

/* Whether problems were found since the list had `before` entries, or so
 * many that looking for more is pointless (`full`). */
static inline int ksi_ruleset_problems_since(const ks_ruleset *rs,
                                             size_t before)
{
    return rs->problems.count > before;
}

static inline int ksi_ruleset_problems_full(const ks_ruleset *rs)
{
    return rs->problems.count >= KSI_MAX_RULE_PROBLEMS;
}

/* Records a note about a rule file, printf-style. */
void ksi_ruleset_note(ks_ruleset *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * JIT-compiles a rule's capture program on its first use; most rules
 * never fire in a scan, and compiling all of them up front costs more than
 * a small scan. Thread-safe.
 */
void ksi_rule_jit(const ks_ruleset *rs, ksi_rule *rule);

/* Frees what a rule owns (not the rule struct itself). */
void ksi_rule_clear(ksi_rule *rule);

/* Points rule->info at the rule's own fields. */
void ksi_rule_publish(ksi_rule *rule);

/* The default rule files compiled into the library. */
typedef struct ksi_embedded_file {
    const char *name;
    const unsigned char *data;
    size_t len;
} ksi_embedded_file;

extern const ksi_embedded_file ksi_default_rule_files[];
extern const size_t ksi_default_rule_file_count;

#endif
