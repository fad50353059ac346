/*
 * path_rules.c - the path database and the per-entry verdict.
 *
 * Gates are numbered in rule order; the Hyperscan expression id of a
 * rule's `path` is its gate number less one. The database is compiled with
 * HS_FLAG_SINGLEMATCH, so an entry's path opens each gate at most once and
 * the match callback is a bit set, nothing more.
 */
#include "path_rules.h"

#include "alloc.h"
#include "db_cache.h"
#include "input_limits.h"
#include "sha256.h"

#include <string.h>

/* Reports a rule whose `path` Hyperscan cannot take, naming the rule. */
static ks_status bad_path(ks_ruleset *rs, const ksi_rule *r,
                          const char *why)
{
    return ksi_ruleset_fail(rs, KS_ERR_RULE, "%s:%u: rule '%s': invalid "
                            "path pattern: %s", r->source, r->line, r->id,
                            why);
}

/* Checks one path pattern alone, so that an error names its rule. */
static ks_status check_path(ks_ruleset *rs, const ksi_rule *r)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *err = NULL;
    ks_status st = KS_OK;

    if (hs_expression_info(r->path, 0, &info, &err) != HS_SUCCESS) {
        st = bad_path(rs, r, err ? err->message : "unknown error");
        hs_free_compile_error(err);
        return st;
    }
    if (info->min_width == 0)
        st = bad_path(rs, r, "it matches every path (it can match the "
                      "empty string)");
    ksi_free(info);
    return st;
}

/* Numbers the gates; every bad path is reported, not only the first. */
static ks_status number_gates(ks_ruleset *rs)
{
    for (size_t i = 0; i < rs->count; i++) {
        ksi_rule *r = rs->rules[i];

        if (!r->path)
            continue;
        if (rs->n_gates >= KSI_MAX_PATH_GATES)
            return ksi_ruleset_fail(rs, KS_ERR_RULE, "%s:%u: rule '%s': "
                                    "more than %u rules have a 'path'",
                                    r->source, r->line, r->id,
                                    KSI_MAX_PATH_GATES);
        if (ksi_ruleset_problems_full(rs))
            break;
        if (check_path(rs, r) != KS_OK)
            continue;
        r->gate = (unsigned)++rs->n_gates;
        rs->gate_rules[r->gate - 1] = (uint32_t)i;
        if (!r->pattern)
            rs->path_only[rs->n_path_only++] = (uint32_t)i;
    }
    return KS_OK;
}

static ks_status compile_paths(ks_ruleset *rs)
{
    const char **exprs = ksi_calloc(rs->n_gates, sizeof(*exprs));
    unsigned *flags = ksi_calloc(rs->n_gates, sizeof(*flags));
    unsigned *ids = ksi_calloc(rs->n_gates, sizeof(*ids));
    hs_compile_error_t *err = NULL;
    ks_status st = KS_OK;
    hs_error_t rc;

    if (!exprs || !flags || !ids) {
        st = ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                              "path rules");
        goto out;
    }
    for (size_t g = 0; g < rs->n_gates; g++) {
        exprs[g] = rs->rules[rs->gate_rules[g]]->path;
        flags[g] = HS_FLAG_SINGLEMATCH;
        ids[g] = (unsigned)g;
    }
    rc = hs_compile_multi(exprs, flags, ids, (unsigned)rs->n_gates,
                          HS_MODE_BLOCK, NULL, &rs->db_path, &err);
    if (rc == HS_NOMEM) {
        st = ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                              "path rules");
    } else if (rc != HS_SUCCESS && err && err->expression >= 0 &&
               (size_t)err->expression < rs->n_gates) {
        st = bad_path(rs, rs->rules[rs->gate_rules[err->expression]],
                      err->message);
    } else if (rc != HS_SUCCESS) {
        st = ksi_ruleset_fail(rs, KS_ERR_COMPILE, "compiling %zu path "
                              "patterns failed: %s", rs->n_gates,
                              err ? err->message : "unknown error");
    }
    if (rc != HS_SUCCESS) {
        hs_free_compile_error(err);
        rs->db_path = NULL;
    }
out:
    ksi_free(exprs);
    ksi_free(flags);
    ksi_free(ids);
    return st;
}

/* The cache key of the path database: Hyperscan's version and the paths
 * in gate order. */
