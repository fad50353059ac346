/*
 * cli.h - what the keysift command's files share.
 */
#ifndef KEYSIFT_CLI_H
#define KEYSIFT_CLI_H

#include "keysift.h"

#include <stdio.h>

/* Display ladder: -q lowers it, -v raises it. */
enum { LEVEL_QUIET = 0, LEVEL_NORMAL = 1, LEVEL_VERBOSE = 2 };

typedef enum out_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_JSONL } out_format;

/* Options that choose the rules, shared by `scan` and `rules`. */
typedef struct rule_opts {
    const char **paths;
    size_t n_paths;
    int only;           /* --rules-only: no built-in rules */
    int quiet;          /* do not print notes about rule files */
    int no_cache;       /* --no-cache: always compile */
} rule_opts;

/* One place a secret was seen (owned copies of the engine's record). */
typedef struct occurrence {
    const ks_rule_info *rule;
    ks_confidence confidence;
    char *secret;
    size_t secret_len;
    double entropy;
    char fingerprint[33];
    char *input;
    char **chain;
    size_t chain_len;
    uint64_t line;
    uint64_t column;
    uint64_t offset;
    unsigned flags;
    /* Container images only (image NULL otherwise). */
    char *image;
    char *manifest_digest;
    char *platform;
    int layer_index;
    char *layer_digest;
    int deleted_by;
    char *config_field;
} occurrence;

/* A finding: a run of occurrences with one fingerprint. */
typedef struct finding_group {
    const occurrence *first;
    size_t count;
} finding_group;

/* A diagnostic kept for the JSON report. */
typedef struct saved_diag {
    ks_diag_level level;
    ks_status status;
    char *input;
    char *where;
    char *message;
} saved_diag;

typedef struct report {
    occurrence *occ;
    size_t n_occ;
    size_t cap_occ;
    finding_group *groups;
    size_t n_groups;
    saved_diag *diags;
    size_t n_diags;
    size_t cap_diags;
    ks_scan_stats stats;
    double seconds;
    const char *rules_hash;
    int failed;         /* an allocation failed while collecting */
} report;

/* Parses --rules/--rules-only style options into a compiled rule set.
 * Prints the error and returns NULL on failure. */
ks_ruleset *load_rules(const rule_opts *ro);

/* Appends a path to the --rules list. Returns 0 or -1. */
int rule_opts_add(rule_opts *ro, const char *path);

int parse_format(const char *name, out_format *out);

/* "K/N" with 0 <= K < N <= 65536. Returns 0, or -1 if malformed. */
int parse_shard_arg(const char *arg, unsigned *k, unsigned *n);

/* report.c */
int report_add(report *r, const ks_finding *f);
int report_add_diag(report *r, const ks_diag *d);
void report_group(report *r);
void report_free(report *r);
int report_write(FILE *out, const report *r, out_format fmt,
                 int show_secrets);

/* The live progress line on stderr (progress.c). */
typedef struct progress {
    int on;             /* drawing at all */
    int tty;            /* on a terminal: redrawn in place */
    int drawn;          /* a line is on the screen */
    double start;
    double last;        /* when the last line went to a log */
} progress;

/* mode: 1 always, 0 never, -1 when stderr is a terminal. */
void progress_init(progress *p, int mode);
void progress_draw(progress *p, const ks_scan_stats *stats);
/* Erases the line, before anything else is written to stderr. */
void progress_clear(progress *p);

/* Commands. Each returns the process exit status. */
int cmd_scan(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_rules_bench(int argc, char **argv);

/* Prints "keysift: error: ..." to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
