/*
 * unit.h - what every engine unit test shares: the cmocka includes, a
 * compiled rule set made from YAML text, a collector that copies findings
 * and diagnostics out of the scan callbacks, and temporary trees on disk.
 *
 * Callbacks may run on the engine's worker threads, where a cmocka
 * assertion would jump across threads, so the collector only records;
 * tests assert on what it recorded after the scan returns. The helpers
 * allocate with plain malloc, never through the engine's allocator, so
 * that failure injection in the engine cannot reach them.
 */
#ifndef KEYSIFT_UNIT_H
#define KEYSIFT_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keysift.h"

/* A finding copied out of its callback. Strings are NUL-terminated. */
typedef struct unit_finding {
    char *rule_id;
    ks_confidence confidence;
    char *secret;
    size_t secret_len;
    double entropy;
    char *fingerprint;
    char *input;
    char *path;
    char **chain;
    size_t chain_len;
    uint64_t line;
    uint64_t column;
    uint64_t offset;
    unsigned flags;
} unit_finding;

/* A diagnostic copied out of its callback. */
typedef struct unit_diag {
    ks_diag_level level;
    ks_status status;
    char *input;
    char *where;
    char *message;
} unit_diag;

typedef struct unit_results {
    unit_finding *findings;
    size_t n_findings;
    size_t cap_findings;
    unit_diag *diags;
    size_t n_diags;
    size_t cap_diags;
} unit_results;

/* The test's own memory running out is not what is under test: stop. */
static inline void *unit_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p) {
        fputs("unit: out of memory\n", stderr);
        abort();
    }
    return p;
}

static inline char *unit_xstrndup(const char *s, size_t len)
{
    char *copy = unit_xmalloc(len + 1);

    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

static inline char *unit_xstrdup(const char *s)
{
    return s ? unit_xstrndup(s, strlen(s)) : NULL;
}

/* Makes room for one more element of `size` bytes in *items. */
static inline void unit_reserve(void *items, size_t *cap, size_t count,
                                size_t size)
{
    void **slot = items;
    void *grown;

    if (count < *cap)
        return;
    *cap = *cap ? *cap * 2 : 16;
    grown = realloc(*slot, *cap * size);
    if (!grown) {
        fputs("unit: out of memory\n", stderr);
        abort();
    }
    *slot = grown;
}

static inline void unit_record_finding(unit_results *r, const ks_finding *f)
{
    unit_finding *u;

    unit_reserve(&r->findings, &r->cap_findings, r->n_findings,
                 sizeof(*r->findings));
    u = &r->findings[r->n_findings++];
    u->rule_id = unit_xstrdup(f->rule->id);
    u->confidence = f->confidence;
    u->secret = unit_xstrndup(f->secret, f->secret_len);
    u->secret_len = f->secret_len;
    u->entropy = f->entropy;
    u->fingerprint = unit_xstrdup(f->fingerprint);
    u->input = unit_xstrdup(f->location.input);
    u->path = unit_xstrdup(f->location.path);
    u->chain_len = f->location.chain_len;
    u->chain = unit_xmalloc(u->chain_len * sizeof(*u->chain));
    for (size_t i = 0; i < u->chain_len; i++)
        u->chain[i] = unit_xstrdup(f->location.chain[i]);
    u->line = f->location.line;
    u->column = f->location.column;
    u->offset = f->location.offset;
    u->flags = f->location.flags;
}

static inline void unit_record_diag(unit_results *r, ks_diag_level level,
                                    ks_status status, const char *input,
                                    const char *where, const char *message)
{
    unit_diag *d;

    unit_reserve(&r->diags, &r->cap_diags, r->n_diags, sizeof(*r->diags));
    d = &r->diags[r->n_diags++];
    d->level = level;
    d->status = status;
    d->input = unit_xstrdup(input);
    d->where = unit_xstrdup(where);
    d->message = unit_xstrdup(message);
}

static inline int unit_on_finding(const ks_finding *f, void *user)
{
    unit_record_finding(user, f);
    return 0;
}

static inline int unit_on_diag(const ks_diag *d, void *user)
{
    unit_record_diag(user, d->level, d->status, d->input, d->where,
                     d->message);
    return 0;
}

static inline void unit_results_free(unit_results *r)
{
    for (size_t i = 0; i < r->n_findings; i++) {
        unit_finding *u = &r->findings[i];

        free(u->rule_id);
        free(u->secret);
        free(u->fingerprint);
        free(u->input);
        free(u->path);
        for (size_t j = 0; j < u->chain_len; j++)
            free(u->chain[j]);
        free(u->chain);
    }
    for (size_t i = 0; i < r->n_diags; i++) {
        free(r->diags[i].input);
        free(r->diags[i].where);
        free(r->diags[i].message);
    }
    free(r->findings);
    free(r->diags);
    memset(r, 0, sizeof(*r));
}

/* Options that send every finding and diagnostic into `r`. */
static inline void unit_options(ks_scan_options *opts, unit_results *r)
{
    ks_scan_options_init(opts);
    opts->on_finding = unit_on_finding;
    opts->on_diag = unit_on_diag;
    opts->user = r;
}

/* Adds YAML rule text to a new rule set; the caller checks the status. */
static inline ks_status unit_ruleset_try(const char *yaml, ks_ruleset **out)
{
    ks_status st = ks_ruleset_new(out);

    if (st != KS_OK)
        return st;
    st = ks_ruleset_add_yaml(*out, "unit.yaml", yaml, strlen(yaml));
    if (st == KS_OK)
        st = ks_ruleset_compile(*out);
    return st;
}

/* A compiled rule set from YAML text that the test knows to be valid. */
static inline ks_ruleset *unit_ruleset(const char *yaml)
{
    ks_ruleset *rs = NULL;
    ks_status st = unit_ruleset_try(yaml, &rs);

    if (st != KS_OK)
        fail_msg("rules did not load: %s: %s", ks_status_str(st),
                 ks_ruleset_error(rs));
    return rs;
}

/* Scans one buffer with default options, recording into `r`. */
static inline ks_status unit_scan_buffer(const ks_ruleset *rs,
                                         const char *name, const void *data,
                                         size_t len, unit_results *r)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_status st;

    unit_options(&opts, r);
    st = ks_scan_new(rs, &opts, &scan);
    if (st != KS_OK)
        return st;
    st = ks_scan_buffer(scan, name, data, len);
    ks_scan_free(scan);
    return st;
}

