/*
 * test_alloc.c - the allocator wrappers, and allocation failure injected at
 * every point of loading, compiling and scanning: each run must either
 * succeed completely or fail cleanly with KS_ERR_NOMEM, never crash, leak
 * or report something else.
 */
#include "unit.h"

#include "alloc.h"

static void grow_from_empty(void **state)
{
    int *a = NULL;
    size_t cap = 0;

    (void)state;
    assert_int_equal(ksi_grow(&a, &cap, 1, sizeof(*a)), 0);
    assert_non_null(a);
    assert_int_equal(cap, 8);
    a[7] = 7;
    assert_int_equal(ksi_grow(&a, &cap, 9, sizeof(*a)), 0);
    assert_int_equal(cap, 16);
    assert_int_equal(a[7], 7);
    assert_int_equal(ksi_grow(&a, &cap, 100, sizeof(*a)), 0);
    assert_int_equal(cap, 128);
    a[99] = 99;
    assert_int_equal(a[7], 7);
    ksi_free(a);
}

static void grow_within_capacity_keeps_array(void **state)
{
    int *a = NULL, *before;
    size_t cap = 0;

    (void)state;
    assert_int_equal(ksi_grow(&a, &cap, 5, sizeof(*a)), 0);
    before = a;
    assert_int_equal(ksi_grow(&a, &cap, 8, sizeof(*a)), 0);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 8);
    ksi_free(a);
}

/* Failure leaves both the array and its capacity as they were. */
static void grow_failure_leaves_array(void **state)
{
    char *a = NULL, *before;
    size_t cap = 0;

    (void)state;
    assert_int_equal(ksi_grow(&a, &cap, 3, 1), 0);
    before = a;
    ksi_alloc_fail_after(0);
    assert_int_equal(ksi_grow(&a, &cap, 20, 1), -1);
    ksi_alloc_fail_after(-1);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 8);

    /* A size whose doubling would overflow is refused, not wrapped. */
    assert_int_equal(ksi_grow(&a, &cap, 3, (size_t)-1 / 4), 0);
    assert_int_equal(ksi_grow(&a, &cap, 9, (size_t)-1 / 4), -1);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 8);
    ksi_free(a);
}

static void strndup_copies_prefix(void **state)
{
    char *s;

    (void)state;
    s = ksi_strndup("abcdef", 3);
    assert_non_null(s);
    assert_string_equal(s, "abc");
    ksi_free(s);

    s = ksi_strndup("abcdef", 0);
    assert_non_null(s);
    assert_string_equal(s, "");
    ksi_free(s);

    s = ksi_strdup("whole string");
    assert_string_equal(s, "whole string");
    ksi_free(s);

    ksi_alloc_fail_after(0);
    assert_null(ksi_strndup("abc", 3));
    assert_null(ksi_strdup("abc"));
    ksi_alloc_fail_after(-1);
}

/* fail_after(n): n allocations succeed, then all fail until reset. */
static void fail_after_counts(void **state)
{
    void *p[3];

    (void)state;
    ksi_alloc_fail_after(2);
    p[0] = ksi_malloc(16);
    p[1] = ksi_calloc(2, 8);
    p[2] = ksi_malloc(16);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    assert_null(p[2]);
    assert_null(ksi_realloc(NULL, 4));
    assert_null(ksi_calloc(1, 1));
    ksi_alloc_fail_after(-1);
    p[2] = ksi_malloc(0);
    assert_non_null(p[2]);
    for (int i = 0; i < 3; i++)
        ksi_free(p[i]);
}

/* ---- failure at every allocation ---------------------------------------- */

/* A plain rule and one with a lookbehind, which takes the prefilter path. */
static const char torture_rules[] =
    "- id: t.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n"
    "  keywords: [tok_]\n"
    "  examples: ['tok_7f3a9c2e81d04b65']\n"
    "- id: t.look\n"
    "  name: Lookbehind\n"
    "  pattern: '(?<=key:)([A-Z0-9]{12})\\b'\n"
    "  entropy: 2\n";

