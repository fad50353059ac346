/*
 * test_ruleset.c - checking and compiling rule sets: bad patterns are
 * named, states are enforced, the hash tracks detection, directories load
 * in name order, and patterns Hyperscan takes only as a prefilter still
 * match exactly.
 */
#include "unit.h"

#include "alloc.h"

#include <ctype.h>

static const char one_rule[] =
    "- id: demo.token\n"
    "  name: Demo token\n"
    "  pattern: '\\b(dmo_[0-9a-f]{20})\\b'\n";

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("expected \"%s\" in \"%s\"", part, text);
}

/* Adds `yaml` to a new set and returns what compiling it says. */
static ks_status compile_text(const char *yaml, ks_ruleset **rs)
{
    assert_int_equal(ks_ruleset_new(rs), KS_OK);
    assert_int_equal(ks_ruleset_add_yaml(*rs, "set.yaml", yaml, strlen(yaml)),
                     KS_OK);
    return ks_ruleset_compile(*rs);
}

static void invalid_regex_names_rule(void **state)
{
    static const char yaml[] =
        "- id: fine.rule\n  name: Fine\n  pattern: 'FINE[0-9]{8}'\n"
        "- id: broken.regex\n  name: Broken\n  pattern: 'foo(bar'\n";
    ks_ruleset *rs = NULL;
    ks_scan *scan = NULL;

    (void)state;
    assert_int_equal(compile_text(yaml, &rs), KS_ERR_RULE);
    assert_contains(ks_ruleset_error(rs), "broken.regex");
    assert_contains(ks_ruleset_error(rs), "set.yaml");
    assert_contains(ks_ruleset_error(rs), "pattern");
    /* A set that failed to compile cannot be scanned with. */
    assert_string_equal(ks_ruleset_hash(rs), "");
    assert_int_equal(ks_scan_new(rs, NULL, &scan), KS_ERR_STATE);
    assert_null(scan);
    ks_ruleset_free(rs);
}

/* A pattern that matches "" would report every byte of every file. */
static void empty_match_rejected(void **state)
{
    static const char *const patterns[] = { "a*", "(?:abc)?", "x{0,4}|y?" };
    char yaml[160];

    (void)state;
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        ks_ruleset *rs = NULL;
        ks_status st;

        snprintf(yaml, sizeof(yaml),
                 "- id: empty.match\n  name: Empty\n  pattern: '%s'\n",
                 patterns[i]);
        st = compile_text(yaml, &rs);
        if (st != KS_ERR_RULE)
            fail_msg("pattern %s: expected KS_ERR_RULE, got %s", patterns[i],
                     ks_status_str(st));
        assert_contains(ks_ruleset_error(rs), "empty.match");
        assert_contains(ks_ruleset_error(rs), "empty");
        ks_ruleset_free(rs);
    }
}

static void compile_twice_is_state_error(void **state)
{
    ks_ruleset *rs = NULL;

    (void)state;
    assert_int_equal(compile_text(one_rule, &rs), KS_OK);
    assert_int_equal(ks_ruleset_compile(rs), KS_ERR_STATE);
    /* Nor may rules be added once compiled. */
    assert_int_equal(ks_ruleset_add_yaml(rs, "late.yaml", one_rule,
                                         strlen(one_rule)),
                     KS_ERR_STATE);
    assert_int_equal(ks_ruleset_count(rs), 1);
    ks_ruleset_free(rs);
}

static void empty_set_is_state_error(void **state)
{
    ks_ruleset *rs = NULL;
    ks_scan *scan = NULL;

    (void)state;
    assert_int_equal(ks_ruleset_new(&rs), KS_OK);
    assert_int_equal(ks_ruleset_compile(rs), KS_ERR_STATE);
    assert_int_equal(ks_scan_new(rs, NULL, &scan), KS_ERR_STATE);

    /* An empty list adds nothing, so the set stays empty. */
    assert_int_equal(ks_ruleset_add_yaml(rs, "none.yaml", "rules: []\n", 10),
                     KS_OK);
    assert_int_equal(ks_ruleset_compile(rs), KS_ERR_STATE);
    ks_ruleset_free(rs);
}

