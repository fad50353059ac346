/*
 * test_matcher.c - matching one entry: which text is the secret, where it
 * is (line, column, offset), entropy floors, fingerprints, and that
 * streaming a large entry in pieces finds exactly what one block pass
 * finds, including secrets cut in two by a chunk boundary.
 */
#include "unit.h"

#include "input_limits.h"
#include "matcher.h"

#include <math.h>

static const char token_rule[] =
    "- id: m.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

/* Scans NUL-terminated text with one rule set made from `yaml`. */
static void scan_with(const char *yaml, const char *text, unit_results *r)
{
    ks_ruleset *rs = unit_ruleset(yaml);

    assert_int_equal(unit_scan_text(rs, text, r), KS_OK);
    ks_ruleset_free(rs);
    if (r->n_diags)
        fail_msg("unexpected diagnostic: %s", r->diags[0].message);
}

static void assert_at(const unit_finding *f, uint64_t line, uint64_t column,
                      uint64_t offset)
{
    assert_non_null(f);
    if (f->line != line || f->column != column || f->offset != offset)
        fail_msg("%s '%s': at %llu:%llu +%llu, want %llu:%llu +%llu",
                 f->rule_id, f->secret, (unsigned long long)f->line,
                 (unsigned long long)f->column,
                 (unsigned long long)f->offset, (unsigned long long)line,
                 (unsigned long long)column, (unsigned long long)offset);
}

static void capture_group_is_secret(void **state)
{
    static const char yaml[] =
        "- id: m.assign\n"
        "  name: Assigned token\n"
        "  pattern: 'token=(tok_[0-9a-f]{16})\\b'\n";
    unit_results r = { 0 };

    (void)state;
    scan_with(yaml, "export token=tok_7f3a9c2e81d04b65;", &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].rule_id, "m.assign");
    assert_string_equal(r.findings[0].secret, "tok_7f3a9c2e81d04b65");
    assert_int_equal(r.findings[0].secret_len, 20);
    /* The secret starts after "token=", not where the match starts. */
    assert_at(&r.findings[0], 1, 14, 13);
    assert_string_equal(r.findings[0].input, "buffer");
    assert_string_equal(r.findings[0].path, "buffer");
    assert_int_equal(r.findings[0].chain_len, 1);
    assert_string_equal(r.findings[0].chain[0], "buffer");
    assert_int_equal(r.findings[0].flags, 0);
    unit_results_free(&r);
}

static void no_group_is_whole_match(void **state)
{
    static const char yaml[] =
        "- id: m.whole\n"
        "  name: Whole\n"
        "  pattern: 'WHOLE-[0-9]{6}-[A-Z]{4}'\n";
    unit_results r = { 0 };

    (void)state;
    scan_with(yaml, "id WHOLE-123456-ABCD end", &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, "WHOLE-123456-ABCD");
    assert_int_equal(r.findings[0].secret_len, 17);
    assert_at(&r.findings[0], 1, 4, 3);
    unit_results_free(&r);
}

/* Group 1 may be optional; when it took no part the match is the secret. */
static void unset_group_falls_back_to_match(void **state)
{
    static const char yaml[] =
        "- id: m.optional\n"
        "  name: Optional group\n"
        "  pattern: 'OPT-[0-9]{4}(?:-(X[A-Z]{3}))?'\n";
    unit_results r = { 0 };

    (void)state;
    scan_with(yaml, "OPT-1234-XABC and OPT-5678 alone", &r);
    assert_int_equal(r.n_findings, 2);
    unit_sort_findings(&r);
    assert_string_equal(r.findings[0].secret, "XABC");
    assert_at(&r.findings[0], 1, 10, 9);
    assert_string_equal(r.findings[1].secret, "OPT-5678");
    assert_at(&r.findings[1], 1, 19, 18);
    unit_results_free(&r);
}

static void two_rules_same_place(void **state)
{
    static const char yaml[] =
        "- id: m.token\n"
        "  name: Token\n"
        "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n"
        "- id: m.token-copy\n"
        "  name: Same pattern, other id\n"
        "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n"
        "- id: m.hex-part\n"
        "  name: Hex part only\n"
        "  pattern: 'tok_([0-9a-f]{16})'\n";
    unit_results r = { 0 };

    (void)state;
    scan_with(yaml, "key tok_00112233445566ff\n", &r);
    assert_int_equal(r.n_findings, 3);
    assert_at(unit_find(&r, "m.token", "tok_00112233445566ff"), 1, 5, 4);
    assert_at(unit_find(&r, "m.token-copy", "tok_00112233445566ff"), 1, 5, 4);
    assert_at(unit_find(&r, "m.hex-part", "00112233445566ff"), 1, 9, 8);
    unit_results_free(&r);
}

