/*
 * cli.h - what the keysift command's files share.
 */
#ifndef KEYSIFT_CLI_H
#define KEYSIFT_CLI_H

#include "keysift.h"

#include <stdio.h>

/* Display ladder: -q lowers it, -v raises it. */
enum { LEVEL_QUIET = 0, LEVEL_NORMAL = 1, LEVEL_VERBOSE = 2 };

/* FORMAT_SARIF is for `scan` only; parse_format() does not accept it. */
typedef enum out_format {
    FORMAT_TEXT,
    FORMAT_JSON,
    FORMAT_JSONL,
    FORMAT_SARIF,
} out_format;

/*
 * Why a location is not reported. The first reason that applies, in this
 * order, is the one counted.
 */
typedef enum suppress_reason {
    SUPPRESS_NONE = 0,
    SUPPRESS_RULE,          /* its rule is disabled by the config */
    SUPPRESS_SEVERITY,      /* its rule is below the minimum severity */
    SUPPRESS_INLINE,        /* a keysift:allow mark on its line */
    SUPPRESS_PATH,          /* its path is an allowed path */
    SUPPRESS_VALUE,         /* the secret matches an allowed value */
    SUPPRESS_SECRET,        /* the secret's hash is an allowed secret */
    SUPPRESS_BASELINE,      /* its fingerprint is in the baseline */
    SUPPRESS_COUNT
} suppress_reason;

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
    char fingerprint[33];       /* the finding's: rule and secret */
    char *key_path;             /* the path the location is keyed by */
    char key[33];               /* the location's: rule, secret, key_path */
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

/* An image the scan listed (copies of the engine's record). */
typedef struct saved_image {
    char *input;
    char *reference;
    char *manifest_digest;
    char *platform;
    char *config_digest;
    char **layers;              /* digests, base first; NULL if unnamed */
    size_t n_layers;
} saved_image;

