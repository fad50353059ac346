/*
 * keysift.h - the keysift engine's public interface.
 *
 * keysift finds secrets (API keys, tokens, passwords, private keys) in files,
 * directory trees and archives. This header is the whole of the engine that a
 * program may use; everything else under engine/ is private and may change.
 *
 * The engine never prints, never exits and never aborts on bad input. It
 * reports findings, warnings and errors through callbacks and status codes,
 * and keeps error detail on the handle that failed.
 *
 * Typical use:
 *
 *     ks_ruleset *rules = NULL;
 *     ks_ruleset_new(&rules);
 *     ks_ruleset_add_defaults(rules);
 *     if (ks_ruleset_compile(rules) != KS_OK)
 *             fprintf(stderr, "%s\n", ks_ruleset_error(rules));
 *
 *     ks_scan_options opts;
 *     ks_scan_options_init(&opts);
 *     opts.on_finding = my_finding_cb;
 *     opts.on_diag = my_diag_cb;
 *
 *     ks_scan *scan = NULL;
 *     ks_scan_new(rules, &opts, &scan);
 *     const char *inputs[] = { "some/dir", "layer.tar.gz" };
 *     ks_scan_run(scan, inputs, 2);
 *     ks_scan_free(scan);
 *     ks_ruleset_free(rules);
 *
 * Every exported name starts with ks_ or KS_.
 */
#ifndef KEYSIFT_H
#define KEYSIFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The engine's version, as "MAJOR.MINOR.PATCH". */
#define KS_VERSION "0.1.0"

/*
 * Status codes. The values are part of the interface and are never
 * renumbered; new codes are only ever appended.
 *
 * A status reaches the caller in two ways: as the return value of a call, and
 * inside a ks_diag handed to the diagnostic callback during a scan, where it
 * says what went wrong with one input or one entry of an input.
 */
typedef enum ks_status {
    KS_OK = 0,              /* success */
    KS_STOPPED = 1,         /* a callback returned nonzero: scan stopped */
    KS_ERR_NOMEM = 2,       /* an allocation failed */
    KS_ERR_ARG = 3,         /* a caller passed an invalid argument */
    KS_ERR_IO = 4,          /* an input could not be opened or read */
    KS_ERR_NOT_FOUND = 5,   /* an input does not exist */
    KS_ERR_RULE = 6,        /* a rule file is malformed or a rule invalid */
    KS_ERR_COMPILE = 7,     /* the rule patterns could not be compiled */
    KS_ERR_ARCHIVE = 8,     /* an archive is corrupt or truncated */
    KS_ERR_MATCHER = 9,     /* the pattern matcher failed on an entry */
    KS_ERR_THREAD = 10,     /* a worker thread could not be started */
    KS_WARN_SKIPPED = 11,   /* an entry was deliberately not scanned */
    KS_WARN_LIMIT = 12,     /* a hostile-input limit was reached */
    KS_ERR_STATE = 13,      /* call made on a handle in the wrong state */
} ks_status;

/*
 * Returns a short, static, human-readable name for a status code, such as
 * "archive is corrupt or truncated". Never returns NULL. Thread-safe.
 */
const char *ks_status_str(ks_status status);

/* How bad a finding is, lowest first. Values are never renumbered. */
typedef enum ks_severity {
    KS_SEV_INFO = 0,
    KS_SEV_LOW = 1,
    KS_SEV_MEDIUM = 2,
    KS_SEV_HIGH = 3,
    KS_SEV_CRITICAL = 4,
} ks_severity;

/* How sure a rule is that a match is a real secret. */
typedef enum ks_confidence {
    KS_CONF_LOW = 0,
    KS_CONF_MEDIUM = 1,
    KS_CONF_HIGH = 2,
} ks_confidence;

/* "info", "low", ... Never NULL. Thread-safe. */
const char *ks_severity_str(ks_severity severity);
const char *ks_confidence_str(ks_confidence confidence);

/*
 * Parses a severity name (case-insensitive). Returns 0 and sets *out on
 * success, -1 if the name is not a severity.
 */
int ks_severity_parse(const char *name, ks_severity *out);

/* ------------------------------------------------------------------------
 * Rules
 * ------------------------------------------------------------------------ */

/*
 * A read-only view of one rule, owned by its rule set and valid until the
 * rule set is freed. String arrays hold `n_*` elements; optional strings are
 * NULL when absent.
 */