/*
 * A rule file that repeats a rule of another file: the very same bytes are
 * reported once, under the rule loaded first; a rule of the second file
 * claiming other bytes still reports.
 */
static void repeat_from_other_file_reported_once(void **state)
{
    static const char second[] =
        "- id: n.token\n"
        "  name: Same token, other file\n"
        "  pattern: '(?x) \\b (tok_[0-9a-f]{16}) \\b'\n"
        "- id: n.hex-part\n"
        "  name: Hex part only\n"
        "  pattern: 'tok_([0-9a-f]{16})'\n";
    ks_ruleset *rs;
    unit_results r = { 0 };

    (void)state;
    assert_int_equal(ks_ruleset_new(&rs), KS_OK);
    assert_int_equal(ks_ruleset_add_yaml(rs, "first.yaml", token_rule,
                                         strlen(token_rule)), KS_OK);
    assert_int_equal(ks_ruleset_add_yaml(rs, "second.yaml", second,
                                         strlen(second)), KS_OK);
    assert_int_equal(ks_ruleset_compile(rs), KS_OK);
    assert_int_equal(unit_scan_text(rs, "key tok_00112233445566ff\n", &r),
                     KS_OK);
    assert_int_equal(r.n_findings, 2);
    assert_at(unit_find(&r, "m.token", "tok_00112233445566ff"), 1, 5, 4);
    assert_at(unit_find(&r, "n.hex-part", "00112233445566ff"), 1, 9, 8);
    unit_results_free(&r);
    ks_ruleset_free(rs);
}

static void same_secret_twice(void **state)
{
    static const char text[] =
        "a=tok_7f3a9c2e81d04b65\n"
        "b=tok_7f3a9c2e81d04b65\n";
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, text, &r);
    assert_int_equal(r.n_findings, 2);
    unit_sort_findings(&r);
    assert_at(&r.findings[0], 1, 3, 2);
    assert_at(&r.findings[1], 2, 3, 25);
    assert_string_equal(r.findings[0].secret, r.findings[1].secret);
    unit_results_free(&r);
}

/* Secrets a byte apart fall in one candidate cluster; all must come out. */
static void neighbours_all_reported(void **state)
{
    static const char text[] =
        "tok_1111111111111111 tok_2222222222222222 tok_3333333333333333";
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, text, &r);
    assert_int_equal(r.n_findings, 3);
    unit_sort_findings(&r);
    assert_string_equal(r.findings[0].secret, "tok_1111111111111111");
    assert_string_equal(r.findings[1].secret, "tok_2222222222222222");
    assert_string_equal(r.findings[2].secret, "tok_3333333333333333");
    assert_at(&r.findings[1], 1, 22, 21);
    assert_at(&r.findings[2], 1, 43, 42);
    unit_results_free(&r);
}

static void location_first_byte(void **state)
{
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, "tok_7f3a9c2e81d04b65 rest\n", &r);
    assert_int_equal(r.n_findings, 1);
    assert_at(&r.findings[0], 1, 1, 0);
    unit_results_free(&r);
}

static void location_after_blank_lines(void **state)
{
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, "\n\nkey = tok_7f3a9c2e81d04b65\n", &r);
    assert_int_equal(r.n_findings, 1);
    assert_at(&r.findings[0], 3, 7, 8);
    unit_results_free(&r);
}

/* CR is an ordinary byte: only LF starts a line. */
static void location_after_crlf(void **state)
{
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, "first\r\n\r\n  tok_7f3a9c2e81d04b65\r\n", &r);
    assert_int_equal(r.n_findings, 1);
    assert_at(&r.findings[0], 3, 3, 11);
    unit_results_free(&r);
}

static void location_at_end_without_newline(void **state)
{
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, "line one\nxx tok_7f3a9c2e81d04b65", &r);
    assert_int_equal(r.n_findings, 1);
    assert_at(&r.findings[0], 2, 4, 12);
    assert_string_equal(r.findings[0].secret, "tok_7f3a9c2e81d04b65");
    unit_results_free(&r);
}