static void paths_key(const ks_ruleset *rs, char out[65])
{
    ksi_sha256 ctx;
    unsigned char digest[32];

    ksi_sha256_init(&ctx);
    ksi_sha256_update(&ctx, hs_version(), strlen(hs_version()) + 1);
    ksi_sha256_update(&ctx, "paths", 6);
    for (size_t g = 0; g < rs->n_gates; g++) {
        const char *p = rs->rules[rs->gate_rules[g]]->path;

        ksi_sha256_update(&ctx, p, strlen(p) + 1);
    }
    ksi_sha256_final(&ctx, digest);
    ksi_hex(digest, 32, out);
}

/*
 * The on-disk cache keeps pairs of databases (block and stream mode) with
 * per-rule data; the path database is block mode only, so it is stored as
 * both halves of its pair, with empty rule data.
 */
static ks_status load_or_compile_paths(ks_ruleset *rs)
{
    ksi_rule_meta *meta = ksi_calloc(rs->n_gates, sizeof(*meta));
    hs_database_t *twin = NULL;
    char key[65];
    ks_status st = KS_OK;

    if (!meta)
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory");
    paths_key(rs, key);
    if (ksi_db_cache_load(rs->cache_dir, key, &rs->db_path, &twin, meta,
                          rs->n_gates) == 0) {
        hs_free_database(twin);
    } else {
        st = compile_paths(rs);
        if (st == KS_OK)
            ksi_db_cache_store(rs->cache_dir, key, rs->db_path, rs->db_path,
                               meta, rs->n_gates);
    }
    ksi_free(meta);
    return st;
}

ks_status ksi_path_compile(ks_ruleset *rs)
{
    size_t n = 0;
    ks_status st;

    for (size_t i = 0; i < rs->count; i++)
        n += rs->rules[i]->path != NULL;
    if (n == 0)
        return KS_OK;
    rs->gate_rules = ksi_calloc(n, sizeof(*rs->gate_rules));
    rs->path_only = ksi_calloc(n, sizeof(*rs->path_only));
    if (!rs->gate_rules || !rs->path_only)
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                                "path rules");
    st = number_gates(rs);
    if (st == KS_OK && rs->problems.count)
        st = KS_ERR_RULE;
    return st == KS_OK ? load_or_compile_paths(rs) : st;
}

/* What the path callback needs: the verdict it fills, and the rules. */
typedef struct classify_ctx {
    const ks_ruleset *rs;
    ksi_path_verdict *v;
} classify_ctx;

static int on_path(unsigned int id, unsigned long long from,
                   unsigned long long to, unsigned int flags, void *ctx)
{
    classify_ctx *c = ctx;

    (void)from;
    (void)to;
    (void)flags;
    c->v->open[id / 64] |= (uint64_t)1 << (id % 64);
    if (c->rs->rules[c->rs->gate_rules[id]]->pattern)
        c->v->gated = 1;
    else
        c->v->named = 1;
    return 0;
}

int ksi_path_classify(const ks_ruleset *rs, hs_scratch_t *scratch,
                      const ksi_entry *entry, ksi_path_verdict *v)
{
    classify_ctx c = { rs, v };
    const char *path;
    size_t len;

    v->named = 0;
    v->gated = 0;
    if (!rs->db_path)
        return 0;
    memset(v->open, 0, (rs->n_gates + 63) / 64 * sizeof(v->open[0]));
    path = entry->chain[entry->chain_len - 1];
    len = strlen(path);
    if (len == 0)
        return 0;
    if (len > KSI_MAX_PATH)
        len = KSI_MAX_PATH;     /* chains are built no longer than this */
    if (hs_scan(rs->db_path, path, (unsigned)len, 0, scratch, on_path,
                &c) != HS_SUCCESS) {
        memset(v->open, 0, (rs->n_gates + 63) / 64 * sizeof(v->open[0]));
        v->named = 0;
        v->gated = 0;
        return -1;
    }
    return 0;
}

const char *ksi_path_secret(const ksi_entry *entry, size_t *len)
{
    const char *path = entry->chain[entry->chain_len - 1];
    const char *input = entry->input;
    size_t n = input ? strlen(input) : 0;

    if (entry->chain_len == 1 && n > 0 && strncmp(path, input, n) == 0 &&
        (input[n - 1] == '/' || path[n] == '/')) {
        const char *rel = path + n;

        while (*rel == '/')
            rel++;
        if (*rel)
            path = rel;
    }
    *len = strlen(path);
    return path;
}