static inline ks_status unit_scan_text(const ks_ruleset *rs, const char *text,
                                       unit_results *r)
{
    return unit_scan_buffer(rs, "buffer", text, strlen(text), r);
}

/* Runs a scan over paths with the given options (callbacks are set here). */
static inline ks_status unit_scan_paths(const ks_ruleset *rs,
                                        ks_scan_options *opts,
                                        const char *const *inputs, size_t n,
                                        unit_results *r,
                                        ks_scan_stats *stats)
{
    ks_scan *scan = NULL;
    ks_status st;

    opts->on_finding = unit_on_finding;
    opts->on_diag = unit_on_diag;
    opts->user = r;
    st = ks_scan_new(rs, opts, &scan);
    if (st != KS_OK)
        return st;
    st = ks_scan_run(scan, inputs, n);
    if (stats)
        ks_scan_get_stats(scan, stats);
    ks_scan_free(scan);
    return st;
}

static inline size_t unit_count_rule(const unit_results *r, const char *id)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n_findings; i++)
        n += strcmp(r->findings[i].rule_id, id) == 0;
    return n;
}

/* The finding of rule `id` whose secret is `secret`, or NULL. */
static inline const unit_finding *unit_find(const unit_results *r,
                                            const char *id,
                                            const char *secret)
{
    for (size_t i = 0; i < r->n_findings; i++) {
        const unit_finding *u = &r->findings[i];

        if (strcmp(u->rule_id, id) == 0 && strcmp(u->secret, secret) == 0)
            return u;
    }
    return NULL;
}

/* Orders findings by offset, then rule, then path: scans may interleave. */
static inline int unit_finding_order(const void *a, const void *b)
{
    const unit_finding *x = a, *y = b;
    int c;

    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    c = strcmp(x->rule_id, y->rule_id);
    return c ? c : strcmp(x->path, y->path);
}

static inline void unit_sort_findings(unit_results *r)
{
    if (r->n_findings)
        qsort(r->findings, r->n_findings, sizeof(*r->findings),
              unit_finding_order);
}

/* ---- files on disk ------------------------------------------------------ */

/* Creates a fresh private directory; `out` holds at least 64 bytes. */
static inline void unit_tempdir(char *out)
{
    const char *base = getenv("TMPDIR");

    snprintf(out, 64, "%s/keysift-unit-XXXXXX",
             base && *base && strlen(base) < 32 ? base : "/tmp");
    if (!mkdtemp(out))
        fail_msg("mkdtemp %s: %s", out, strerror(errno));
}

/* Joins `dir` and `name` into `out` of `cap` bytes. */
static inline const char *unit_join(char *out, size_t cap, const char *dir,
                                    const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);

    if (dl + 1 + nl >= cap)
        fail_msg("path too long: %s/%s", dir, name);
    memmove(out, dir, dl);
    out[dl] = '/';
    memmove(out + dl + 1, name, nl + 1);
    return out;
}

static inline void unit_write_file(const char *path, const void *data,
                                   size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        fail_msg("cannot create %s: %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len) {
        fclose(f);
        fail_msg("cannot write %s", path);
    }
    if (fclose(f) != 0)
        fail_msg("cannot close %s: %s", path, strerror(errno));
}

static inline void unit_mkdir(const char *path)
{
    if (mkdir(path, 0700) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* Removes a tree made by a test; links are removed, never followed. */
static inline void unit_rmtree(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    char child[4096];

    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    if (d) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            if ((size_t)snprintf(child, sizeof(child), "%s/%s", path,
                                 de->d_name) < sizeof(child))
                unit_rmtree(child);
        }
        closedir(d);
    }
    rmdir(path);
}

#endif