typedef struct ks_rule_info {
    const char *id;                 /* stable identifier */
    const char *name;               /* human-readable name */
    const char *description;        /* optional */
    const char *pattern;            /* group 1, if any, is the secret;
                                     * NULL for a path rule */
    const char *source;             /* file the rule came from */
    ks_severity severity;
    ks_confidence confidence;
    double min_entropy;             /* bits per byte; 0 = no floor */
    const char *const *keywords;
    size_t n_keywords;
    const char *const *references;
    size_t n_references;
    const char *const *examples;
    size_t n_examples;
    const char *const *negative_examples;
    size_t n_negative_examples;
    const char *validate;           /* validator name, or NULL */
    int lower_on_invalid;           /* a failed check lowers confidence
                                     * instead of dropping the match */
    int generic;                    /* no provider-specific shape: hash-
                                     * and UUID-like values are dropped */
    const char *family;             /* rule file name without extension */
    /*
     * A regular expression the entry's path must match for the rule to
     * apply, or NULL. A rule with a path and no pattern (pattern NULL) is a
     * path rule: it reports every entry whose path matches, whatever the
     * content, with the path as its secret. See docs/rules.md.
     */
    const char *path;
    const char *example_path;       /* name examples are scanned under */
} ks_rule_info;

/* A set of rules, compiled into one matcher. Opaque. */
typedef struct ks_ruleset ks_ruleset;

/*
 * Creates an empty rule set in *out. Returns KS_OK or KS_ERR_NOMEM.
 * Free it with ks_ruleset_free().
 */
ks_status ks_ruleset_new(ks_ruleset **out);

/*
 * Adds the default rules built into the library. Returns KS_OK, or
 * KS_ERR_RULE / KS_ERR_NOMEM with detail in ks_ruleset_error().
 */
ks_status ks_ruleset_add_defaults(ks_ruleset *rules);

/*
 * Adds the rules in a YAML file, or in every *.yaml and *.yml file of a
 * directory (not recursive, in name order). On failure nothing from the
 * failing file is added; ks_ruleset_error() names the file, the rule id when
 * known, and what is wrong. Returns KS_OK, KS_ERR_NOT_FOUND, KS_ERR_IO,
 * KS_ERR_RULE or KS_ERR_NOMEM.
 */
ks_status ks_ruleset_add_path(ks_ruleset *rules, const char *path);

/*
 * Adds the rules held in `len` bytes of YAML text. `name` is how errors refer
 * to the text (a file name, say). Same results as ks_ruleset_add_path().
 */
ks_status ks_ruleset_add_yaml(ks_ruleset *rules, const char *name,
      const char *text, size_t len);

/*
 * Keeps compiled databases in `dir` (created if missing, mode 0700), so
 * that the next compile of the same rules with the same Hyperscan on the
 * same CPU loads them instead of compiling. The files hold compiled
 * patterns only, never anything scanned. NULL (the default) disables the
 * cache. Call before ks_ruleset_compile(). Returns KS_OK, KS_ERR_ARG or
 * KS_ERR_NOMEM.
 */
ks_status ks_ruleset_set_cache_dir(ks_ruleset *rules, const char *dir);

/*
 * Checks every rule and compiles all patterns into one matcher. Must be
 * called once, after the last add and before any scan; the set is immutable
 * afterwards and may be shared by any number of scans and threads.
 * Returns KS_OK, KS_ERR_RULE (a pattern is invalid: ks_ruleset_error() names
 * the rule), KS_ERR_COMPILE, KS_ERR_STATE (already compiled, empty, or an
 * earlier compile failed: a failed compile is final, start a new set) or
 * KS_ERR_NOMEM.
 */
ks_status ks_ruleset_compile(ks_ruleset *rules);

/*
 * The detail of the last failure on this rule set, as one line of text, or
 * "" if there was none. Owned by the rule set; valid until the next call on
 * it.
 */
const char *ks_ruleset_error(const ks_ruleset *rules);

/* Number of rules in the set. */
size_t ks_ruleset_count(const ks_ruleset *rules);

/* The i-th rule, in the order added; NULL if i is out of range. */
const ks_rule_info *ks_ruleset_rule(const ks_ruleset *rules, size_t i);

/*
 * Notes: things in the rule files that are not errors but that their
 * author may want to know, such as fields keysift does not use (rule files
 * written for other tools load with those ignored). Each is one line naming
 * the file, line and rule. Owned by the rule set.
 */