/* \b at the very end of the data, and a word byte that defeats it. */
static void word_boundary_at_end(void **state)
{
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, "tok_7f3a9c2e81d04b65", &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, "tok_7f3a9c2e81d04b65");
    unit_results_free(&r);

    scan_with(token_rule, "tok_7f3a9c2e81d04b65g", &r);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
}

static void entropy_floor(void **state)
{
    static const char yaml[] =
        "- id: m.password\n"
        "  name: Password\n"
        "  pattern: 'pw=([a-z0-9]{16})\\b'\n"
        "  entropy: 3.5\n";
    static const char text[] =
        "pw=aaaaaaaaaaaaaaaa\n"         /* 0 bits: dropped */
        "pw=abababababababab\n"         /* 1 bit: dropped */
        "pw=q7x2m9k4p1z8w3v6\n";        /* 16 symbols: 4 bits, kept */
    unit_results r = { 0 };

    (void)state;
    scan_with(yaml, text, &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, "q7x2m9k4p1z8w3v6");
    assert_at(&r.findings[0], 3, 4, 43);
    assert_true(fabs(r.findings[0].entropy - 4.0) < 1e-9);
    unit_results_free(&r);
}

static void empty_and_clean_buffers(void **state)
{
    unit_results r = { 0 };

    (void)state;
    scan_with(token_rule, "", &r);
    assert_int_equal(r.n_findings, 0);
    scan_with(token_rule, "tok_0123 nothing here tok_xyz\n", &r);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
}

static int is_lower_hex(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (!strchr("0123456789abcdef", *s))
            return 0;
    }
    return 1;
}

static void fingerprints(void **state)
{
    static const char yaml[] =
        "- id: m.token\n"
        "  name: Token\n"
        "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n"
        "- id: m.token-copy\n"
        "  name: Token copy\n"
        "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";
    static const char text[] =
        "tok_7f3a9c2e81d04b65\n"
        "\n  tok_7f3a9c2e81d04b65\n"
        "tok_7f3a9c2e81d04b6e\n";
    unit_results r = { 0 };
    const unit_finding *a, *b, *c, *other_rule;

    (void)state;
    scan_with(yaml, text, &r);
    assert_int_equal(r.n_findings, 6);
    unit_sort_findings(&r);
    a = &r.findings[0];     /* m.token, first place */
    other_rule = &r.findings[1];
    b = &r.findings[2];     /* m.token, second place */
    c = &r.findings[4];     /* m.token, other secret */
    assert_string_equal(a->rule_id, "m.token");
    assert_string_equal(b->rule_id, "m.token");
    assert_string_equal(c->rule_id, "m.token");
    assert_string_equal(other_rule->rule_id, "m.token-copy");
    assert_true(is_lower_hex(a->fingerprint));
    assert_true(strlen(a->fingerprint) >= 32);

    assert_true(a->offset != b->offset);
    assert_string_equal(a->fingerprint, b->fingerprint);
    assert_string_not_equal(a->fingerprint, c->fingerprint);
    assert_string_not_equal(a->fingerprint, other_rule->fingerprint);

    /* The fingerprint does not depend on the entry's name either. */
    {
        unit_results again = { 0 };
        ks_ruleset *rs = unit_ruleset(yaml);

        assert_int_equal(unit_scan_buffer(rs, "elsewhere.txt", text,
                                          strlen(text), &again), KS_OK);
        unit_sort_findings(&again);
        assert_int_equal(again.n_findings, 6);
        assert_string_equal(again.findings[0].fingerprint, a->fingerprint);
        unit_results_free(&again);
        ks_ruleset_free(rs);
    }
    unit_results_free(&r);
}

/* Fake AWS-shaped key ids: one well formed, one with digits outside 2-7. */
#define GOOD_KEY_ID "AKIAQ2ZR7WL5M3XKT4BN"
#define BAD_KEY_ID "AKIA0189018901890189"

static void key_id_scan(const char *on_invalid, unit_results *r)
{
    char yaml[256];

    snprintf(yaml, sizeof(yaml),
             "- id: m.key-id\n"
             "  name: Key id\n"
             "  pattern: '\\b(AKIA[0-9A-Z]{16})\\b'\n"
             "  confidence: high\n"
             "  validate: aws-key-id\n"
             "  on_invalid: %s\n", on_invalid);
    scan_with(yaml, "a=" GOOD_KEY_ID "\nb=" BAD_KEY_ID "\n", r);
}