typedef struct report {
    occurrence *occ;
    size_t n_occ;
    size_t cap_occ;
    finding_group *groups;
    size_t n_groups;
    saved_diag *diags;
    size_t n_diags;
    size_t cap_diags;
    saved_image *images;
    size_t n_images;
    size_t cap_images;
    size_t suppressed[SUPPRESS_COUNT];  /* locations left out, by reason */
    uint64_t cli_warnings;  /* warnings the command itself raised */
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

/*
 * Registry access for a scan: the Docker config file, plain HTTP, and
 * credentials from KEYSIFT_REGISTRY_USER and KEYSIFT_REGISTRY_PASSWORD.
 */
void set_registry_options(ks_scan_options *opts, const char *auth_file,
                          int insecure);

/* "K/N" with 0 <= K < N <= 65536. Returns 0, or -1 if malformed. */
int parse_shard_arg(const char *arg, unsigned *k, unsigned *n);

/*
 * limit_args.c: sets the limit that option --NAME names (max-bytes,
 * max-total-bytes, max-ratio, max-entries, max-time, max-path, block-max)
 * in *o from its argument. Returns 0, or -1 having said what is wrong.
 */
int limit_arg(ks_scan_options *o, const char *name, const char *arg);

/* report.c */
int report_add(report *r, const ks_finding *f);
int report_add_diag(report *r, const ks_diag *d);
int report_add_image(report *r, const ks_image_info *img);
/* Drops the locations `keep` rejects, counting each under its reason. */
void report_filter(report *r,
                   suppress_reason (*keep)(const occurrence *, void *),
                   void *ctx);
void report_group(report *r);
void report_free(report *r);
size_t report_suppressed_total(const report *r);
const char *suppress_name(suppress_reason why);
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

/*
 * Pieces of the JSON report that the snapshot reuses. Each returns a new
 * reference, or NULL when out of memory.
 */
struct json_t;
struct json_t *report_finding_json(const finding_group *g, int show);
struct json_t *report_summary_json(const report *r);
struct json_t *report_suppressed_json(const report *r);

/* Frees n strings and the array holding them. */
void free_strings(char **list, size_t n);

/* A JSON string of a C string that may not be UTF-8; null for NULL. */
struct json_t *report_json_text(const char *s);
/* The same for bytes: invalid UTF-8 is written as \xNN. */
struct json_t *report_json_bytes(const char *s, size_t len);

/* Writes bytes with control and non-ASCII bytes escaped (\n, \xNN). */
void put_escaped(FILE *out, const char *s, size_t len);
/*
 * Writes a diagnostic as one line, "keysift: error|warning: WHERE:
 * MESSAGE". The names in them come from inputs and may hold newlines or
 * terminal escapes: well-formed printable UTF-8 is written as it is,
 * every other byte escaped as put_escaped() does.
 */
void put_diag(FILE *out, const ks_diag *d);
/* The redacted form of a secret: at most 4 bytes, then "******". */
size_t redact_keep(size_t len);

/* location.c: what a location is keyed by */
/* The key path of a location (see location.c); NULL when out of memory. */
char *location_key_path(const ks_location *loc);
/* 32 hex digits over rule id, secret and key path; -1 when out of memory. */
int location_key(const char *rule_id, const char *secret, size_t len,
                 const char *key_path, char out[33]);

/* baseline.c */
typedef struct baseline baseline;
/* Reads a baseline file; prints what is wrong and returns NULL if bad. */
baseline *baseline_load(const char *path);
int baseline_has(const baseline *b, const char *key);
size_t baseline_count(const baseline *b);
void baseline_free(baseline *b);
/* Writes the report's locations as a baseline. Returns 0 or -1. */
int baseline_write(FILE *out, const report *r);
int cmd_baseline(int argc, char **argv);
void baseline_help(void);

/*
 * What the gate lets through and what fails it: the project config
 * (.keysift.yaml) with the command-line options laid over it.
 */
typedef struct policy {
    char *source;               /* the config file read, or NULL */
    char **rule_files;          /* `rules:`, resolved against the config */
    size_t n_rule_files;
    char **disabled;            /* rule id globs */
    size_t n_disabled;
    char **allow_paths;         /* path globs */
    size_t n_allow_paths;
    void **allow_values;        /* compiled regexes (PCRE2) */
    char **allow_value_text;
    size_t n_allow_values;
    char **allow_secrets;       /* SHA-256 of secrets, 64 lowercase hex */
    size_t n_allow_secrets;
    int min_severity;           /* ks_severity, or -1 when not set */
    int fail_on;                /* ks_severity, or -1 when not set */
    char *baseline_path;        /* `baseline:`, resolved */
    baseline *base;             /* loaded baseline, or NULL */
} policy;

/* config.c */
/*
 * Reads a project config into *p. Unknown keys and bad values are errors
 * naming the file, line and key. Returns 0, or -1 with the error printed.
 */
int config_load(policy *p, const char *path);
/*
 * The config a scan of `inputs` uses when none is named: .keysift.yaml at
 * the root of the directory inputs, or in the working directory when no
 * input is a directory. Sets *found (to free) or NULL. Returns 0, or -1
 * with the error printed (directory inputs with different configs).
 */
int config_find(char *const *inputs, size_t n, char **found);

/* gate.c */
void policy_init(policy *p);
void policy_free(policy *p);
/* Checks that each disabled rule pattern names a rule in use. */
int policy_check_rules(const policy *p, const ks_ruleset *rules);
/* Why a location is suppressed (report_filter's callback). */
suppress_reason policy_judge(const occurrence *o, void *policy);
/* Nonzero when a reported location is at or above the fail threshold. */
int policy_fails(const policy *p, const report *r);
/* Glob matching as allowed paths use it ("*", "**", "?", "[...]"). */
int glob_match(const char *pattern, const char *text);
int path_allowed(const char *pattern, const char *path);

/* diff_input.c: scan only the lines a change adds. Each returns 0, or -1
 * with the error printed. */
int diff_scan(ks_scan *scan, report *rep, const char *source, int level);
int staged_scan(ks_scan *scan, report *rep, int level);

/* snapshot.c */
typedef struct snapshot_info {
    const char *const *inputs;      /* as named, or how the diff was read */
    size_t n_inputs;
    const char *const *rule_files;  /* --rules and the config's rules */
    size_t n_rule_files;
    int builtin_rules;
    size_t n_rules;
    const char *config;             /* the config used, or NULL */
    const char *baseline;           /* the baseline applied, or NULL */
} snapshot_info;
int snapshot_write(const char *path, const report *r,
                   const snapshot_info *info, int show_secrets);
int cmd_diff(int argc, char **argv);

/* sarif.c */
int sarif_write(FILE *out, const report *r, int show_secrets);

/* Commands. Each returns the process exit status. */
enum scan_mode { SCAN_REPORT, SCAN_BASELINE };
int scan_command(int argc, char **argv, enum scan_mode mode);
int cmd_scan(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_rules_bench(int argc, char **argv);
int cmd_rules_export(int argc, char **argv);
int cmd_rules_profile(int argc, char **argv);

/* Prints "keysift: error: ..." to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