static const char torture_text[] =
    "first tok_7f3a9c2e81d04b65\n"
    "key:AB12CD34EF56 and tok_fedcba9876543210\n";

#define TORTURE_MAX_RUNS 100000L
#define MAX_REPORTED 25

typedef enum stage {
    STAGE_NEW, STAGE_ADD, STAGE_COMPILE, STAGE_SCAN_NEW, STAGE_SCAN,
    STAGE_DONE,
} stage;

static const char *const stage_names[] = {
    "ks_ruleset_new", "ks_ruleset_add_yaml", "ks_ruleset_compile",
    "ks_scan_new", "the scan", "done",
};

/* What a torture run scans, and how many findings a clean run gives. */
typedef struct target {
    ks_status (*scan)(ks_scan *scan, const struct target *t);
    const ks_ruleset *compiled; /* if set, only scanning is tortured */
    const char *path;           /* for scans of paths */
    unsigned threads;
    size_t block_max;
    size_t findings;
} target;

static ks_status scan_text(ks_scan *scan, const target *t)
{
    (void)t;
    return ks_scan_buffer(scan, "torture", torture_text,
                          strlen(torture_text));
}

static ks_status scan_path(ks_scan *scan, const target *t)
{
    return ks_scan_run(scan, &t->path, 1);
}

typedef struct outcome {
    stage stopped;          /* STAGE_DONE if every call returned KS_OK */
    ks_status status;       /* what the failing call returned */
    char error[256];        /* the rule set's error text, if any */
    unit_results r;
    int injected;           /* did any allocation fail? */
} outcome;

static ks_status load_rules(ks_ruleset **rs, outcome *o)
{
    ks_status st;

    o->stopped = STAGE_NEW;
    st = ks_ruleset_new(rs);
    if (st == KS_OK) {
        o->stopped = STAGE_ADD;
        st = ks_ruleset_add_yaml(*rs, "torture.yaml", torture_rules,
                                 strlen(torture_rules));
    }
    if (st == KS_OK) {
        o->stopped = STAGE_COMPILE;
        st = ks_ruleset_compile(*rs);
    }
    return st;
}

/*
 * Runs load, compile and scan with the n-th allocation failing. Whether a
 * failure was injected at all is seen afterwards: once the countdown has
 * run out, every allocation fails, so one more probe tells.
 */
static void run_with_failure_at(long n, const target *t, outcome *o)
{
    const ks_ruleset *use;
    ks_ruleset *rs = NULL;
    ks_scan *scan = NULL;
    ks_scan_options opts;
    ks_status st;
    void *probe;

    memset(o, 0, sizeof(*o));
    unit_options(&opts, &o->r);
    opts.threads = t->threads;
    opts.block_max = t->block_max;
    ksi_alloc_fail_after(n);
    st = t->compiled ? KS_OK : load_rules(&rs, o);
    use = t->compiled ? t->compiled : rs;
    if (st == KS_OK) {
        o->stopped = STAGE_SCAN_NEW;
        st = ks_scan_new(use, &opts, &scan);
    }
    if (st == KS_OK) {
        o->stopped = STAGE_SCAN;
        st = t->scan(scan, t);
    }
    if (st == KS_OK)
        o->stopped = STAGE_DONE;
    o->status = st;
    probe = ksi_malloc(1);
    o->injected = probe == NULL;
    ksi_alloc_fail_after(-1);
    ksi_free(probe);
    if (rs)
        snprintf(o->error, sizeof(o->error), "%s", ks_ruleset_error(rs));
    ks_scan_free(scan);
    ks_ruleset_free(rs);
}

/*
 * Judges one outcome. Clean is: every call succeeded and every finding
 * came out with no diagnostic, or a call returned KS_ERR_NOMEM, or the
 * scan reported KS_ERR_NOMEM through on_diag. Returns a description of
 * anything else, or NULL.
 */