/* A failed check drops the match, or keeps it at low confidence. */
static void validator_drops_or_lowers(void **state)
{
    unit_results r = { 0 };
    const unit_finding *f;

    (void)state;
    key_id_scan("drop", &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, GOOD_KEY_ID);
    assert_int_equal(r.findings[0].confidence, KS_CONF_HIGH);
    unit_results_free(&r);

    key_id_scan("lower", &r);
    assert_int_equal(r.n_findings, 2);
    f = unit_find(&r, "m.key-id", GOOD_KEY_ID);
    assert_non_null(f);
    assert_int_equal(f->confidence, KS_CONF_HIGH);
    f = unit_find(&r, "m.key-id", BAD_KEY_ID);
    assert_at(f, 2, 3, 25);
    assert_int_equal(f->confidence, KS_CONF_LOW);
    unit_results_free(&r);
}

/* Documentation keys, templates and placeholders are never secrets. */
static void noise_is_dropped(void **state)
{
    static const char yaml[] =
        "- id: m.assigned\n"
        "  name: Assigned value\n"
        "  pattern: 'token=([^\\s]{8,64})'\n";
    static const char text[] =
        "token=AKIAIOSFODNN7EXAMPLE\n"
        "token=${DEPLOY_TOKEN}\n"
        "token=<your-token-here>\n"
        "token=CHANGEME-later\n"
        "token=q8Vr2mK5xZ7pL1wN\n";
    unit_results r = { 0 };

    (void)state;
    scan_with(yaml, text, &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, "q8Vr2mK5xZ7pL1wN");
    assert_int_equal(r.findings[0].line, 5);
    unit_results_free(&r);
}

/* Hash- and UUID-shaped values are noise only for generic rules. */
static void generic_rules_skip_hashes(void **state)
{
    static const char text[] =
        "value=7f3a9c2e81d04b657f3a9c2e81d04b657f3a9c2e\n"
        "value=123e4567-e89b-12d3-a456-426614174000\n";
    static const char fmt[] =
        "- id: m.value\n"
        "  name: Value\n"
        "  pattern: 'value=([0-9a-f-]{36,40})\\b'\n"
        "  generic: %s\n";
    char yaml[160];
    unit_results r = { 0 };

    (void)state;
    snprintf(yaml, sizeof(yaml), fmt, "false");
    scan_with(yaml, text, &r);
    assert_int_equal(r.n_findings, 2);
    unit_results_free(&r);

    snprintf(yaml, sizeof(yaml), fmt, "true");
    scan_with(yaml, text, &r);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
}

/*
 * A confident rule and a vaguer one claiming overlapping bytes: the vague
 * one's secret runs six bytes further.
 */
static const char shadow_rules[] =
    "- id: m.exact\n"
    "  name: Exact token\n"
    "  pattern: '\\b(ghx_[0-9a-z]{20})\\b'\n"
    "  confidence: high\n"
    "- id: m.vague\n"
    "  name: Vague token\n"
    "  pattern: '(ghx_[0-9a-z]{20}\\.[a-z]{5})'\n"
    "  confidence: low\n";

/* The shadowing text, padded so a stream can be cut after the secrets. */
#define SHADOW_LEN 700
static void shadow_text(char *text)
{
    static const char head[] = "id ghx_qhwmzkrtpa7f3a9c2e81.qwert";

    memset(text, ' ', SHADOW_LEN);
    memcpy(text, head, strlen(head));
    text[SHADOW_LEN] = '\0';
}

/* The more confident rule names the secret; the other is not reported. */
static void confident_rule_shadows_vague_one(void **state)
{
    char text[SHADOW_LEN + 1];
    unit_results r = { 0 };

    (void)state;
    shadow_text(text);
    scan_with(shadow_rules, text, &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].rule_id, "m.exact");
    assert_string_equal(r.findings[0].secret, "ghx_qhwmzkrtpa7f3a9c2e81");
    assert_at(&r.findings[0], 1, 4, 3);
    unit_results_free(&r);
}

