/*
 * matcher.c - candidates, confirmation and location of findings.
 *
 * Hyperscan runs every rule at once but only reports where a match ends.
 * The match callback therefore does no real work: it folds each end into a
 * "cluster" of nearby ends of the same rule. Once the bytes around a cluster
 * are all in hand, PCRE2 runs the rule's own pattern over a window that
 * reaches back by the pattern's longest possible match, and extracts capture
 * group 1 as the secret. A PCRE2 match is kept only if it ends inside its
 * cluster, so overlapping windows never report a secret twice.
 *
 * Streaming keeps the last KSI_MAX_CLUSTER_SPAN + KSI_MAX_MATCH_WINDOW bytes
 * of an entry, which is everything a cluster that is still open can need.
 */
#include "matcher.h"

#include "alloc.h"
#include "allow_mark.h"
#include "input_limits.h"
#include "path_rules.h"
#include "rule_profile.h"
#include "ruleset.h"
#include "sha256.h"
#include "simd.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bytes of an entry a stream keeps behind the newest data. */
/*
 * A confirmed secret is reported only once no rule can still confirm an
 * overlapping one (which could shadow it): that other secret starts before
 * this one ends, so its cluster closes within a match window plus a cluster
 * span plus the tail after this secret's end.
 */
#define HIT_SETTLE \
    ((uint64_t)KSI_MAX_MATCH_WINDOW + KSI_MAX_CLUSTER_SPAN + KSI_MATCH_TAIL)

/*
 * Bytes of an entry a stream keeps behind the newest data: what an open
 * cluster can reach back to, and what a secret waiting to settle (up to a
 * match window long) spans.
 */
#define HISTORY (KSI_MAX_CLUSTER_SPAN + 2 * KSI_MAX_MATCH_WINDOW + \
                 KSI_MATCH_TAIL)

/* Nearby candidate ends of one rule. Offsets are from the entry's start. */
typedef struct cluster {
    uint32_t rule;
    uint64_t first_end;
    uint64_t last_end;
} cluster;

/*
 * A confirmed secret waiting to be located and reported. A vetoed hit is
 * one its rule's validator proved fake (a token whose checksum is wrong):
 * it is never reported, but it still shadows less confident rules, so that
 * `TOKEN=ghp_<bad checksum>` is not reported as a generic token either.
 */
typedef struct hit {
    uint32_t rule;
    ks_confidence confidence;
    uint64_t start;
    size_t len;
    double entropy;
    int veto;
} hit;

/* Bytes of the entry in memory: data[0] is entry offset `base`. */
typedef struct view {
    const unsigned char *data;
    uint64_t base;
    size_t len;
} view;

struct ksi_matcher {
    const ks_ruleset *rs;
    hs_scratch_t *scratch;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;

    cluster *clusters;
    size_t n_clusters;
    size_t cap_clusters;
    uint32_t *open;             /* per rule: 1 + its open cluster, or 0 */
    hit *hits;
    size_t n_hits;
    size_t cap_hits;
    ks_rule_stats *stats;       /* per rule */
    int profile;
    const ksi_rule_dbs *rule_dbs;   /* time each rule alone, or NULL */
    ksi_rule_scratch *rule_scratch;

    /* The entry being scanned. */
    const ksi_entry *entry;
    ksi_path_verdict path;      /* rules its path opened */
    const ksi_sink *sink;
    uint64_t reported;
    int too_many_candidates;
    int out_of_memory;
    int warned_findings;
    int warned_backtrack;
    int failed;                 /* a stream step failed or was stopped */

    /* Streaming state. */
    hs_stream_t *stream[2];     /* every entry's rules, gated rules */
    unsigned char *buf;
    size_t buf_cap;
    uint64_t base;              /* entry offset of buf[0] */
    size_t len;                 /* bytes held in buf */
    uint64_t base_line;         /* line number at base */
    uint64_t base_line_start;   /* entry offset where that line starts */
};

static void drop_streams(ksi_matcher *m);