size_t ks_ruleset_note_count(const ks_ruleset *rules);
const char *ks_ruleset_note(const ks_ruleset *rules, size_t i);

/*
 * Problems: when an add or a compile fails with KS_ERR_RULE, every problem
 * it found (up to a hundred), one line each naming the file, line and rule;
 * the first is also ks_ruleset_error(). A file with three bad rules reports
 * all three, and a directory reports its bad files' problems, not only the
 * first file's. Cleared by the next add or compile. Owned by the rule set.
 */
size_t ks_ruleset_problem_count(const ks_ruleset *rules);
const char *ks_ruleset_problem(const ks_ruleset *rules, size_t i);

/*
 * A hex SHA-256 over every rule's id and pattern and the engine version:
 * equal hashes mean equal detection. Valid after ks_ruleset_compile();
 * "" before.
 */
const char *ks_ruleset_hash(const ks_ruleset *rules);

/* Frees the rule set. Every scan using it must be freed first. NULL is ok. */
void ks_ruleset_free(ks_ruleset *rules);

/* ------------------------------------------------------------------------
 * Scanning
 * ------------------------------------------------------------------------ */

/* Flags on a location. */
#define KS_LOC_NESTED  0x1u     /* inside an archive found inside the input */
#define KS_LOC_DELETED 0x2u     /* removed by a later layer of an image */
#define KS_LOC_DIGEST_MISMATCH 0x4u /* the layer's bytes do not match its
                                     * digest */
/*
 * The line holding the start of the secret carries the inline mark
 * `keysift:allow` (in any comment syntax, within 4 KiB of the secret). The
 * finding is still reported, flagged, so that the caller can count what
 * the marks suppress instead of losing it silently.
 */
#define KS_LOC_ALLOWED 0x8u

/*
 * Where a finding is. `chain` lists the containers from the outside in: the
 * input as named by the caller, then each archive entry path inside it. For
 * a plain file the chain is just that file's path; for a file found in a
 * directory input it is the file's path (the directory joined with the
 * relative path); for an archive it is the archive, then the entry path.
 * `path` is the last element of the chain.
 *
 * `line` and `column` are 1-based, the column counted in bytes; `offset` is
 * the 0-based byte offset of the secret in the innermost entry.
 */
typedef struct ks_location {
    const char *input;
    const char *const *chain;
    size_t chain_len;
    const char *path;
    uint64_t line;
    uint64_t column;
    uint64_t offset;
    unsigned flags;

    /*
     * Container images only; `image` is NULL otherwise. The chain then
     * starts with the image reference and "layer N" (or "config").
     */
    const char *image;              /* reference, e.g. "oci:dir:1.0" */
    const char *manifest_digest;    /* "sha256:..." */
    const char *platform;           /* "linux/amd64", or NULL */
    int layer_index;                /* 0-based; -1 for the config */
    const char *layer_digest;       /* NULL for the config */
    int deleted_by;                 /* layer that deleted the file, or -1 */
    const char *config_field;       /* "Env[2]", ... for the config */
} ks_location;

/*
 * One occurrence of a secret. All pointers are owned by the engine and valid
 * only during the callback: copy what you keep.
 *
 * `confidence` is the rule's, except that a match failing the rule's
 * validator is reported with KS_CONF_LOW when the rule says `on_invalid:
 * lower`. `secret` is capture group 1 of the rule's pattern (the whole
 * match if the pattern has no group); it is not NUL-terminated. `fingerprint` is a
 * NUL-terminated hex string that depends only on the rule id and the secret,
 * so the same key found in many places has one fingerprint.
 */
typedef struct ks_finding {
    const ks_rule_info *rule;
    ks_confidence confidence;   /* the rule's, or low if its check failed */
    const char *secret;
    size_t secret_len;
    double entropy;
    const char *fingerprint;
    ks_location location;
} ks_finding;

/* How serious a diagnostic is. */
typedef enum ks_diag_level {
    KS_DIAG_WARNING = 0,    /* something was skipped; the rest is fine */
    KS_DIAG_ERROR = 1,      /* an input or part of it could not be read */
} ks_diag_level;

/*
 * A problem with one input, or one entry inside it. `where` is the location
 * as text (entries of archives joined with " / "); `message` says what was
 * wrong. Both are valid only during the callback.
 */
