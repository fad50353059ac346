/*
 * test_scan.c - the scan handle: argument and state checks, options,
 * counters, callbacks that stop the scan, and runs repeated on one handle.
 */
#include "unit.h"

#include "input_limits.h"

static const char token_rule[] =
    "- id: sc.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

static const char three_tokens[] =
    "tok_1111111111111111\ntok_2222222222222222\ntok_3333333333333333\n";

static void options_defaults(void **state)
{
    ks_scan_options opts;

    (void)state;
    memset(&opts, 0x5a, sizeof(opts));
    ks_scan_options_init(&opts);
    assert_int_equal(opts.threads, 0);
    assert_int_equal(opts.block_max, KSI_DEFAULT_BLOCK_MAX);
    assert_int_equal(opts.profile_rules, 0);
    assert_null(opts.on_finding);
    assert_null(opts.on_diag);
    assert_null(opts.on_progress);
    assert_null(opts.user);
}

static void bad_arguments(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_ruleset *raw = NULL;
    ks_scan *scan = NULL;

    (void)state;
    assert_int_equal(ks_scan_new(NULL, NULL, &scan), KS_ERR_ARG);
    assert_int_equal(ks_scan_new(rs, NULL, NULL), KS_ERR_ARG);
    assert_int_equal(ks_ruleset_new(&raw), KS_OK);
    assert_int_equal(ks_scan_new(raw, NULL, &scan), KS_ERR_STATE);
    assert_null(scan);

    /* No options at all means the defaults. */
    assert_int_equal(ks_scan_new(rs, NULL, &scan), KS_OK);
    assert_int_equal(ks_scan_buffer(NULL, "x", "", 0), KS_ERR_ARG);
    assert_int_equal(ks_scan_buffer(scan, NULL, "", 0), KS_ERR_ARG);
    assert_int_equal(ks_scan_buffer(scan, "x", NULL, 4), KS_ERR_ARG);
    assert_int_equal(ks_scan_buffer(scan, "x", NULL, 0), KS_OK);
    assert_int_equal(ks_scan_run(NULL, NULL, 0), KS_ERR_ARG);
    assert_int_equal(ks_scan_run(scan, NULL, 1), KS_ERR_ARG);
    assert_int_equal(ks_scan_run(scan, NULL, 0), KS_OK);

    ks_scan_free(scan);
    ks_scan_free(NULL);
    ks_ruleset_free(raw);
    ks_ruleset_free(NULL);
    ks_ruleset_free(rs);
}

/* Findings are counted even with no callback to receive them. */
static void counters_without_callbacks(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_scan *scan = NULL;
    ks_scan_stats st;

    (void)state;
    assert_int_equal(ks_scan_new(rs, NULL, &scan), KS_OK);
    assert_int_equal(ks_scan_buffer(scan, "a", three_tokens,
                                    strlen(three_tokens)), KS_OK);
    assert_int_equal(ks_scan_buffer(scan, "b", "nothing", 7), KS_OK);
    ks_scan_get_stats(scan, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.bytes, strlen(three_tokens) + 7);
    assert_int_equal(st.findings, 3);
    assert_int_equal(st.warnings, 0);
    assert_int_equal(st.errors, 0);
    ks_scan_free(scan);
    ks_ruleset_free(rs);
}

typedef struct stopper {
    int after;              /* stop at this many findings */
    int seen;
} stopper;

static int stop_after(const ks_finding *f, void *user)
{
    stopper *s = user;

    (void)f;
    return ++s->seen >= s->after;
}

/* A callback's nonzero return ends the entry at once. */
static void finding_callback_stops_buffer_scan(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    stopper s = { 1, 0 };

    (void)state;
    ks_scan_options_init(&opts);
    opts.on_finding = stop_after;
    opts.user = &s;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_buffer(scan, "a", three_tokens,
                                    strlen(three_tokens)), KS_STOPPED);
    assert_int_equal(s.seen, 1);
    ks_scan_free(scan);
    ks_ruleset_free(rs);
}

static void make_tree(char *dir, int files)
{
    char name[32], path[256], text[64];

    unit_tempdir(dir);
    for (int i = 0; i < files; i++) {
        snprintf(name, sizeof(name), "f%03d.txt", i);
        snprintf(text, sizeof(text), "tok_%016x\n", (unsigned)i + 1);
        unit_write_file(unit_join(path, sizeof(path), dir, name), text,
                        strlen(text));
    }
}