ksi_matcher *ksi_matcher_new(const ks_ruleset *rs, int profile)
{
    ksi_matcher *m;

    if (!rs || !rs->compiled)
        return NULL;
    m = ksi_calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->rs = rs;
    if (hs_clone_scratch(rs->scratch_proto, &m->scratch) != HS_SUCCESS)
        goto fail;
    m->md = pcre2_match_data_create(rs->max_captures + 1, rs->pcre_gctx);
    m->mctx = pcre2_match_context_create(rs->pcre_gctx);
    m->jit = pcre2_jit_stack_create(32 << 10, KSI_PCRE2_JIT_STACK_MAX,
                                    rs->pcre_gctx);
    m->open = ksi_calloc(rs->count, sizeof(*m->open));
    m->stats = ksi_calloc(rs->count, sizeof(*m->stats));
    m->profile = profile;
    if (!m->md || !m->mctx || !m->jit || !m->open || !m->stats)
        goto fail;
    pcre2_set_match_limit(m->mctx, KSI_PCRE2_MATCH_LIMIT);
    pcre2_set_depth_limit(m->mctx, KSI_PCRE2_DEPTH_LIMIT);
    pcre2_jit_stack_assign(m->mctx, NULL, m->jit);
    return m;

fail:
    ksi_matcher_free(m);
    return NULL;
}

void ksi_matcher_free(ksi_matcher *m)
{
    if (!m)
        return;
    drop_streams(m);
    hs_free_scratch(m->scratch);
    ksi_rule_scratch_free(m->rule_scratch);
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mctx);
    pcre2_jit_stack_free(m->jit);
    ksi_free(m->open);
    ksi_free(m->stats);
    ksi_free(m->clusters);
    ksi_free(m->hits);
    ksi_free(m->buf);
    ksi_free(m);
}

int ksi_matcher_time_rules(ksi_matcher *m, const ksi_rule_dbs *dbs)
{
    m->rule_scratch = ksi_rule_scratch_new(dbs);
    m->rule_dbs = m->rule_scratch ? dbs : NULL;
    return m->rule_dbs ? 0 : -1;
}

void ksi_matcher_drain_stats(ksi_matcher *m, ks_rule_stats *acc)
{
    for (size_t i = 0; i < m->rs->count; i++) {
        acc[i].candidates += m->stats[i].candidates;
        acc[i].findings += m->stats[i].findings;
        acc[i].confirm_ns += m->stats[i].confirm_ns;
        acc[i].match_ns += m->stats[i].match_ns;
    }
    memset(m->stats, 0, m->rs->count * sizeof(*m->stats));
}

static uint64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- stage 1: candidates ------------------------------------------------ */

static int on_candidate(unsigned int id, unsigned long long from,
                        unsigned long long to, unsigned int flags, void *ctx)
{
    ksi_matcher *m = ctx;
    const ksi_rule *rule = m->rs->rules[id];
    uint32_t open = m->open[id];

    (void)from;
    (void)flags;
    if (open) {
        cluster *c = &m->clusters[open - 1];

        if (to <= c->last_end)
            return 0;
        if (to - c->last_end <= rule->merge_gap &&
            to - c->first_end <= KSI_MAX_CLUSTER_SPAN) {
            c->last_end = to;
            return 0;
        }
    }
    if (m->n_clusters >= KSI_MAX_CLUSTERS) {
        m->too_many_candidates = 1;
        return 0;
    }
    if (ksi_grow(&m->clusters, &m->cap_clusters, m->n_clusters + 1,
                 sizeof(*m->clusters))) {
        m->out_of_memory = 1;
        return 1;   /* stops the scan: hs_scan returns HS_SCAN_TERMINATED */
    }
    m->clusters[m->n_clusters] = (cluster){ id, to, to };
    m->open[id] = (uint32_t)++m->n_clusters;
    return 0;
}

/* ---- stage 2: confirmation ---------------------------------------------- */

static int report_diag(ksi_matcher *m, ks_diag_level level, ks_status status,
                       const char *message)
{
    if (!m->sink->diag)
        return 0;
    return m->sink->diag(m->sink->ctx, m->entry, level, status, message);
}