typedef struct ks_diag {
    ks_diag_level level;
    ks_status status;
    const char *input;
    const char *where;
    const char *message;
} ks_diag;

/* Counters of a scan, as of the moment they are read. */
typedef struct ks_scan_stats {
    uint64_t inputs;        /* inputs named */
    uint64_t entries;       /* files and archive entries scanned */
    uint64_t bytes;         /* bytes scanned (after decompression) */
    uint64_t findings;      /* findings reported */
    uint64_t warnings;      /* warnings reported */
    uint64_t errors;        /* errors reported */
    uint64_t skipped;       /* special files and symlinks not followed */
    uint64_t images;        /* container images found in the inputs */
    uint64_t layers_scanned;    /* distinct image layers read */
    uint64_t layers_reused;     /* layer uses served by an earlier read */
    uint64_t layers_cached;     /* distinct layers whose results came from
                                 * the cache instead of being read */
    uint64_t layers_total;      /* distinct layers this run will read or
                                 * take from the cache, as far as listed */
    uint64_t layers_done;       /* of those, the ones finished */
    uint64_t units_other_shard; /* layers, configs and inputs left to
                                 * other shards */
    uint64_t stored_bytes;      /* bytes of layer blobs read as stored
                                 * (compressed) */
    uint64_t stored_total;      /* stored size of the layers to read, as
                                 * far as the manifests say */
    uint64_t layer_findings;    /* findings made in image layers and
                                 * configs, each counted once however many
                                 * images hold it; they are reported (and
                                 * counted in `findings`) per image once
                                 * the image's layers are all done */
} ks_scan_stats;

/*
 * Callbacks. The engine calls them from its worker threads but never two at
 * once, so they need no locking of their own. Return 0 to go on, nonzero to
 * stop the scan as soon as possible (ks_scan_run() then returns KS_STOPPED).
 */
typedef int (*ks_finding_fn)(const ks_finding *finding, void *user);
typedef int (*ks_diag_fn)(const ks_diag *diag, void *user);
typedef int (*ks_progress_fn)(const ks_scan_stats *stats, void *user);

/*
 * Receives one record of partial results (see on_record below): one line
 * of JSON, `len` bytes, no newline, valid only during the call.
 */
typedef int (*ks_record_fn)(const char *line, size_t len, void *user);

/* An image as listed (see ks_image_info below), for on_image. */
struct ks_image_info;

