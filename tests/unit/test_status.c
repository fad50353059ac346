/*
 * test_status.c - status codes, severities and confidences: fixed values
 * and the names the engine gives them.
 */
#include "unit.h"

/* The numbers are part of the interface and must never change. */
static void status_values_are_fixed(void **state)
{
    (void)state;
    assert_int_equal(KS_OK, 0);
    assert_int_equal(KS_STOPPED, 1);
    assert_int_equal(KS_ERR_NOMEM, 2);
    assert_int_equal(KS_ERR_ARG, 3);
    assert_int_equal(KS_ERR_IO, 4);
    assert_int_equal(KS_ERR_NOT_FOUND, 5);
    assert_int_equal(KS_ERR_RULE, 6);
    assert_int_equal(KS_ERR_COMPILE, 7);
    assert_int_equal(KS_ERR_ARCHIVE, 8);
    assert_int_equal(KS_ERR_MATCHER, 9);
    assert_int_equal(KS_ERR_THREAD, 10);
    assert_int_equal(KS_WARN_SKIPPED, 11);
    assert_int_equal(KS_WARN_LIMIT, 12);
    assert_int_equal(KS_ERR_STATE, 13);
}

/* Every code has its own name; anything else is "unknown status". */
static void status_names(void **state)
{
    (void)state;
    assert_string_equal(ks_status_str(KS_OK), "ok");
    assert_string_equal(ks_status_str(KS_ERR_NOT_FOUND),
                        "no such file or directory");
    assert_string_equal(ks_status_str(KS_ERR_ARCHIVE),
                        "archive is corrupt or truncated");
    for (int a = KS_OK; a <= KS_ERR_STATE; a++) {
        const char *name = ks_status_str((ks_status)a);

        assert_non_null(name);
        assert_string_not_equal(name, "unknown status");
        for (int b = KS_OK; b < a; b++)
            assert_string_not_equal(name, ks_status_str((ks_status)b));
    }
    assert_string_equal(ks_status_str((ks_status)99), "unknown status");
    assert_string_equal(ks_status_str((ks_status)-1), "unknown status");
}

static void severity_names_round_trip(void **state)
{
    static const char *const names[] = {
        "info", "low", "medium", "high", "critical",
    };
    ks_severity sev;

    (void)state;
    for (int i = KS_SEV_INFO; i <= KS_SEV_CRITICAL; i++) {
        assert_string_equal(ks_severity_str((ks_severity)i), names[i]);
        sev = (ks_severity)-1;
        assert_int_equal(ks_severity_parse(names[i], &sev), 0);
        assert_int_equal(sev, i);
    }
    assert_string_equal(ks_severity_str((ks_severity)7), "unknown");
}

static void severity_parse_rejects_and_ignores_case(void **state)
{
    ks_severity sev = KS_SEV_LOW;

    (void)state;
    assert_int_equal(ks_severity_parse("CRITICAL", &sev), 0);
    assert_int_equal(sev, KS_SEV_CRITICAL);
    assert_int_equal(ks_severity_parse("High", &sev), 0);
    assert_int_equal(sev, KS_SEV_HIGH);

    sev = KS_SEV_LOW;
    assert_int_equal(ks_severity_parse("urgent", &sev), -1);
    assert_int_equal(ks_severity_parse("", &sev), -1);
    assert_int_equal(ks_severity_parse("hig", &sev), -1);
    assert_int_equal(ks_severity_parse("highest", &sev), -1);
    /* A failed parse leaves the output alone. */
    assert_int_equal(sev, KS_SEV_LOW);
}

static void confidence_names(void **state)
{
    (void)state;
    assert_string_equal(ks_confidence_str(KS_CONF_LOW), "low");
    assert_string_equal(ks_confidence_str(KS_CONF_MEDIUM), "medium");
    assert_string_equal(ks_confidence_str(KS_CONF_HIGH), "high");
    assert_string_equal(ks_confidence_str((ks_confidence)3), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_values_are_fixed),
        cmocka_unit_test(status_names),
        cmocka_unit_test(severity_names_round_trip),
        cmocka_unit_test(severity_parse_rejects_and_ignores_case),
        cmocka_unit_test(confidence_names),
    };

    return cmocka_run_group_tests_name("status codes and names", tests, NULL,
                                       NULL);
}