static ks_status add_hit(ksi_matcher *m, uint32_t rule, uint64_t start,
                         size_t len, const unsigned char *secret)
{
    const ksi_rule *r = m->rs->rules[rule];
    ks_confidence confidence = r->info.confidence;
    double entropy = ksi_entropy(secret, len);
    int veto = 0;

    if (len == 0 || entropy < r->info.min_entropy)
        return KS_OK;
    if (ksi_is_noise(secret, len, r->info.generic))
        return KS_OK;
    if (r->validator && !r->validator(secret, len)) {
        if (r->lower_on_invalid)
            confidence = KS_CONF_LOW;
        else
            veto = 1;
    }
    if (ksi_grow(&m->hits, &m->cap_hits, m->n_hits + 1, sizeof(*m->hits)))
        return KS_ERR_NOMEM;
    m->hits[m->n_hits++] = (hit){ rule, confidence, start, len, entropy,
                                  veto };
    return KS_OK;
}

/* Runs a rule's PCRE2 program over the window around one cluster. */
static ks_status confirm_cluster(ksi_matcher *m, const view *v,
                                 const cluster *c)
{
    ksi_rule *r = m->rs->rules[c->rule];
    uint64_t win = c->first_end > r->lookback ? c->first_end - r->lookback
                                              : 0;
    uint64_t end = c->last_end + KSI_MATCH_TAIL;
    PCRE2_SIZE off, subject_len, first, last;

    if (!ksi_path_allows(&m->path, r))
        return KS_OK;       /* the rule is not for files of this name */
    if (win < v->base)
        win = v->base;
    if (end > v->base + v->len)
        end = v->base + v->len;
    off = (PCRE2_SIZE)(win - v->base);
    subject_len = (PCRE2_SIZE)(end - v->base);
    first = (PCRE2_SIZE)(c->first_end - v->base);
    last = (PCRE2_SIZE)(c->last_end - v->base);
    ksi_rule_jit(m->rs, r);

    while (off <= last) {
        int rc = pcre2_match(r->re, v->data, subject_len, off, 0, m->md,
                             m->mctx);
        PCRE2_SIZE *ov;
        PCRE2_SIZE s, e;
        ks_status st;

        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc == PCRE2_ERROR_NOMEMORY)
            return KS_ERR_NOMEM;
        if (rc < 0) {
            if (!m->warned_backtrack++ &&
                report_diag(m, KS_DIAG_WARNING, KS_WARN_LIMIT,
                            "a rule's pattern hit the backtracking limit; "
                            "some candidates were not checked"))
                return KS_STOPPED;
            break;
        }
        ov = pcre2_get_ovector_pointer(m->md);
        if (ov[1] > last)
            break;
        s = ov[0];
        e = ov[1];
        if (e >= first && !(r->info.generic && ov[1] - ov[0] >= 5 &&
                            ksi_is_benign_name(v->data, ov[0]))) {
            if (rc > 1 && ov[2] != PCRE2_UNSET) {
                s = ov[2];
                e = ov[3];
            }
            st = add_hit(m, c->rule, v->base + s, e - s, v->data + s);
            if (st != KS_OK)
                return st;
        }
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    return KS_OK;
}

/* ---- stage 3: location and reporting ------------------------------------ */

static int hit_order(const void *a, const void *b)
{
    const hit *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return 0;
}

/* Moves a line cursor forward over data[from..to), counting newlines. */
static void count_lines(const unsigned char *data, uint64_t base,
                        uint64_t from, uint64_t to, uint64_t *line,
                        uint64_t *line_start)
{
    size_t after_last;
    size_t n = ksi_count_newlines(data + (from - base), (size_t)(to - from),
                                  &after_last);

    if (n) {
        *line += n;
        *line_start = from + after_last;
    }
}

