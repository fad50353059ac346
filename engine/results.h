/*
 * results.h - the results of one image unit (a layer, or an image config)
 * held apart from the images that use it, and their JSON form.
 *
 * A unit is read once per run however many images hold it. What it yields
 * is kept here until the images are reported: its findings, located inside
 * the unit, and for a layer the paths its whiteouts delete. The same record
 * travels in three ways: in memory during a scan, as an entry of the
 * on-disk results cache, and as a line of the records that sharded scans
 * write and ks_scan_merge() reads back.
 */
#ifndef KSI_RESULTS_H
#define KSI_RESULTS_H

#include "keysift.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A finding made in a unit, kept until its images are reported. */
typedef struct ksi_kept {
    const ks_rule_info *rule;
    ks_confidence confidence;
    char *secret;
    size_t secret_len;
    double entropy;
    char fingerprint[33];
    char **chain;           /* inside the unit: path, then nested paths;
                             * for a config, the field */
    size_t chain_len;
    uint64_t line, column, offset;
    unsigned flags;
} ksi_kept;

typedef enum ksi_unit_kind {
    KSI_UNIT_LAYER = 0,
    KSI_UNIT_CONFIG = 1,
} ksi_unit_kind;

typedef struct ksi_layer {
    ksi_unit_kind kind;
    char *digest;
    ksi_kept *kept;
    size_t n_kept, cap_kept;
    char **deleted;         /* "dir/name" removed by a ".wh.name" */
    size_t n_deleted, cap_deleted;
    char **opaque;          /* "dir/" emptied by ".wh..wh..opq" */
    size_t n_opaque, cap_opaque;
    int claimed;            /* this run reads it, or has its results */
    int started;            /* its reading began (set and read only by
                             * the thread that lists the images) */
    int have;               /* its results are complete */
    int mismatch;           /* bytes did not match the digest */
    int cached;             /* results came from the cache */
    int recorded;           /* handed over as a record */
    atomic_int failed;      /* an error while reading: results partial */
    atomic_int pending;     /* the reader plus each queued entry */
} ksi_layer;

/* Frees what a unit holds, and the unit. NULL is ok. */
void ksi_unit_free(ksi_layer *l);

/* Drops a unit's results, keeping its kind and digest. */
void ksi_unit_reset(ksi_layer *l);

/* Copies a finding into l's kept list (caller holds the scan's lock). */
int ksi_unit_keep(ksi_layer *l, const ks_finding *f);

/* Appends a copy of `len` bytes of `s` to a string list. */
int ksi_push_string(char ***list, size_t *n, size_t *cap, const char *s,
                    size_t len);

/*
 * The unit as a record: {"record": "layer"|"config", "digest", ...,
 * "findings": [...]}. NULL when out of memory.
 */
json_t *ksi_unit_json(const ksi_layer *l);

/*
 * Fills an empty unit (kind and digest set) from a record made by
 * ksi_unit_json(), resolving rule ids in `rules`. Returns 0, or -1 when
 * the record is malformed or names a rule the set does not have; the unit
 * is then left empty.
 */
int ksi_unit_load(ksi_layer *l, const json_t *rec, const ks_ruleset *rules);

/*
 * The results cache. Entries live in DIR/v1/<key>/<hex digest>.json, the
 * key naming what detection depended on (rules hash, nesting depth).
 * ksi_cache_get() fills an empty layer and returns 1 on a sound entry, 0
 * otherwise; ksi_cache_put() stores one atomically and ignores failures
 * (the cache only saves time).
 */
int ksi_cache_get(const char *dir, const char *key, ksi_layer *l,
                  const ks_ruleset *rules);
void ksi_cache_put(const char *dir, const char *key, const ksi_layer *l);

/* A string that is valid UTF-8 as a JSON string, anything else as
 * {"hex": "..."}; and back. ksi_json_bytes returns a new string or NULL. */
json_t *ksi_json_of_bytes(const char *s, size_t len);
char *ksi_json_bytes(const json_t *v, size_t *len);

#endif
