/*
 * test_process.c - "pid:PID" inputs: malformed and vanished process ids
 * are errors naming the input. (Scanning a live process's environment and root is driven end
 * to end in tests/e2e/suite_images.sh, which can give the process a root
 * of its own.)
 */
#include "unit.h"

#include <sys/wait.h>

static const char token_rule[] =
    "- id: p.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

static void scan_one(const char *input, unit_results *r)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    ks_scan_options opts;
    const char *inputs[1] = { input };

    ks_scan_options_init(&opts);
    opts.threads = 1;
    assert_int_equal(unit_scan_paths(rs, &opts, inputs, 1, r, NULL), KS_OK);
    ks_ruleset_free(rs);
}

static void expect_one_error(const unit_results *r, const char *input,
                             ks_status status, const char *text)
{
    assert_int_equal(r->n_diags, 1);
    assert_int_equal(r->diags[0].level, KS_DIAG_ERROR);
    assert_int_equal(r->diags[0].status, status);
    assert_string_equal(r->diags[0].input, input);
    assert_non_null(strstr(r->diags[0].message, text));
    assert_int_equal(r->n_findings, 0);
}

static void malformed_ids_are_errors(void **state)
{
    static const char *const bad[] = { "pid:", "pid:abc", "pid:12x",
                                       "pid:-4", "pid:0",
                                       "pid:99999999999999999999" };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unit_results r = { 0 };

        scan_one(bad[i], &r);
        expect_one_error(&r, bad[i], KS_ERR_ARG, "not a process id");
        unit_results_free(&r);
    }
}

static void vanished_process_is_not_found(void **state)
{
    unit_results r = { 0 };
    pid_t child = fork();
    char input[32];
    int status;

    (void)state;
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, &status, 0), child);
    snprintf(input, sizeof(input), "pid:%d", (int)child);
    scan_one(input, &r);
    expect_one_error(&r, input, KS_ERR_NOT_FOUND, "no such process");
    unit_results_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_ids_are_errors),
        cmocka_unit_test(vanished_process_is_not_found),
    };

    return cmocka_run_group_tests_name("process inputs", tests, NULL, NULL);
}