/* Options of a scan. Initialise with ks_scan_options_init(). */
typedef struct ks_scan_options {
    /* Worker threads; 0 means one per online CPU. */
    unsigned threads;
    /*
     * Entries up to this many bytes are read whole and scanned in one
     * pass; larger ones are streamed in chunks so memory stays bounded.
     * 0 means the default, 8 MiB; more than 4 GiB - 1 is taken as that.
     */
    size_t block_max;
    /*
     * Nonzero: time the capture pass of every rule (see
     * ks_scan_rule_stats). Costs two clock reads per candidate.
     * 2 or more: also run each rule's pattern alone over every entry and
     * time it (match_ns), which costs a pass per rule: for profiling.
     */
    int profile_rules;
    /*
     * Archives inside inputs (a jar in a layer, a tar.gz in a tree) are
     * opened up to this many levels; 0 means the default, 3. An input that
     * is itself an archive is level 1.
     */
    unsigned max_depth;
    /*
     * Limits on hostile input, counted per unit: a file named as an
     * input, a file found in a directory, standard input, or one image
     * layer. ks_scan_options_init() sets the defaults given here; 0 means
     * no limit. Reaching one is a KS_WARN_LIMIT warning on the unit that
     * names the limit, and the rest of that unit is not read (what was
     * found in it so far is still reported); the scan goes on with the
     * other units. A layer cut short is not stored in the results cache.
     *
     * max_unpacked: bytes of entry contents taken out of one unit's
     *   archives and compressed streams, at every level (64 GiB).
     * max_total_unpacked: the same summed over the whole run (no limit).
     * max_ratio: unpacked bytes per byte read from the unit's file or
     *   blob, judged once 64 MiB are unpacked: a decompression bomb
     *   stops early (500).
     * max_entries: entries read from one archive; past it the rest of
     *   that archive is not read (1000000).
     * max_seconds: wall-clock time for one unit (3600).
     * max_path: longest entry path, in bytes, kept for a location; a
     *   longer one is cut, with a warning, and the entry still scanned.
     *   At most, and by default, 4096; 0 means 4096.
     */
    uint64_t max_unpacked;
    uint64_t max_total_unpacked;
    unsigned max_ratio;
    unsigned max_entries;
    unsigned max_seconds;
    unsigned max_path;
    /* For image inputs: only this platform ("os/arch[/variant]"); NULL
     * means every platform. */
    const char *platform;
    /*
     * Sharding, for scans split over many processes that share nothing:
     * with shard_count > 1 only shard shard_index (0-based) is scanned.
     * An image layer or config belongs to the shard ks_shard_of() gives
     * its digest; any other input to the one it gives the input's name.
     * Images are still listed whole, so their records say which layers
     * they hold. 0 or 1 means no sharding.
     */
    unsigned shard_index;
    unsigned shard_count;
    /*
     * A directory (created, mode 0700) that keeps each image layer's
     * results, keyed by the layer digest, the rule set's hash and
     * max_depth. A layer found there is not read again; one read in full
     * is stored as soon as it is done (atomically: an interrupted run
     * leaves whole entries only). A damaged entry counts as absent. The
     * entries hold what a report needs, the secrets included (files mode
     * 0600). NULL: no cache.
     */
    const char *cache_dir;
    /*
     * Records mode. When set, findings are not reported through
     * on_finding; instead the scan hands over records of partial results
     * (JSON Lines: a header, every image listed, the results of each layer
     * and config read, findings of other inputs, diagnostics and a
     * summary), which ks_scan_merge() turns back into findings. Use it
     * with sharding: whether a finding's file was deleted depends on
     * layers another shard reads. Records hold secrets in full.
     */
    ks_record_fn on_record;
    /*
     * Registries over HTTP, for references such as
     * "docker://registry.example.com/team/app:1.4". Credentials are the
     * user and password given here, else those a Docker config file holds
     * for the registry (`registry_auth`, or NULL for
     * $DOCKER_CONFIG/config.json, else ~/.docker/config.json). They are
     * sent to that registry and its token service only and appear in no
     * diagnostic. registry_plain_http speaks http:// instead of https://
     * (a test registry on the loopback, say).
     */
    const char *registry_auth;
    const char *registry_user;
    const char *registry_password;
    int registry_plain_http;
    ks_finding_fn on_finding;
    ks_diag_fn on_diag;
    ks_progress_fn on_progress;     /* called from a thread of its own
                                     * when the run starts, then ten times
                                     * a second */
    /*
     * Each image found in the inputs, as ks_scan_list_images() reports it
     * (a ks_image_fn), before any of its findings: a record of what was
     * scanned. May be NULL.
     */
    int (*on_image)(const struct ks_image_info *image, void *user);
    void *user;                     /* handed to every callback */
} ks_scan_options;

/* Fills *opts with defaults: all cores, default limits, no callbacks. */
void ks_scan_options_init(ks_scan_options *opts);

/* A scan: a compiled rule set plus options. Opaque. */
typedef struct ks_scan ks_scan;

/*
 * Creates a scan over a compiled rule set. The rule set must outlive the
 * scan. Returns KS_OK, KS_ERR_STATE (rule set not compiled), KS_ERR_ARG or
 * KS_ERR_NOMEM.
 */
ks_status ks_scan_new(const ks_ruleset *rules, const ks_scan_options *opts,
      ks_scan **out);

/*
 * Scans each input in turn: a file, a directory (recursively), a tar
 * archive (plain, gzip, zstd, xz or bzip2 compressed) or "-" for standard
 * input. The kind of input is detected from its content. Problems with an
 * input are reported through on_diag and the scan goes on with the rest.
 *
 * Returns KS_OK when the scan ran to its end (check the stats or the
 * diagnostics for per-input errors), KS_STOPPED if a callback stopped it, or
 * an error that stopped the whole scan (KS_ERR_NOMEM, KS_ERR_THREAD).
 * May be called more than once on the same scan; not concurrently.
 */
ks_status ks_scan_run(ks_scan *scan, const char *const *inputs,
      size_t n_inputs);

/*
 * Scans `len` bytes held in memory as one entry named `name`, on the calling
 * thread. Findings and diagnostics go to the callbacks as for
 * ks_scan_run(). Returns KS_OK, KS_STOPPED or an error.
 */
ks_status ks_scan_buffer(ks_scan *scan, const char *name, const void *data,
     size_t len);