static void fingerprint(const char *rule_id, const unsigned char *secret,
                        size_t len, char out[33])
{
    ksi_sha256 ctx;
    unsigned char digest[32];

    ksi_sha256_init(&ctx);
    ksi_sha256_update(&ctx, rule_id, strlen(rule_id) + 1);
    ksi_sha256_update(&ctx, secret, len);
    ksi_sha256_final(&ctx, digest);
    ksi_hex(digest, 16, out);
}

/*
 * How strongly a hit claims its bytes: by confidence first; at equal
 * confidence a rule that knows the secret's format beats a generic one,
 * and a rule limited to certain files beats one that is not.
 */
static int claim(const ksi_matcher *m, const hit *h)
{
    const ksi_rule *r = m->rs->rules[h->rule];

    return (int)h->confidence * 4 + (r->info.generic ? 0 : 2) +
           (r->path ? 1 : 0);
}

/* b, loaded after a, claims a's very bytes and comes from another file. */
static int repeats(const ksi_matcher *m, const hit *a, const hit *b)
{
    return a->start == b->start && a->len == b->len &&
           strcmp(m->rs->rules[a->rule]->source,
                  m->rs->rules[b->rule]->source) != 0;
}

/*
 * When two rules claim overlapping bytes, the stronger claim names the
 * secret: a GitHub token in `TOKEN=ghp_...` is a GitHub token, not also a
 * generic assignment. Equal claims both report, except that a rule from
 * another file claiming the very same bytes (a rule file that repeats a
 * built-in rule) yields to the rule loaded first. Hits are sorted by start,
 * then by rule, so overlapping ones are neighbours.
 */
static void drop_shadowed(ksi_matcher *m)
{
    for (size_t i = 0; i < m->n_hits; i++) {
        hit *a = &m->hits[i];

        for (size_t j = i + 1; j < m->n_hits; j++) {
            hit *b = &m->hits[j];
            int ca, cb;

            if (b->start >= a->start + a->len)
                break;
            if (a->rule == b->rule || a->len == 0 || b->len == 0)
                continue;
            ca = claim(m, a);
            cb = claim(m, b);
            if (ca < cb)
                a->len = 0;
            else if (cb < ca || repeats(m, a, b))
                b->len = 0;
        }
    }
}

static void set_image_fields(ks_location *loc, const ks_location *image);

/* Fills in where a finding is: the entry, then line, column and offset. */
static void locate(ks_location *loc, const ksi_entry *e, uint64_t line,
                   uint64_t column, uint64_t offset)
{
    loc->input = e->input;
    loc->chain = e->chain;
    loc->chain_len = e->chain_len;
    loc->path = e->chain[e->chain_len - 1];
    loc->line = line;
    loc->column = column;
    loc->offset = offset;
    loc->flags = e->flags;
    set_image_fields(loc, e->image);
}

static void set_image_fields(ks_location *loc, const ks_location *image)
{
    loc->image = image ? image->image : NULL;
    loc->manifest_digest = image ? image->manifest_digest : NULL;
    loc->platform = image ? image->platform : NULL;
    loc->layer_index = image ? image->layer_index : -1;
    loc->layer_digest = image ? image->layer_digest : NULL;
    loc->deleted_by = image ? image->deleted_by : -1;
    loc->config_field = image ? image->config_field : NULL;
}

/*
 * Reports the confirmed secrets that have settled (all of them when
 * `final`); the others wait in m->hits for a later chunk.
 */