static const char *judge(const outcome *o, const target *t, char *why,
                         size_t cap)
{
    if (o->stopped != STAGE_DONE) {
        if (o->status == KS_ERR_NOMEM)
            return NULL;
        snprintf(why, cap, "%s returned \"%s\" (%s)",
                 stage_names[o->stopped], ks_status_str(o->status),
                 o->error);
        return why;
    }
    for (size_t i = 0; i < o->r.n_diags; i++) {
        if (o->r.diags[i].status != KS_ERR_NOMEM) {
            snprintf(why, cap, "scan reported \"%s\": %s",
                     ks_status_str(o->r.diags[i].status),
                     o->r.diags[i].message);
            return why;
        }
    }
    if (o->r.n_diags == 0 && o->r.n_findings != t->findings) {
        snprintf(why, cap, "%zu findings of %zu and no diagnostic",
                 o->r.n_findings, t->findings);
        return why;
    }
    return NULL;
}

/*
 * Fails allocations 0, 1, 2, ... in turn until a run needs no more.
 * Returns a description of what went wrong, or NULL; problems with single
 * runs are listed as they happen. Assertions are left to the caller, so
 * that it can clean up first.
 */
static const char *torture(const target *t, char *msg, size_t cap)
{
    outcome o;
    char why[512];
    long n, bad = 0;

    for (n = 0; n < TORTURE_MAX_RUNS; n++) {
        const char *problem;
        int finished;

        run_with_failure_at(n, t, &o);
        problem = judge(&o, t, why, sizeof(why));
        finished = !o.injected;
        unit_results_free(&o.r);
        if (finished && o.stopped != STAGE_DONE) {
            snprintf(msg, cap, "run without injected failure stopped at "
                     "%s: %s", stage_names[o.stopped],
                     ks_status_str(o.status));
            return msg;
        }
        if (problem && bad++ < MAX_REPORTED)
            print_error("allocation %ld failing: %s\n", n, problem);
        if (finished)
            break;
    }
    if (n == TORTURE_MAX_RUNS)
        snprintf(msg, cap, "still failing after %ld allocations", n);
    else if (bad)
        snprintf(msg, cap, "%ld of %ld injected failures were not handled "
                 "cleanly (up to %d listed above)", bad, n, MAX_REPORTED);
    else if (n <= 10)
        snprintf(msg, cap, "only %ld allocations: nothing was tried", n);
    else
        return NULL;
    return msg;
}

static void every_allocation_can_fail_buffer(void **state)
{
    const target t = { scan_text, NULL, NULL, 1, 0, 3 };
    char msg[256];
    const char *problem;

    (void)state;
    problem = torture(&t, msg, sizeof(msg));
    if (problem)
        fail_msg("%s", problem);
}

/*
 * A directory with a small file, read whole, and a large one, streamed:
 * the walk, the job queue, the workers and the streaming matcher. The
 * rules are compiled once beforehand, as a shared set would be.
 */
static void every_allocation_can_fail_tree(void **state)
{
    char dir[64], path[256], msg[256];
    size_t big_len = 9000, text_len = strlen(torture_text);
    char *big = unit_xmalloc(big_len);
    ks_ruleset *rs = unit_ruleset(torture_rules);
    target t = { scan_path, rs, dir, 2, 4096, 6 };
    const char *problem;

    (void)state;
    unit_tempdir(dir);
    unit_write_file(unit_join(path, sizeof(path), dir, "small.txt"),
                    torture_text, text_len);
    memset(big, '.', big_len);
    memcpy(big + big_len - text_len, torture_text, text_len);
    unit_write_file(unit_join(path, sizeof(path), dir, "big.log"), big,
                    big_len);
    free(big);
    problem = torture(&t, msg, sizeof(msg));
    unit_rmtree(dir);
    ks_ruleset_free(rs);
    if (problem)
        fail_msg("%s", problem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grow_from_empty),
        cmocka_unit_test(grow_within_capacity_keeps_array),
        cmocka_unit_test(grow_failure_leaves_array),
        cmocka_unit_test(strndup_copies_prefix),
        cmocka_unit_test(fail_after_counts),
        cmocka_unit_test(every_allocation_can_fail_buffer),
        cmocka_unit_test(every_allocation_can_fail_tree),
    };

    return cmocka_run_group_tests_name("allocator and failure injection",
                                       tests, NULL, NULL);
}
