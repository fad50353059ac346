/*
 * test_allow_mark.c - the inline `keysift:allow` mark: found on the line
 * of a finding in any comment syntax, before or after the secret, and on
 * no other line; bounded on long lines; and the same whether the entry is
 * scanned whole or streamed in chunks.
 */
#include "unit.h"

#include "allow_mark.h"
#include "input_limits.h"

static const char token_rule[] =
    "- id: am.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

/* ksi_allow_marked on a whole text, for the secret at `secret`. */
static int marked(const char *text, const char *secret)
{
    const char *at = strstr(text, secret);
    const char *line = at;

    assert_non_null(at);
    while (line > text && line[-1] != '\n')
        line--;
    return ksi_allow_marked((const unsigned char *)text, 0, strlen(text),
                            (uint64_t)(line - text), (uint64_t)(at - text),
                            (uint64_t)(at - text) + strlen(secret));
}

static void mark_in_any_comment_syntax(void **state)
{
    (void)state;
    assert_true(marked("KEY=tok_1 # keysift:allow\n", "tok_1"));
    assert_true(marked("key = 'tok_1' // keysift:allow test key", "tok_1"));
    assert_true(marked("<!-- keysift:allow --> tok_1\n", "tok_1"));
    assert_true(marked("x\n/* keysift:allow */ k=\"tok_1\";\ny\n", "tok_1"));
    assert_true(marked("-- keysift:allow\ttok_1", "tok_1"));
    assert_true(marked("tok_1;keysift:allow", "tok_1"));
}

static void mark_on_another_line_does_not_count(void **state)
{
    (void)state;
    assert_false(marked("# keysift:allow\nKEY=tok_1\n", "tok_1"));
    assert_false(marked("KEY=tok_1\n# keysift:allow\n", "tok_1"));
    assert_false(marked("KEY=tok_1 # keysift:allo\n", "tok_1"));
    assert_false(marked("KEY=tok_1 # Keysift:Allow\n", "tok_1"));
    assert_false(marked("KEY=tok_1 # keysift: allow\n", "tok_1"));
    assert_false(marked("KEY=tok_1\r\n# keysift:allow\r\n", "tok_1"));
}

/* The mark may end at the very end of the data, or start at its start. */
static void mark_at_the_edges(void **state)
{
    (void)state;
    assert_true(marked("keysift:allow tok_1", "tok_1"));
    assert_true(marked("tok_1 keysift:allow", "tok_1"));
    assert_false(marked("tok_1 keysift:allo", "tok_1"));
}

/* On a long line, only KSI_ALLOW_MARK_REACH bytes on each side count. */
static void long_lines_are_searched_near_the_secret(void **state)
{
    size_t pad = KSI_ALLOW_MARK_REACH + 100;
    char *text = unit_xmalloc(2 * pad + 64);
    char *p = text;

    (void)state;
    memcpy(p, "keysift:allow", 13);
    p += 13;
    memset(p, ' ', pad);
    p += pad;
    memcpy(p, "tok_1", 6);
    assert_false(marked(text, "tok_1"));

    p = text;
    memcpy(p, "tok_1", 5);
    p += 5;
    memset(p, ' ', KSI_ALLOW_MARK_REACH - 20);
    p += KSI_ALLOW_MARK_REACH - 20;
    memcpy(p, "keysift:allow", 14);
    assert_true(marked(text, "tok_1"));
    free(text);
}

/* Where the line began before the bytes in memory (a stream's history). */
static void line_start_before_the_data(void **state)
{
    const char data[] = "more of a long line tok_1 keysift:allow\nnext";
    const char *at = strstr(data, "tok_1");
    uint64_t base = 1000;
    uint64_t start = base + (uint64_t)(at - data);

    (void)state;
    assert_true(ksi_allow_marked((const unsigned char *)data, base,
                                 sizeof(data) - 1, 10, start, start + 5));
    assert_false(ksi_allow_marked((const unsigned char *)data, base,
                                  sizeof(data) - 1, 10, base + 100,
                                  base + 105));
}

/* Findings of a scan, each with its secret's allow flag. */
static void check_flags(const unit_results *r, const char *how)
{
    assert_int_equal(r->n_findings, 4);
    for (size_t i = 0; i < r->n_findings; i++) {
        const unit_finding *f = &r->findings[i];
        int want = strcmp(f->secret, "tok_2222222222222222") == 0 ||
                   strcmp(f->secret, "tok_4444444444444444") == 0;

        if (!!(f->flags & KS_LOC_ALLOWED) != want)
            fail_msg("%s: %s flagged %d, want %d", how, f->secret,
                     !!(f->flags & KS_LOC_ALLOWED), want);
    }
}

/*
 * The engine flags findings, never drops them; a streamed entry, whose
 * lines cross chunk boundaries, is flagged as the whole one is.
 */
static void scan_flags_marked_findings(void **state)
{
    ks_ruleset *rs = unit_ruleset(token_rule);
    unit_results whole = { 0 }, streamed = { 0 };
    ks_scan_options opts;
    char dir[64], path[256];
    const char *inputs[1] = { path };
    size_t cap = 3 * KSI_STREAM_CHUNK, len = 0;
    char *text = unit_xmalloc(cap);

    (void)state;
    len += (size_t)sprintf(text + len, "a=tok_1111111111111111\n");
    len += (size_t)sprintf(text + len,
                           "b=tok_2222222222222222 # keysift:allow\n");
    len += (size_t)sprintf(text + len, "# keysift:allow\n");
    len += (size_t)sprintf(text + len, "c=tok_3333333333333333\n");
    /* Past the first stream chunk, the mark after the secret. */
    memset(text + len, 'x', KSI_STREAM_CHUNK);
    len += KSI_STREAM_CHUNK;
    len += (size_t)sprintf(text + len,
                           "\nd=tok_4444444444444444 ; keysift:allow\n");

    assert_int_equal(unit_scan_buffer(rs, "whole", text, len, &whole),
                     KS_OK);
    check_flags(&whole, "whole");

    unit_tempdir(dir);
    unit_join(path, sizeof(path), dir, "big.txt");
    unit_write_file(path, text, len);
    ks_scan_options_init(&opts);
    opts.block_max = 4096;
    opts.threads = 1;
    assert_int_equal(unit_scan_paths(rs, &opts, inputs, 1, &streamed, NULL),
                     KS_OK);
    check_flags(&streamed, "streamed");

    unit_results_free(&whole);
    unit_results_free(&streamed);
    unit_rmtree(dir);
    free(text);
    ks_ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mark_in_any_comment_syntax),
        cmocka_unit_test(mark_on_another_line_does_not_count),
        cmocka_unit_test(mark_at_the_edges),
        cmocka_unit_test(long_lines_are_searched_near_the_secret),
        cmocka_unit_test(line_start_before_the_data),
        cmocka_unit_test(scan_flags_marked_findings),
    };

    return cmocka_run_group_tests_name("inline allow marks", tests, NULL,
                                       NULL);
}