static ks_status report_hits(ksi_matcher *m, const view *v, int final)
{
    uint64_t pos = v->base, line = m->base_line;
    uint64_t line_start = m->base_line_start;
    uint64_t avail = v->base + v->len;
    const ksi_entry *e = m->entry;
    size_t keep = 0;
    char fp[33];

    if (m->n_hits == 0)
        return KS_OK;
    if (m->n_hits > 1)
        qsort(m->hits, m->n_hits, sizeof(*m->hits), hit_order);
    drop_shadowed(m);
    for (size_t i = 0; i < m->n_hits; i++) {
        const hit *h = &m->hits[i];
        const unsigned char *secret = v->data + (h->start - v->base);
        ks_finding f;

        if (h->len == 0)
            continue;
        assert(h->start >= v->base);
        if (!final && h->start + h->len + HIT_SETTLE > avail) {
            m->hits[keep++] = *h;
            continue;
        }
        if (h->veto)
            continue;

        if (m->reported >= KSI_MAX_FINDINGS_PER_ENTRY) {
            if (!m->warned_findings++ &&
                report_diag(m, KS_DIAG_WARNING, KS_WARN_LIMIT,
                            "too many findings in one entry; the rest of "
                            "this entry's findings are not reported"))
                return KS_STOPPED;
            break;
        }
        count_lines(v->data, v->base, pos, h->start, &line, &line_start);
        pos = h->start;
        fingerprint(m->rs->rules[h->rule]->id, secret, h->len, fp);

        f.rule = &m->rs->rules[h->rule]->info;
        f.confidence = h->confidence;
        f.secret = (const char *)secret;
        f.secret_len = h->len;
        f.entropy = h->entropy;
        f.fingerprint = fp;
        locate(&f.location, e, line, h->start - line_start + 1, h->start);
        if (ksi_allow_marked(v->data, v->base, v->len, line_start, h->start,
                             h->start + h->len))
            f.location.flags |= KS_LOC_ALLOWED;
        m->reported++;
        m->stats[h->rule].findings++;
        if (m->sink->finding(m->sink->ctx, e, &f))
            return KS_STOPPED;
    }
    m->n_hits = keep;
    return KS_OK;
}

/*
 * Confirms every cluster whose surroundings are in memory (all of them when
 * `final`), keeps the rest for the next chunk, and reports what was found.
 */
static ks_status confirm_ready(ksi_matcher *m, const view *v, int final)
{
    uint64_t avail = v->base + v->len;
    size_t keep = 0;
    ks_status st = KS_OK;

    for (size_t i = 0; i < m->n_clusters; i++) {
        cluster c = m->clusters[i];

        m->open[c.rule] = 0;
        if (!final && c.last_end + KSI_MATCH_TAIL > avail) {
            m->clusters[keep++] = c;
            continue;
        }
        if (st == KS_OK) {
            uint64_t t0 = m->profile ? now_ns() : 0;

            st = confirm_cluster(m, v, &c);
            m->stats[c.rule].candidates++;
            if (m->profile)
                m->stats[c.rule].confirm_ns += now_ns() - t0;
        }
    }
    m->n_clusters = keep;
    for (size_t i = 0; i < keep; i++)
        m->open[m->clusters[i].rule] = (uint32_t)i + 1;

    if (m->too_many_candidates) {
        m->too_many_candidates = 0;
        if (report_diag(m, KS_DIAG_WARNING, KS_WARN_LIMIT,
                        "too many candidate matches in one chunk; some were "
                        "not checked"))
            return KS_STOPPED;
    }
    if (m->out_of_memory)
        st = KS_ERR_NOMEM;
    if (st != KS_OK) {
        m->n_hits = 0;
        return st;
    }
    return report_hits(m, v, final);
}

/*
 * Reports the path rules the entry's name matched, at its first byte and
 * with the path as the secret (a path rule has no content to point at).
 */
static ks_status report_path_rules(ksi_matcher *m)
{
    const ksi_entry *e = m->entry;
    const char *secret;
    size_t len;
    char fp[33];

    if (!m->path.named)
        return KS_OK;
    secret = ksi_path_secret(e, &len);
    for (size_t i = 0; i < m->rs->n_path_only; i++) {
        uint32_t id = m->rs->path_only[i];
        const ksi_rule *r = m->rs->rules[id];
        ks_finding f;

        if (!ksi_path_allows(&m->path, r))
            continue;
        fingerprint(r->id, (const unsigned char *)secret, len, fp);
        f.rule = &r->info;
        f.confidence = r->info.confidence;
        f.secret = secret;
        f.secret_len = len;
        f.entropy = ks_entropy(secret, len);
        f.fingerprint = fp;
        locate(&f.location, e, 1, 1, 0);
        m->reported++;
        m->stats[id].findings++;
        if (m->sink->finding(m->sink->ctx, e, &f))
            return KS_STOPPED;
    }
    return KS_OK;
}