static void assert_hex64(const char *hash)
{
    assert_int_equal(strlen(hash), 64);
    for (size_t i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)hash[i]) ||
            isupper((unsigned char)hash[i]))
            fail_msg("not lowercase hex: %s", hash);
    }
}

/* Compiles `yaml` and copies its hash into `out` (65 bytes). */
static void hash_of(const char *yaml, char *out)
{
    ks_ruleset *rs = NULL;

    assert_int_equal(compile_text(yaml, &rs), KS_OK);
    snprintf(out, 65, "%s", ks_ruleset_hash(rs));
    ks_ruleset_free(rs);
}

static void hash_tracks_rules(void **state)
{
    static const char other_pattern[] =
        "- id: demo.token\n"
        "  name: Demo token\n"
        "  pattern: '\\b(dmo_[0-9a-f]{21})\\b'\n";
    static const char other_id[] =
        "- id: demo.token2\n"
        "  name: Demo token\n"
        "  pattern: '\\b(dmo_[0-9a-f]{20})\\b'\n";
    static const char other_check[] =
        "- id: demo.token\n"
        "  name: Demo token\n"
        "  pattern: '\\b(dmo_[0-9a-f]{20})\\b'\n"
        "  validate: hex\n";
    char a[65], b[65], c[65], d[65], e[65];
    ks_ruleset *rs = NULL;

    (void)state;
    assert_int_equal(ks_ruleset_new(&rs), KS_OK);
    assert_string_equal(ks_ruleset_hash(rs), "");
    ks_ruleset_free(rs);

    hash_of(one_rule, a);
    hash_of(one_rule, b);
    hash_of(other_pattern, c);
    hash_of(other_id, d);
    hash_of(other_check, e);
    assert_hex64(a);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    /* A validator changes what is reported, so it changes the hash. */
    assert_string_not_equal(a, e);
}

static void write_rule_file(const char *dir, const char *name,
                            const char *id)
{
    char path[256], yaml[160];

    snprintf(yaml, sizeof(yaml),
             "- id: %s\n  name: Rule %s\n  pattern: 'Z%s[0-9]{8}'\n", id, id,
             id);
    unit_write_file(unit_join(path, sizeof(path), dir, name), yaml,
                    strlen(yaml));
}

/* Only *.yaml and *.yml, not hidden ones, sorted by name. */
static void add_path_directory_in_name_order(void **state)
{
    char dir[64], path[256];
    ks_ruleset *rs = NULL;

    (void)state;
    unit_tempdir(dir);
    write_rule_file(dir, "c.yml", "c");
    write_rule_file(dir, "a.yaml", "a");
    write_rule_file(dir, "b.yaml", "b");
    write_rule_file(dir, "d.txt", "d");
    write_rule_file(dir, ".e.yaml", "e");
    write_rule_file(dir, "f.yaml.bak", "f");

    assert_int_equal(ks_ruleset_new(&rs), KS_OK);
    assert_int_equal(ks_ruleset_add_path(rs, dir), KS_OK);
    assert_int_equal(ks_ruleset_count(rs), 3);
    assert_string_equal(ks_ruleset_rule(rs, 0)->id, "a");
    assert_string_equal(ks_ruleset_rule(rs, 1)->id, "b");
    assert_string_equal(ks_ruleset_rule(rs, 2)->id, "c");
    assert_string_equal(ks_ruleset_rule(rs, 2)->source,
                        unit_join(path, sizeof(path), dir, "c.yml"));

    /* A single file loads too. */
    assert_int_equal(ks_ruleset_add_path(rs, unit_join(path, sizeof(path),
                                                       dir, "d.txt")),
                     KS_OK);
    assert_int_equal(ks_ruleset_count(rs), 4);
    assert_int_equal(ks_ruleset_compile(rs), KS_OK);
    ks_ruleset_free(rs);
    unit_rmtree(dir);
}