/* Stopping a run over many files ends it early and says so. */
static void finding_callback_stops_run(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    stopper s = { 2, 0 };
    char dir[64];
    const char *inputs[1] = { dir };

    (void)state;
    make_tree(dir, 200);
    ks_scan_options_init(&opts);
    opts.threads = 4;
    opts.on_finding = stop_after;
    opts.user = &s;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_run(scan, inputs, 1), KS_STOPPED);
    assert_true(s.seen >= 2);
    assert_true(s.seen < 200);
    ks_scan_free(scan);
    ks_ruleset_free(rs);
    unit_rmtree(dir);
}

static int stop_on_diag(const ks_diag *d, void *user)
{
    (void)d;
    (*(int *)user)++;
    return 1;
}

/* A diagnostic callback can stop the scan too: later inputs are skipped. */
static void diag_callback_stops_run(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_scan_stats st;
    int diags = 0;
    const char *inputs[3] = { "/nonexistent/keysift/a",
                              "/nonexistent/keysift/b",
                              "/nonexistent/keysift/c" };

    (void)state;
    ks_scan_options_init(&opts);
    opts.on_diag = stop_on_diag;
    opts.user = &diags;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_run(scan, inputs, 3), KS_STOPPED);
    assert_int_equal(diags, 1);
    ks_scan_get_stats(scan, &st);
    assert_int_equal(st.inputs, 1);
    assert_int_equal(st.errors, 1);
    ks_scan_free(scan);
    ks_ruleset_free(rs);
}

/* One handle, two runs: each run reports, the counters add up. */
static void run_twice_on_one_handle(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_scan_stats st;
    unit_results r = { 0 };
    char dir[64];
    const char *inputs[1] = { dir };

    (void)state;
    make_tree(dir, 5);
    unit_options(&opts, &r);
    opts.threads = 2;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_run(scan, inputs, 1), KS_OK);
    assert_int_equal(r.n_findings, 5);
    assert_int_equal(ks_scan_run(scan, inputs, 1), KS_OK);
    assert_int_equal(r.n_findings, 10);
    ks_scan_get_stats(scan, &st);
    assert_int_equal(st.inputs, 2);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.findings, 10);
    ks_scan_free(scan);
    unit_results_free(&r);
    ks_ruleset_free(rs);
    unit_rmtree(dir);
}

/* One compiled rule set serves several scans at the same time. */
static void rule_set_shared_by_scans(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    unit_results a = { 0 }, b = { 0 };
    ks_scan_options oa, ob;
    ks_scan *sa = NULL, *sb = NULL;

    (void)state;
    unit_options(&oa, &a);
    unit_options(&ob, &b);
    assert_int_equal(ks_scan_new(rs, &oa, &sa), KS_OK);
    assert_int_equal(ks_scan_new(rs, &ob, &sb), KS_OK);
    assert_int_equal(ks_scan_buffer(sa, "a", three_tokens,
                                    strlen(three_tokens)), KS_OK);
    assert_int_equal(ks_scan_buffer(sb, "b", three_tokens, 21), KS_OK);
    assert_int_equal(a.n_findings, 3);
    assert_int_equal(b.n_findings, 1);
    assert_string_equal(b.findings[0].path, "b");
    ks_scan_free(sa);
    ks_scan_free(sb);
    unit_results_free(&a);
    unit_results_free(&b);
    ks_ruleset_free(rs);
}

static const char two_rules[] =
    "- id: sc.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n"
    "- id: sc.never\n"
    "  name: Never found\n"
    "  pattern: 'NEVER-[0-9]{12}'\n";