/* With equal confidence both rules report (see two_rules_same_place). */
static void equal_confidence_both_report(void **state)
{
    static const char yaml[] =
        "- id: m.exact\n"
        "  name: Exact token\n"
        "  pattern: '\\b(ghx_[0-9a-z]{20})\\b'\n"
        "- id: m.vague\n"
        "  name: Vague token\n"
        "  pattern: '(ghx_[0-9a-z]{20}\\.[a-z]{5})'\n";
    char text[SHADOW_LEN + 1];
    unit_results r = { 0 };

    (void)state;
    shadow_text(text);
    scan_with(yaml, text, &r);
    assert_int_equal(r.n_findings, 2);
    assert_non_null(unit_find(&r, "m.vague",
                              "ghx_qhwmzkrtpa7f3a9c2e81.qwert"));
    unit_results_free(&r);
}

/*
 * At equal confidence the rule that knows the format wins over a generic
 * one, and a rule limited to certain files over one that is not.
 */
static void equal_confidence_tie_breaks(void **state)
{
    static const char yaml[] =
        "- id: m.exact\n"
        "  name: Exact token\n"
        "  pattern: '\\b(ghx_[0-9a-z]{20})\\b'\n"
        "- id: m.generic\n"
        "  name: Any assigned value\n"
        "  pattern: 'TOKEN=([0-9a-z_]{24})'\n"
        "  generic: true\n"
        "- id: m.filtered\n"
        "  name: Assigned value, in .env files\n"
        "  pattern: 'SECRET=([0-9a-z_]{24})'\n"
        "  path: '\\.env$'\n"
        "  generic: true\n"
        "- id: m.unfiltered\n"
        "  name: Assigned value, anywhere\n"
        "  pattern: 'SECRET=([0-9a-z_]{24})'\n"
        "  generic: true\n";
    static const char text[] =
        "TOKEN=ghx_qhwmzkrtpa7f3a9c2e81\nSECRET=qhwmzkrtpa7f3a9c2e81zxcv\n";
    ks_ruleset *rs = unit_ruleset(yaml);
    unit_results r = { 0 };

    (void)state;
    assert_int_equal(unit_scan_buffer(rs, "app/.env", text, strlen(text), &r),
                     KS_OK);
    assert_int_equal(r.n_findings, 2);
    assert_int_equal(unit_count_rule(&r, "m.exact"), 1);
    assert_int_equal(unit_count_rule(&r, "m.filtered"), 1);
    unit_results_free(&r);
    ks_ruleset_free(rs);
}

/*
 * A value its rule's validator proves fake is not reported, and it takes
 * the less confident rules on the same bytes down with it.
 */
static void rejected_match_still_shadows(void **state)
{
    static const char yaml[] =
        "- id: m.checked\n"
        "  name: Checked hex token\n"
        "  pattern: '\\b(hx_[0-9a-z]{20})\\b'\n"
        "  validate: hex\n"
        "  confidence: high\n"
        "- id: m.assigned\n"
        "  name: Assigned value\n"
        "  pattern: 'TOKEN=([0-9a-z_]{23})'\n"
        "  generic: true\n";
    unit_results r = { 0 };

    (void)state;
    /* "hx_..." is not hex, so the checked rule rejects it. */
    scan_with(yaml, "TOKEN=hx_qhwmzkrtpa7f3a9c2e81\n", &r);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
    scan_with(yaml, "TOKEN=xx_qhwmzkrtpa7f3a9c2e81\n", &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].rule_id, "m.assigned");
    unit_results_free(&r);
}

static int sink_finding(void *ctx, const ksi_entry *e, const ks_finding *f)
{
    (void)e;
    unit_record_finding(ctx, f);
    return 0;
}

static int sink_diag(void *ctx, const ksi_entry *e, ks_diag_level level,
                     ks_status status, const char *message)
{
    unit_record_diag(ctx, level, status, e->input, e->input, message);
    return 0;
}

/* Streams `len` bytes as two commits, the first ending at `cut`. */
static void stream_cut_at(const ks_ruleset *rs, const char *data, size_t len,
                          size_t cut, unit_results *r)
{
    const char *chain[1] = { "cut" };
    ksi_entry entry = { "cut", chain, 1, 0, 0, NULL, NULL };
    ksi_sink sink = { sink_finding, sink_diag, r };
    ksi_matcher *m = ksi_matcher_new(rs, 0);
    size_t parts[2] = { cut, len - cut }, pos = 0;

    assert_non_null(m);
    assert_int_equal(ksi_stream_open(m, &entry, &sink), KS_OK);
    for (int i = 0; i < 2; i++) {
        void *space;
        size_t room;

        ksi_stream_space(m, &space, &room);
        assert_true(room >= parts[i]);
        memcpy(space, data + pos, parts[i]);
        assert_int_equal(ksi_stream_commit(m, parts[i]), KS_OK);
        pos += parts[i];
    }
    assert_int_equal(ksi_stream_close(m), KS_OK);
    ksi_matcher_free(m);
}

