/*
 * test_defaults.c - the rules built into the library test themselves:
 * each is complete, each of its examples is found by it and none of its
 * negative examples is, when scanned with the whole default set.
 */
#include "unit.h"

#include "ruleset.h"

typedef struct defaults {
    ks_ruleset *rs;
    ks_scan *scan;
    unit_results r;
} defaults;

static int setup(void **state)
{
    defaults *d = calloc(1, sizeof(*d));
    ks_scan_options opts;

    *state = d;
    if (!d || ks_ruleset_new(&d->rs) != KS_OK)
        return -1;
    if (ks_ruleset_add_defaults(d->rs) != KS_OK ||
        ks_ruleset_compile(d->rs) != KS_OK) {
        fprintf(stderr, "default rules: %s\n", ks_ruleset_error(d->rs));
        return -1;
    }
    unit_options(&opts, &d->r);
    opts.threads = 1;
    return ks_scan_new(d->rs, &opts, &d->scan) == KS_OK ? 0 : -1;
}

static int teardown(void **state)
{
    defaults *d = *state;

    if (!d)
        return 0;
    ks_scan_free(d->scan);
    ks_ruleset_free(d->rs);
    unit_results_free(&d->r);
    free(d);
    return 0;
}

static void many_rules(void **state)
{
    defaults *d = *state;

    if (ks_ruleset_count(d->rs) < 200)
        fail_msg("only %zu default rules", ks_ruleset_count(d->rs));
}

static int is_blank(const char *s)
{
    return !s || !*s;
}

/* Lists every incomplete rule before failing, so one run shows them all. */
static void every_rule_is_complete(void **state)
{
    defaults *d = *state;
    size_t bad = 0;

    for (size_t i = 0; i < ks_ruleset_count(d->rs); i++) {
        const ks_rule_info *r = ks_ruleset_rule(d->rs, i);
        const char *id = is_blank(r->id) ? "(no id)" : r->id;
        const char *missing = NULL;

        if (is_blank(r->id))
            missing = "id";
        else if (is_blank(r->name))
            missing = "name";
        else if (r->n_examples == 0)
            missing = "examples";
        else if (r->n_negative_examples == 0)
            missing = "negative_examples";
        else if (r->n_references == 0)
            missing = "references";
        else if (!d->rs->rules[i]->severity_given)
            missing = "severity";
        else if (!d->rs->rules[i]->confidence_given)
            missing = "confidence";
        if (missing) {
            print_error("rule %s (%s): no %s\n", id, r->source, missing);
            bad++;
        }
    }
    if (bad)
        fail_msg("%zu default rules are incomplete (listed above)", bad);
}

/*
 * Scans one example as `keysift rules test` does and counts the findings
 * of its rule: a path rule's examples are paths, scanned as empty entries
 * of that name; a rule with a path filter sees its examples under its
 * example_path.
 */
static size_t findings_of(defaults *d, const ks_rule_info *r,
                          const char *text)
{
    const char *name = r->example_path ? r->example_path : "example";

    unit_results_free(&d->r);
    if (!r->pattern)
        assert_int_equal(ks_scan_buffer(d->scan, text, "", 0), KS_OK);
    else
        assert_int_equal(ks_scan_buffer(d->scan, name, text, strlen(text)),
                         KS_OK);
    return unit_count_rule(&d->r, r->id);
}

static void examples_are_found(void **state)
{
    defaults *d = *state;
    size_t bad = 0, checked = 0;

    for (size_t i = 0; i < ks_ruleset_count(d->rs); i++) {
        const ks_rule_info *r = ks_ruleset_rule(d->rs, i);

        for (size_t k = 0; k < r->n_examples; k++, checked++) {
            if (findings_of(d, r, r->examples[k]) > 0)
                continue;
            print_error("rule %s: example %zu not found: %s\n", r->id, k,
                        r->examples[k]);
            bad++;
        }
    }
    if (bad)
        fail_msg("%zu of %zu examples not found (listed above)", bad,
                 checked);
    assert_true(checked >= ks_ruleset_count(d->rs));
}

static void negative_examples_are_not_found(void **state)
{
    defaults *d = *state;
    size_t bad = 0, checked = 0;

    for (size_t i = 0; i < ks_ruleset_count(d->rs); i++) {
        const ks_rule_info *r = ks_ruleset_rule(d->rs, i);

        for (size_t k = 0; k < r->n_negative_examples; k++, checked++) {
            if (findings_of(d, r, r->negative_examples[k]) == 0)
                continue;
            print_error("rule %s: negative example %zu was found: %s\n",
                        r->id, k, r->negative_examples[k]);
            bad++;
        }
    }
    if (bad)
        fail_msg("%zu of %zu negative examples found (listed above)", bad,
                 checked);
}

/* Two optional strings agree: both absent, or equal. */
static void same_text(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/*
 * The rules built into the library are the files in KEYSIFT_RULES_DIR
 * (patterns/ when run by make): loading that directory must give the same
 * rules in the same order, and so the same hash.
 */
static void built_in_rules_match_directory(void **state)
{
    defaults *d = *state;
    const char *dir = getenv("KEYSIFT_RULES_DIR");
    ks_ruleset *disk = NULL;

    if (!dir || !*dir)
        skip();
    assert_int_equal(ks_ruleset_new(&disk), KS_OK);
    if (ks_ruleset_add_path(disk, dir) != KS_OK)
        fail_msg("%s: %s", dir, ks_ruleset_error(disk));
    assert_int_equal(ks_ruleset_count(disk), ks_ruleset_count(d->rs));
    for (size_t i = 0; i < ks_ruleset_count(disk); i++) {
        assert_string_equal(ks_ruleset_rule(disk, i)->id,
                            ks_ruleset_rule(d->rs, i)->id);
        same_text(ks_ruleset_rule(disk, i)->pattern,
                  ks_ruleset_rule(d->rs, i)->pattern);
        same_text(ks_ruleset_rule(disk, i)->path,
                  ks_ruleset_rule(d->rs, i)->path);
    }
    assert_int_equal(ks_ruleset_compile(disk), KS_OK);
    assert_string_equal(ks_ruleset_hash(disk), ks_ruleset_hash(d->rs));
    ks_ruleset_free(disk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_rules),
        cmocka_unit_test(every_rule_is_complete),
        cmocka_unit_test(examples_are_found),
        cmocka_unit_test(negative_examples_are_not_found),
        cmocka_unit_test(built_in_rules_match_directory),
    };

    return cmocka_run_group_tests_name("default rules (self-tests)", tests,
                                       setup, teardown);
}