/* Starts an entry: decides from its path which rules apply, once. */
static ks_status begin_entry(ksi_matcher *m, const ksi_entry *entry,
                             const ksi_sink *sink)
{
    assert(entry->chain_len > 0);
    m->entry = entry;
    m->sink = sink;
    m->reported = 0;
    m->warned_findings = 0;
    m->warned_backtrack = 0;
    m->too_many_candidates = 0;
    m->out_of_memory = 0;
    m->failed = 0;
    m->n_clusters = 0;
    m->n_hits = 0;
    m->base = 0;
    m->len = 0;
    m->base_line = 1;
    m->base_line_start = 0;
    if (ksi_path_classify(m->rs, m->scratch, entry, &m->path))
        return KS_ERR_MATCHER;
    return report_path_rules(m);
}

/* Forgets every open cluster after a failed scan. */
static void drop_clusters(ksi_matcher *m)
{
    m->n_clusters = 0;
    memset(m->open, 0, m->rs->count * sizeof(*m->open));
}

/*
 * The content databases an entry is scanned with: the one of every entry,
 * and the path-filtered rules' when its path opened one of them. Either
 * may be missing; db[] gets the ones there are. Returns how many.
 */
static int content_dbs(const ksi_matcher *m, int stream,
                       const hs_database_t *db[2])
{
    const hs_database_t *all = stream ? m->rs->db_stream : m->rs->db_block;
    const hs_database_t *gated = stream ? m->rs->db_stream_gated
                                        : m->rs->db_block_gated;
    int n = 0;

    if (all)
        db[n++] = all;
    if (gated && m->path.gated)
        db[n++] = gated;
    return n;
}

ks_status ksi_match_block(ksi_matcher *m, const ksi_entry *entry,
                          const void *data, size_t len, const ksi_sink *sink)
{
    view v = { data, 0, len };
    const hs_database_t *db[2];
    ks_status st;
    int n;

    if (len > UINT32_MAX)
        return KS_ERR_ARG;
    st = begin_entry(m, entry, sink);
    if (st != KS_OK || len == 0)
        return st;
    if (m->rule_dbs)
        ksi_rule_dbs_time(m->rule_dbs, m->rule_scratch, data, len,
                          m->stats);
    n = content_dbs(m, 0, db);
    for (int i = 0; i < n; i++) {
        if (hs_scan(db[i], data, (unsigned)len, 0, m->scratch, on_candidate,
                    m) != HS_SUCCESS) {
            drop_clusters(m);
            return m->out_of_memory ? KS_ERR_NOMEM : KS_ERR_MATCHER;
        }
    }
    return n ? confirm_ready(m, &v, 1) : KS_OK;
}

/* ---- streaming ---------------------------------------------------------- */

/* Closes the entry's streams without reporting what they still hold. */
static void drop_streams(ksi_matcher *m)
{
    for (int i = 0; i < 2; i++) {
        if (m->stream[i])
            hs_close_stream(m->stream[i], m->scratch, NULL, NULL);
        m->stream[i] = NULL;
    }
}

ks_status ksi_stream_open(ksi_matcher *m, const ksi_entry *entry,
                          const ksi_sink *sink)
{
    const hs_database_t *db[2];
    ks_status st = begin_entry(m, entry, sink);
    int n;

    if (st != KS_OK)
        return st;
    if (!m->buf) {
        m->buf_cap = HISTORY + KSI_STREAM_CHUNK;
        m->buf = ksi_malloc(m->buf_cap);
        if (!m->buf)
            return KS_ERR_NOMEM;
    }
    /* With no content database for the entry, the bytes are read unseen. */
    n = content_dbs(m, 1, db);
    for (int i = 0; i < n; i++) {
        if (hs_open_stream(db[i], 0, &m->stream[i]) != HS_SUCCESS) {
            m->stream[i] = NULL;
            drop_streams(m);
            return KS_ERR_NOMEM;
        }
    }
    return KS_OK;
}