/*
 * Streamed, the two candidates can be confirmed in different steps: cut
 * where the confident secret's tail (KSI_MATCH_TAIL bytes after its end)
 * is in hand but the vague one's is not. The outcome must not depend on
 * where the stream was cut.
 */
static void shadowing_same_when_streamed(void **state)
{
    const size_t exact_end = 3 + 24, vague_end = 3 + 30;
    const size_t cut = exact_end + KSI_MATCH_TAIL + 2;
    char text[SHADOW_LEN + 1];
    ks_ruleset *rs = unit_ruleset(shadow_rules);
    unit_results r = { 0 };
    size_t n, exact;

    (void)state;
    assert_true(cut < vague_end + KSI_MATCH_TAIL);
    shadow_text(text);
    stream_cut_at(rs, text, SHADOW_LEN, cut, &r);
    ks_ruleset_free(rs);
    n = r.n_findings;
    exact = unit_count_rule(&r, "m.exact");
    unit_results_free(&r);
    if (n != 1 || exact != 1)
        fail_msg("streamed with a cut at %zu: %zu findings (%zu of "
                 "m.exact), want only m.exact's as in block mode", cut, n,
                 exact);
}

/* ---- streaming equals block --------------------------------------------- */

/*
 * Three rules: a capture group, a whole match, and a lookbehind that
 * Hyperscan can only prefilter. The filler is lowercase letters and
 * whitespace, which none of them can match.
 */
static const char stream_rules[] =
    "- id: s.cap\n"
    "  name: Capture\n"
    "  pattern: '\\b(KSC_[A-Z0-9]{24})\\b'\n"
    "- id: s.whole\n"
    "  name: Whole\n"
    "  pattern: 'KSW-[0-9]{8}-[A-Z]{8}'\n"
    "- id: s.look\n"
    "  name: Lookbehind\n"
    "  pattern: '(?<=key:)([A-Z0-9]{20})\\b'\n";

#define BIG_LEN ((size_t)5 * 1024 * 1024 + 12345)
#define N_PLANTED 200
#define SLOT_MAX 40

/* A secret placed in the big buffer, and where the scan must find it. */
typedef struct planted {
    const char *rule;
    uint64_t slot;              /* where its text, with separators, starts */
    size_t slot_len;
    uint64_t offset;            /* where the secret itself starts */
    char secret[SLOT_MAX];
    uint64_t line;
    uint64_t column;
} planted;

typedef struct big_input {
    unsigned char *data;
    size_t len;
    planted p[N_PLANTED];
    size_t n;
} big_input;

static uint64_t next_rand(uint64_t *x)
{
    *x = *x * 6364136223846793005u + 1442695040888963407u;
    return *x >> 33;
}

/* Fills slot text and secret for the i-th secret, one rule in three. */
static void make_secret(size_t i, uint64_t *rng, planted *p, char *slot)
{
    static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char tail[32];

    for (size_t k = 0; k < sizeof(tail) - 1; k++)
        tail[k] = upper[next_rand(rng) % 36];
    tail[sizeof(tail) - 1] = '\0';
    switch (i % 3) {
    case 0:
        p->rule = "s.cap";
        snprintf(p->secret, SLOT_MAX, "KSC_%04zu%.20s", i, tail);
        snprintf(slot, SLOT_MAX, " %s ", p->secret);
        p->offset = 1;
        break;
    case 1:
        p->rule = "s.whole";
        snprintf(p->secret, SLOT_MAX, "KSW-%08zu-%c%c%c%c%c%c%c%c", i,
                 'A' + (int)(next_rand(rng) % 26), 'A' + (int)(i % 26),
                 'A' + (int)(i / 26 % 26), 'Q', 'R', 'S', 'T', 'U');
        snprintf(slot, SLOT_MAX, " %s ", p->secret);
        p->offset = 1;
        break;
    default:
        p->rule = "s.look";
        snprintf(p->secret, SLOT_MAX, "%04zu%.16s", i, tail);
        snprintf(slot, SLOT_MAX, " key:%s ", p->secret);
        p->offset = 5;
        break;
    }
    p->slot_len = strlen(slot);
}