static void add_path_errors(void **state)
{
    static const char nameless[] = "- id: no.name\n  pattern: 'Q[0-9]{5}'\n";
    char dir[64], path[256];
    ks_ruleset *rs = NULL;

    (void)state;
    unit_tempdir(dir);
    assert_int_equal(ks_ruleset_new(&rs), KS_OK);

    unit_join(path, sizeof(path), dir, "absent.yaml");
    assert_int_equal(ks_ruleset_add_path(rs, path), KS_ERR_NOT_FOUND);
    assert_contains(ks_ruleset_error(rs), path);

    /* A directory without rule files is a mistake worth reporting. */
    assert_int_equal(ks_ruleset_add_path(rs, dir), KS_ERR_RULE);
    assert_contains(ks_ruleset_error(rs), dir);

    /* A bad file in a directory names that file. */
    write_rule_file(dir, "a.yaml", "fine");
    unit_write_file(unit_join(path, sizeof(path), dir, "b.yaml"), nameless,
                    strlen(nameless));
    assert_int_equal(ks_ruleset_add_path(rs, dir), KS_ERR_RULE);
    assert_contains(ks_ruleset_error(rs), path);
    assert_contains(ks_ruleset_error(rs), "no.name");
    ks_ruleset_free(rs);
    unit_rmtree(dir);
}

static void defaults_load_and_compile(void **state)
{
    ks_ruleset *rs = NULL;

    (void)state;
    assert_int_equal(ks_ruleset_new(&rs), KS_OK);
    if (ks_ruleset_add_defaults(rs) != KS_OK)
        fail_msg("defaults: %s", ks_ruleset_error(rs));
    if (ks_ruleset_count(rs) < 30)
        fail_msg("only %zu default rules", ks_ruleset_count(rs));
    if (ks_ruleset_compile(rs) != KS_OK)
        fail_msg("defaults: %s", ks_ruleset_error(rs));
    assert_hex64(ks_ruleset_hash(rs));
    ks_ruleset_free(rs);
}

/*
 * Hyperscan has no lookaround, so these rules are compiled as prefilters:
 * Hyperscan over-approximates and PCRE2 must make the exact decision.
 */
static void lookaround_patterns_match_exactly(void **state)
{
    static const char yaml[] =
        "- id: look.ahead\n"
        "  name: Lookahead\n"
        "  pattern: 'key=(?!zz)([a-z]{8})\\b'\n"
        "- id: look.behind\n"
        "  name: Lookbehind\n"
        "  pattern: '(?<=token:)([0-9a-f]{12})\\b'\n";
    static const char text[] =
        "key=zzqwerty\n"            /* refused by the lookahead */
        "key=qwertyui\n"            /* found */
        "xtoken=7f3a9c2e81d0\n"     /* the lookbehind needs token: */
        "token:7f3a9c2e81d0\n";     /* found */
    unit_results r = { 0 };
    const unit_finding *f;
    ks_ruleset *rs = unit_ruleset(yaml);

    (void)state;
    assert_int_equal(unit_scan_text(rs, text, &r), KS_OK);
    assert_int_equal(r.n_findings, 2);
    assert_int_equal(unit_count_rule(&r, "look.ahead"), 1);
    assert_int_equal(unit_count_rule(&r, "look.behind"), 1);

    f = unit_find(&r, "look.ahead", "qwertyui");
    assert_non_null(f);
    assert_int_equal(f->offset, 17);
    assert_int_equal(f->line, 2);
    assert_int_equal(f->column, 5);

    f = unit_find(&r, "look.behind", "7f3a9c2e81d0");
    assert_non_null(f);
    assert_int_equal(f->line, 4);
    assert_int_equal(f->column, 7);
    unit_results_free(&r);
    ks_ruleset_free(rs);
}

/*
 * Repeats with large upper bounds reach Hyperscan loosened, but the bound
 * must still hold for what is reported.
 */