void ksi_stream_space(ksi_matcher *m, void **space, size_t *room)
{
    if (m->buf_cap - m->len < KSI_STREAM_CHUNK && m->len > HISTORY) {
        size_t drop = m->len - HISTORY;

        count_lines(m->buf, m->base, m->base, m->base + drop, &m->base_line,
                    &m->base_line_start);
        memmove(m->buf, m->buf + drop, HISTORY);
        m->base += drop;
        m->len = HISTORY;
    }
    *space = m->buf + m->len;
    *room = m->buf_cap - m->len;
}

ks_status ksi_stream_commit(ksi_matcher *m, size_t len)
{
    view v;
    ks_status st;

    assert(m->len + len <= m->buf_cap);
    if (len == 0 || !m->stream[0])
        return m->failed ? KS_ERR_STATE : KS_OK;
    if (m->failed)
        return KS_ERR_STATE;
    /* Each chunk alone: a match across two chunks is not timed. */
    if (m->rule_dbs)
        ksi_rule_dbs_time(m->rule_dbs, m->rule_scratch, m->buf + m->len,
                          len, m->stats);
    for (int i = 0; i < 2 && m->stream[i]; i++) {
        if (hs_scan_stream(m->stream[i], (const char *)m->buf + m->len,
                           (unsigned)len, 0, m->scratch, on_candidate,
                           m) != HS_SUCCESS) {
            m->failed = 1;
            return m->out_of_memory ? KS_ERR_NOMEM : KS_ERR_MATCHER;
        }
    }
    m->len += len;
    v = (view){ m->buf, m->base, m->len };
    st = confirm_ready(m, &v, 0);
    if (st != KS_OK)
        m->failed = 1;
    return st;
}

ks_status ksi_stream_close(ksi_matcher *m)
{
    view v = { m->buf, m->base, m->len };
    hs_error_t err = HS_SUCCESS;

    if (!m->stream[0])
        return KS_OK;
    if (m->failed) {
        drop_streams(m);
        drop_clusters(m);
        return KS_OK;
    }
    /* Closing reports matches that end at end of data ($, \z). */
    for (int i = 0; i < 2; i++) {
        if (m->stream[i] && err == HS_SUCCESS)
            err = hs_close_stream(m->stream[i], m->scratch, on_candidate, m);
        else if (m->stream[i])
            hs_close_stream(m->stream[i], m->scratch, NULL, NULL);
        m->stream[i] = NULL;
    }
    if (err != HS_SUCCESS) {
        drop_clusters(m);
        return m->out_of_memory ? KS_ERR_NOMEM : KS_ERR_MATCHER;
    }
    return confirm_ready(m, &v, 1);
}

/* ---- the candidate stage alone ------------------------------------------ */

static int count_match(unsigned int id, unsigned long long from,
                       unsigned long long to, unsigned int flags, void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    ++*(uint64_t *)ctx;
    return 0;
}

ks_status ks_ruleset_count_matches(const ks_ruleset *rs, const void *data,
                                   size_t len, uint64_t *matches)
{
    const char *p = data;
    hs_scratch_t *scratch = NULL;
    hs_error_t err = HS_SUCCESS;

    if (!rs || !matches || (!data && len))
        return KS_ERR_ARG;
    if (!rs->compiled)
        return KS_ERR_STATE;
    *matches = 0;
    if (!rs->db_block)
        return KS_OK;   /* every rule applies under some paths only */
    if (hs_clone_scratch(rs->scratch_proto, &scratch) != HS_SUCCESS)
        return KS_ERR_NOMEM;
    /* Block mode takes at most 4 GiB - 1 at a time. */
    while (len > 0 && err == HS_SUCCESS) {
        unsigned n = len > UINT32_MAX ? UINT32_MAX : (unsigned)len;

        err = hs_scan(rs->db_block, p, n, 0, scratch, count_match, matches);
        p += n;
        len -= n;
    }
    hs_free_scratch(scratch);
    return err == HS_SUCCESS ? KS_OK : KS_ERR_MATCHER;
}