static int overlaps(const big_input *in, uint64_t at, size_t len)
{
    if (at + len > in->len)
        return 1;
    for (size_t i = 0; i < in->n; i++) {
        const planted *q = &in->p[i];

        if (at < q->slot + q->slot_len && q->slot < at + len)
            return 1;
    }
    return 0;
}

/* Places the next secret at `at`, or nowhere if that spot is taken. */
static int plant(big_input *in, uint64_t *rng, uint64_t at)
{
    planted *p = &in->p[in->n];
    char slot[SLOT_MAX];

    make_secret(in->n, rng, p, slot);
    if (overlaps(in, at, p->slot_len))
        return 0;
    memcpy(in->data + at, slot, p->slot_len);
    p->slot = at;
    p->offset += at;
    in->n++;
    return 1;
}

static int by_slot(const void *a, const void *b)
{
    const planted *x = a, *y = b;

    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Works out each secret's line and column by counting, independently. */
static void locate_planted(big_input *in)
{
    uint64_t line = 1, line_start = 0, pos = 0;

    qsort(in->p, in->n, sizeof(in->p[0]), by_slot);
    for (size_t i = 0; i < in->n; i++) {
        for (; pos < in->p[i].offset; pos++) {
            if (in->data[pos] == '\n') {
                line++;
                line_start = pos + 1;
            }
        }
        in->p[i].line = line;
        in->p[i].column = in->p[i].offset - line_start + 1;
    }
}

/*
 * Places secrets across every place a stream is cut: the first read of a
 * file (512 bytes), each KSI_STREAM_CHUNK multiple, and each chunk end of
 * a buffer holding history; also just before those, where a candidate
 * must wait for its tail. The rest go at pseudo-random offsets.
 */
static void build_big_input(big_input *in)
{
    static const char filler[] = "abcdefghijklmnopqrstuvwxyz   \r\n\n";
    const uint64_t history = KSI_MAX_CLUSTER_SPAN + KSI_MAX_MATCH_WINDOW +
                             KSI_MATCH_TAIL;
    uint64_t rng = 20240601;

    memset(in, 0, sizeof(*in));
    in->len = BIG_LEN;
    in->data = unit_xmalloc(in->len);
    for (size_t i = 0; i < in->len; i++)
        in->data[i] = (unsigned char)filler[next_rand(&rng) % 32];

    plant(in, &rng, 512 - 10);
    plant(in, &rng, 0);
    for (uint64_t k = 1; (k + 1) * KSI_STREAM_CHUNK < in->len; k++) {
        uint64_t cuts[2] = { k * KSI_STREAM_CHUNK,
                             history + k * KSI_STREAM_CHUNK };

        for (int j = 0; j < 2; j++) {
            plant(in, &rng, cuts[j] - 13);
            plant(in, &rng, cuts[j] - KSI_MATCH_TAIL / 2 - SLOT_MAX);
            plant(in, &rng, cuts[j] - KSI_MATCH_TAIL - SLOT_MAX);
        }
    }
    while (in->n < N_PLANTED)
        plant(in, &rng, next_rand(&rng) % (in->len - SLOT_MAX));
    locate_planted(in);
}

static void check_big_results(const big_input *in, unit_results *r,
                              const char *mode)
{
    if (r->n_diags)
        fail_msg("%s: diagnostic: %s", mode, r->diags[0].message);
    unit_sort_findings(r);
    for (size_t i = 0; i < in->n && i < r->n_findings; i++) {
        const planted *p = &in->p[i];
        const unit_finding *f = &r->findings[i];

        if (strcmp(f->rule_id, p->rule) != 0 || f->offset != p->offset ||
            f->line != p->line || f->column != p->column ||
            strcmp(f->secret, p->secret) != 0)
            fail_msg("%s: finding %zu is %s '%s' at %llu (%llu:%llu); "
                     "want %s '%s' at %llu (%llu:%llu)", mode, i, f->rule_id,
                     f->secret, (unsigned long long)f->offset,
                     (unsigned long long)f->line,
                     (unsigned long long)f->column, p->rule, p->secret,
                     (unsigned long long)p->offset,
                     (unsigned long long)p->line,
                     (unsigned long long)p->column);
    }
    if (r->n_findings != in->n)
        fail_msg("%s: %zu findings, want %zu", mode, r->n_findings, in->n);
}

/*
 * Drives the streaming interface by hand, cutting the data in the middle
 * of every planted secret and, in between, into pieces of odd sizes.
 */
static void stream_by_hand(const ks_ruleset *rs, const big_input *in,
                           unit_results *r)
{
    static const size_t odd[] = { 1, 4093, 65521, 999983, 7 };
    const char *chain[1] = { "by-hand" };
    ksi_entry entry = { "by-hand", chain, 1, 0, 0, NULL, NULL };
    ksi_sink sink = { sink_finding, sink_diag, r };
    ksi_matcher *m = ksi_matcher_new(rs, 0);
    size_t pos = 0, next = 0, n_odd = 0;

    assert_non_null(m);
    assert_int_equal(ksi_stream_open(m, &entry, &sink), KS_OK);
    while (pos < in->len) {
        size_t want = odd[n_odd++ % 5], room;
        void *space;

        /* Stop in the middle of the next secret if it comes first. */
        while (next < in->n && in->p[next].offset < pos)
            next++;
        if (next < in->n && in->p[next].offset + 10 - pos < want)
            want = in->p[next].offset + 10 - pos;
        if (want > in->len - pos)
            want = in->len - pos;
        ksi_stream_space(m, &space, &room);
        if (want > room)
            want = room;
        memcpy(space, in->data + pos, want);
        assert_int_equal(ksi_stream_commit(m, want), KS_OK);
        pos += want;
    }
    assert_int_equal(ksi_stream_close(m), KS_OK);
    ksi_matcher_free(m);
}

static void streaming_matches_block(void **state)
{
    big_input in;
    ks_ruleset *rs = unit_ruleset(stream_rules);
    unit_results block = { 0 }, file = { 0 }, hand = { 0 };
    ks_scan_options opts;
    char dir[64], path[256];
    const char *inputs[1] = { path };

    (void)state;
    build_big_input(&in);
    assert_int_equal(in.n, N_PLANTED);

    /* Block mode: the whole buffer in one pass. */
    assert_int_equal(unit_scan_buffer(rs, "block", in.data, in.len, &block),
                     KS_OK);
    check_big_results(&in, &block, "block");

    /* Stream mode: a file larger than block_max is read in chunks. */
    unit_tempdir(dir);
    unit_join(path, sizeof(path), dir, "big.txt");
    unit_write_file(path, in.data, in.len);
    ks_scan_options_init(&opts);
    opts.block_max = 4096;
    opts.threads = 1;
    assert_int_equal(unit_scan_paths(rs, &opts, inputs, 1, &file, NULL),
                     KS_OK);
    check_big_results(&in, &file, "stream from file");
    assert_string_equal(file.findings[0].path, path);

    stream_by_hand(rs, &in, &hand);
    check_big_results(&in, &hand, "stream by hand");

    unit_results_free(&block);
    unit_results_free(&file);
    unit_results_free(&hand);
    unit_rmtree(dir);
    free(in.data);
    ks_ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capture_group_is_secret),
        cmocka_unit_test(no_group_is_whole_match),
        cmocka_unit_test(unset_group_falls_back_to_match),
        cmocka_unit_test(two_rules_same_place),
        cmocka_unit_test(repeat_from_other_file_reported_once),
        cmocka_unit_test(same_secret_twice),
        cmocka_unit_test(neighbours_all_reported),
        cmocka_unit_test(location_first_byte),
        cmocka_unit_test(location_after_blank_lines),
        cmocka_unit_test(location_after_crlf),
        cmocka_unit_test(location_at_end_without_newline),
        cmocka_unit_test(word_boundary_at_end),
        cmocka_unit_test(entropy_floor),
        cmocka_unit_test(empty_and_clean_buffers),
        cmocka_unit_test(fingerprints),
        cmocka_unit_test(validator_drops_or_lowers),
        cmocka_unit_test(noise_is_dropped),
        cmocka_unit_test(generic_rules_skip_hashes),
        cmocka_unit_test(confident_rule_shadows_vague_one),
        cmocka_unit_test(equal_confidence_both_report),
        cmocka_unit_test(equal_confidence_tie_breaks),
        cmocka_unit_test(rejected_match_still_shadows),
        cmocka_unit_test(shadowing_same_when_streamed),
        cmocka_unit_test(streaming_matches_block),
    };

    return cmocka_run_group_tests_name("matcher (capture, location, stream)",
                                       tests, NULL, NULL);
}
