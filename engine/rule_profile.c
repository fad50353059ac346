/*
 * rule_profile.c - per-rule databases for profiling (see rule_profile.h).
 */
#include "rule_profile.h"

#include "alloc.h"
#include "ruleset.h"

#include <time.h>

struct ksi_rule_dbs {
    hs_database_t **db;         /* one per rule */
    size_t count;
    hs_scratch_t *proto;
};

struct ksi_rule_scratch {
    hs_scratch_t *scratch;
};

ksi_rule_dbs *ksi_rule_dbs_new(const ks_ruleset *rs)
{
    ksi_rule_dbs *dbs = ksi_calloc(1, sizeof(*dbs));

    if (!dbs)
        return NULL;
    dbs->db = ksi_calloc(rs->count, sizeof(*dbs->db));
    if (!dbs->db)
        goto fail;
    dbs->count = rs->count;
    for (size_t i = 0; i < rs->count; i++) {
        const ksi_rule *r = rs->rules[i];
        hs_compile_error_t *err = NULL;

        if (!r->hs_pattern)
            continue;   /* a path rule: no pattern to time */
        if (hs_compile(r->hs_pattern, r->hs_flags, HS_MODE_BLOCK, NULL,
                       &dbs->db[i], &err) != HS_SUCCESS) {
            hs_free_compile_error(err);
            goto fail;
        }
        if (hs_alloc_scratch(dbs->db[i], &dbs->proto) != HS_SUCCESS)
            goto fail;
    }
    return dbs;

fail:
    ksi_rule_dbs_free(dbs);
    return NULL;
}

void ksi_rule_dbs_free(ksi_rule_dbs *dbs)
{
    if (!dbs)
        return;
    for (size_t i = 0; dbs->db && i < dbs->count; i++)
        hs_free_database(dbs->db[i]);
    ksi_free(dbs->db);
    hs_free_scratch(dbs->proto);
    ksi_free(dbs);
}

ksi_rule_scratch *ksi_rule_scratch_new(const ksi_rule_dbs *dbs)
{
    ksi_rule_scratch *s = ksi_calloc(1, sizeof(*s));

    if (s && dbs->proto &&
        hs_clone_scratch(dbs->proto, &s->scratch) != HS_SUCCESS) {
        ksi_free(s);
        s = NULL;
    }
    return s;
}

void ksi_rule_scratch_free(ksi_rule_scratch *s)
{
    if (!s)
        return;
    hs_free_scratch(s->scratch);
    ksi_free(s);
}

static uint64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int ignore_match(unsigned int id, unsigned long long from,
                        unsigned long long to, unsigned int flags, void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    (void)ctx;
    return 0;
}

void ksi_rule_dbs_time(const ksi_rule_dbs *dbs, ksi_rule_scratch *s,
                       const void *data, size_t len, ks_rule_stats *stats)
{
    if (len == 0 || len > UINT32_MAX)
        return;
    for (size_t i = 0; i < dbs->count; i++) {
        uint64_t t0;

        if (!dbs->db[i])
            continue;
        t0 = now_ns();

        (void)hs_scan(dbs->db[i], data, (unsigned)len, 0, s->scratch,
                      ignore_match, NULL);
        stats[i].match_ns += now_ns() - t0;
    }
}