static void large_repeat_bounds_still_apply(void **state)
{
    static const char yaml[] =
        "- id: big.repeat\n"
        "  name: Big repeat\n"
        "  pattern: 'KEY-([A-Z0-9]{10,1000})\\b'\n";
    ks_ruleset *rs = unit_ruleset(yaml);
    unit_results r = { 0 };
    char text[1300];

    (void)state;
    /* 500 characters: inside the bound, found whole. */
    memcpy(text, "KEY-", 4);
    for (size_t i = 0; i < 500; i++)
        text[4 + i] = "QW7ERT3YUI9OPAS2DFG5HJK8LZX4CV6BNM0Q"[i % 36];
    text[504] = '\0';
    assert_int_equal(unit_scan_text(rs, text, &r), KS_OK);
    assert_int_equal(r.n_findings, 1);
    assert_int_equal(r.findings[0].secret_len, 500);
    assert_int_equal(r.findings[0].offset, 4);
    unit_results_free(&r);

    /* 1200: no run of at most 1000 ends at a word boundary. */
    for (size_t i = 500; i < 1200; i++)
        text[4 + i] = "QW7ERT3YUI9OPAS2DFG5HJK8LZX4CV6BNM0Q"[i % 36];
    text[1204] = '\0';
    assert_int_equal(unit_scan_text(rs, text, &r), KS_OK);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
    ks_ruleset_free(rs);
}

/* Compiling reports every bad pattern and path, not only the first,
 * whatever step finds it. */
static void compile_reports_every_problem(void **state)
{
    static const char yaml[] =
        "- id: p.one\n  name: One\n  pattern: 'x(y'\n"
        "- id: p.fine\n  name: Fine\n  pattern: 'FINE[0-9]{8}'\n"
        "- id: p.two\n  name: Two\n  pattern: 'a*'\n"
        "- id: p.three\n  name: Three\n  path: '(?<=a)b'\n";
    ks_ruleset *rs = NULL;

    (void)state;
    assert_int_equal(unit_ruleset_try(yaml, &rs), KS_ERR_RULE);
    assert_int_equal(ks_ruleset_problem_count(rs), 3);
    assert_contains(ks_ruleset_problem(rs, 0), "rule 'p.one'");
    assert_contains(ks_ruleset_problem(rs, 1), "rule 'p.two'");
    assert_contains(ks_ruleset_problem(rs, 2), "rule 'p.three'");
    assert_string_equal(ks_ruleset_error(rs), ks_ruleset_problem(rs, 0));
    ks_ruleset_free(rs);

    /* A bad path alone fails the compile too. */
    assert_int_equal(unit_ruleset_try(
                         "- id: p.fine\n  name: Fine\n  pattern: 'F[0-9]{8}'\n"
                         "- id: p.three\n  name: Three\n  path: '(?<=a)b'\n",
                         &rs),
                     KS_ERR_RULE);
    assert_int_equal(ks_ruleset_problem_count(rs), 1);
    assert_contains(ks_ruleset_problem(rs, 0), "rule 'p.three'");
    ks_ruleset_free(rs);
}

/* A directory with two bad files reports both. */
static void directory_reports_every_file(void **state)
{
    static const char *const files[][2] = {
        { "a.yaml", "- id: a.bad\n  name: A\n" },
        { "b.yaml", "- id: b.good\n  name: B\n  pattern: 'B[0-9]{8}'\n" },
        { "c.yaml", "- id: c.bad\n  name: C\n  pattern: 'C[0-9]{8}'\n"
                    "  entropy: 9\n" },
    };
    char dir[64], path[128];
    ks_ruleset *rs = NULL;

    (void)state;
    unit_tempdir(dir);
    for (size_t i = 0; i < 3; i++)
        unit_write_file(unit_join(path, sizeof(path), dir, files[i][0]),
                        files[i][1], strlen(files[i][1]));
    assert_int_equal(ks_ruleset_new(&rs), KS_OK);
    assert_int_equal(ks_ruleset_add_path(rs, dir), KS_ERR_RULE);
    assert_int_equal(ks_ruleset_problem_count(rs), 2);
    assert_contains(ks_ruleset_problem(rs, 0), "a.yaml");
    assert_contains(ks_ruleset_problem(rs, 1), "c.yaml");
    ks_ruleset_free(rs);
    unit_rmtree(dir);
}