/* Per-rule counters add up over buffers and runs, and over threads. */
static void rule_stats_count_per_rule(void **state)
{
    ks_ruleset *rs = unit_ruleset(two_rules);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_rule_stats st;
    char dir[64];
    const char *inputs[1] = { dir };

    (void)state;
    make_tree(dir, 7);
    ks_scan_options_init(&opts);
    opts.threads = 3;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_buffer(scan, "a", three_tokens,
                                    strlen(three_tokens)), KS_OK);
    assert_int_equal(ks_scan_rule_stats(scan, 0, &st), KS_OK);
    assert_int_equal(st.findings, 3);
    assert_true(st.candidates >= 1);
    assert_int_equal(st.confirm_ns, 0);

    assert_int_equal(ks_scan_run(scan, inputs, 1), KS_OK);
    assert_int_equal(ks_scan_rule_stats(scan, 0, &st), KS_OK);
    assert_int_equal(st.findings, 10);
    assert_true(st.candidates >= 8);
    assert_int_equal(ks_scan_rule_stats(scan, 1, &st), KS_OK);
    assert_int_equal(st.findings, 0);
    assert_int_equal(st.candidates, 0);

    assert_int_equal(ks_scan_rule_stats(scan, 2, &st), KS_ERR_ARG);
    assert_int_equal(ks_scan_rule_stats(NULL, 0, &st), KS_ERR_ARG);
    assert_int_equal(ks_scan_rule_stats(scan, 0, NULL), KS_ERR_ARG);
    ks_scan_free(scan);
    ks_ruleset_free(rs);
    unit_rmtree(dir);
}

/* With profiling on, confirming candidates takes measurable time. */
static void rule_stats_profiled(void **state)
{
    ks_ruleset *rs = unit_ruleset(two_rules);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_rule_stats st;

    (void)state;
    ks_scan_options_init(&opts);
    opts.profile_rules = 1;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_buffer(scan, "a", three_tokens,
                                    strlen(three_tokens)), KS_OK);
    assert_int_equal(ks_scan_rule_stats(scan, 0, &st), KS_OK);
    assert_int_equal(st.findings, 3);
    assert_true(st.confirm_ns > 0);
    assert_int_equal(ks_scan_rule_stats(scan, 1, &st), KS_OK);
    assert_int_equal(st.confirm_ns, 0);
    ks_scan_free(scan);
    ks_ruleset_free(rs);
}

/* Profiling each rule alone times its pattern over every entry. */
static void rule_stats_each_pattern_alone(void **state)
{
    ks_ruleset *rs = unit_ruleset(two_rules);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_rule_stats st;

    (void)state;
    ks_scan_options_init(&opts);
    opts.profile_rules = 2;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_buffer(scan, "a", three_tokens,
                                    strlen(three_tokens)), KS_OK);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(ks_scan_rule_stats(scan, i, &st), KS_OK);
        assert_true(st.match_ns > 0);
    }
    assert_int_equal(ks_scan_rule_stats(scan, 0, &st), KS_OK);
    assert_int_equal(st.findings, 3);
    ks_scan_free(scan);

    /* Without it, nothing is timed alone. */
    opts.profile_rules = 1;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_buffer(scan, "a", three_tokens,
                                    strlen(three_tokens)), KS_OK);
    assert_int_equal(ks_scan_rule_stats(scan, 0, &st), KS_OK);
    assert_int_equal(st.match_ns, 0);
    ks_scan_free(scan);
    ks_ruleset_free(rs);
}

/* The candidate stage alone counts every match end and nothing more. */
static void count_matches_alone(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_ruleset *raw = NULL;
    uint64_t n = 99;

    (void)state;
    assert_int_equal(ks_ruleset_count_matches(rs, three_tokens,
                                              strlen(three_tokens), &n),
                     KS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ks_ruleset_count_matches(rs, "", 0, &n), KS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ks_ruleset_count_matches(NULL, "x", 1, &n), KS_ERR_ARG);
    assert_int_equal(ks_ruleset_count_matches(rs, "x", 1, NULL), KS_ERR_ARG);
    assert_int_equal(ks_ruleset_new(&raw), KS_OK);
    assert_int_equal(ks_ruleset_count_matches(raw, "x", 1, &n),
                     KS_ERR_STATE);
    ks_ruleset_free(raw);
    ks_ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_defaults),
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(counters_without_callbacks),
        cmocka_unit_test(finding_callback_stops_buffer_scan),
        cmocka_unit_test(finding_callback_stops_run),
        cmocka_unit_test(diag_callback_stops_run),
        cmocka_unit_test(run_twice_on_one_handle),
        cmocka_unit_test(rule_set_shared_by_scans),
        cmocka_unit_test(rule_stats_count_per_rule),
        cmocka_unit_test(rule_stats_profiled),
        cmocka_unit_test(rule_stats_each_pattern_alone),
        cmocka_unit_test(count_matches_alone),
    };

    return cmocka_run_group_tests_name("scan handle", tests, NULL, NULL);
}