/*
 * Merges files of records written by scans in records mode (the shards of
 * one job, say) and reports their findings through on_finding and their
 * diagnostics through on_diag, as one scan of all their inputs would
 * have: each image's findings from every layer it holds, deleted flags
 * from whichever file holds the deleting layer, each distinct layer's
 * results once. Every file must come from the same rule set as this scan
 * (a file from other rules is an error on that file); a layer that no
 * file holds is an error on its images. Returns as ks_scan_run().
 */
ks_status ks_scan_merge(ks_scan *scan, const char *const *files, size_t n);

/*
 * The shard, 0 to count - 1, of a layer or config digest ("sha256:...")
 * or of an input name: stable across runs, machines and versions.
 * Returns 0 when count is 0 or 1. Thread-safe.
 */
unsigned ks_shard_of(const char *key, unsigned count);

/* One layer of a listed image. Strings may be NULL when unknown. */
typedef struct ks_layer_info {
    const char *digest;         /* "sha256:<hex>" */
    const char *media_type;
    uint64_t size;              /* stored size; 0 if unknown */
    int present;                /* the blob is there to be read */
} ks_layer_info;

/* An image as listed from its source, valid only during the callback. */
typedef struct ks_image_info {
    const char *input;          /* as named by the caller */
    const char *reference;      /* as findings name it */
    const char *manifest_digest;
    const char *platform;       /* or NULL */
    const char *config_digest;
    uint64_t config_size;
    const ks_layer_info *layers;    /* base layer first */
    size_t n_layers;
} ks_image_info;

typedef int (*ks_image_fn)(const ks_image_info *image, void *user);

/*
 * Lists the images of each input (OCI layouts, docker save archives,
 * registry stores, with the scan's platform filter) without scanning
 * them, calling on_image for each. Problems go to on_diag; an input that
 * is not an image source is a warning. Returns as ks_scan_run().
 */
ks_status ks_scan_list_images(ks_scan *scan, const char *const *inputs,
                              size_t n, ks_image_fn on_image);

/* Copies the scan's counters into *out. */
void ks_scan_get_stats(const ks_scan *scan, ks_scan_stats *out);

/*
 * Per-rule counters of a scan, summed over every thread and run so far.
 * Hyperscan's pass serves all rules at once and cannot be divided; what a
 * rule costs on its own is the confirmation of its candidates.
 */
typedef struct ks_rule_stats {
    uint64_t candidates;    /* candidate clusters confirmed with PCRE2 */
    uint64_t findings;      /* findings reported */
    uint64_t confirm_ns;    /* time confirming; 0 unless profile_rules */
    uint64_t match_ns;      /* the rule's pattern alone over the bytes
                             * scanned; 0 unless profile_rules >= 2 */
} ks_rule_stats;

/*
 * Copies the counters of rule `index` (as in ks_ruleset_rule) into *out.
 * Call between runs, not during one. Returns KS_OK or KS_ERR_ARG.
 */
ks_status ks_scan_rule_stats(const ks_scan *scan, size_t index,
                             ks_rule_stats *out);

/* Frees a scan. NULL is ok. */
void ks_scan_free(ks_scan *scan);

/*
 * Runs the candidate stage alone: the compiled database every entry goes
 * through (rules limited to some paths are left out, as they are for
 * entries those paths do not name) over `len` bytes in one pass, counting
 * candidate matches into *matches and doing nothing else (no confirmation,
 * no findings). This is the ceiling a scan of the same bytes can reach,
 * which is what benchmarks compare against.
 * Thread-safe; any number of calls may run at once. Returns KS_OK,
 * KS_ERR_ARG, KS_ERR_STATE (rules not compiled), KS_ERR_NOMEM or
 * KS_ERR_MATCHER.
 */
ks_status ks_ruleset_count_matches(const ks_ruleset *rules, const void *data,
                                   size_t len, uint64_t *matches);

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/*
 * Shannon entropy of `len` bytes in bits per byte (0 to 8). Returns 0 for
 * an empty buffer. Thread-safe.
 */
double ks_entropy(const void *data, size_t len);

/*
 * SHA-256 of `len` bytes, written to out[] as 64 lowercase hex digits and
 * a NUL. For callers that key their own records the way the engine keys
 * fingerprints (and that match secrets by hash, never by value).
 * Thread-safe.
 */
void ks_sha256_hex(const void *data, size_t len, char out[65]);

#ifdef __cplusplus
}
#endif

#endif /* KEYSIFT_H */