/*
 * An extended pattern, as published rule files write them: its comments
 * may hold brackets and repeat counts that are not pattern syntax.
 */
static void extended_patterns(void **state)
{
    static const char yaml[] =
        "- id: x.key\n"
        "  name: Extended\n"
        "  pattern: |\n"
        "    (?x)\n"
        "    \\b (xk_ [0-9a-f]{8,300})   # a key [ of {1,500} hex digits\n"
        "    \\b                         # ends at a word boundary\n";
    ks_ruleset *rs = unit_ruleset(yaml);
    unit_results r = { 0 };

    (void)state;
    assert_int_equal(unit_scan_text(rs, "k xk_0a1b2c3d4e ok", &r), KS_OK);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, "xk_0a1b2c3d4e");
    unit_results_free(&r);
    assert_int_equal(unit_scan_text(rs, "k xk_0a1b2c3 # x", &r), KS_OK);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
    ks_ruleset_free(rs);
}

/*
 * A failed compile is final: trying again reports KS_ERR_STATE instead of
 * building over half-built state, and the set still frees cleanly (the
 * sanitizer build checks leaks).
 */
static void compile_retry_after_failure(void **state)
{
    static const char bad[] =
        "- id: fine.rule\n  name: Fine\n  pattern: 'FINE[0-9]{8}'\n"
        "- id: broken.regex\n  name: Broken\n  pattern: 'foo(bar'\n";
    ks_ruleset *rs = NULL;
    int retried = 0;

    (void)state;
    assert_int_equal(compile_text(bad, &rs), KS_ERR_RULE);
    assert_non_null(strstr(ks_ruleset_error(rs), "broken.regex"));
    assert_int_equal(ks_ruleset_compile(rs), KS_ERR_STATE);
    assert_non_null(strstr(ks_ruleset_error(rs), "earlier compile"));
    ks_ruleset_free(rs);

    /* Fail each allocation of compiling in turn, then compile again. */
    for (long n = 0; n < 10000; n++) {
        ks_status st;

        assert_int_equal(ks_ruleset_new(&rs), KS_OK);
        assert_int_equal(ks_ruleset_add_yaml(rs, "set.yaml", one_rule,
                                             strlen(one_rule)), KS_OK);
        ksi_alloc_fail_after(n);
        st = ks_ruleset_compile(rs);
        ksi_alloc_fail_after(-1);
        if (st == KS_OK) {
            ks_ruleset_free(rs);
            break;
        }
        retried++;
        st = ks_ruleset_compile(rs);
        if (st != KS_ERR_STATE)
            fail_msg("retry after failing allocation %ld: %s (%s)", n,
                     ks_status_str(st), ks_ruleset_error(rs));
        ks_ruleset_free(rs);
    }
    assert_true(retried > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_regex_names_rule),
        cmocka_unit_test(empty_match_rejected),
        cmocka_unit_test(compile_twice_is_state_error),
        cmocka_unit_test(empty_set_is_state_error),
        cmocka_unit_test(hash_tracks_rules),
        cmocka_unit_test(add_path_directory_in_name_order),
        cmocka_unit_test(add_path_errors),
        cmocka_unit_test(defaults_load_and_compile),
        cmocka_unit_test(lookaround_patterns_match_exactly),
        cmocka_unit_test(large_repeat_bounds_still_apply),
        cmocka_unit_test(extended_patterns),
        cmocka_unit_test(compile_reports_every_problem),
        cmocka_unit_test(directory_reports_every_file),
        cmocka_unit_test(compile_retry_after_failure),
    };

    return cmocka_run_group_tests_name("rule set compiling", tests, NULL,
                                       NULL);
}
