/*
 * test_path_rules.c - rules on entry paths: path rules report a file by
 * name whatever it holds, path filters limit a content rule to certain
 * files, and both see the last element of the location chain, so a file
 * in a tree, an archive member and a member of a nested archive behave
 * alike. A rule set without paths builds no path database at all.
 */
#include "image_fixture.h"

#include "ruleset.h"

#include <archive.h>
#include <archive_entry.h>

static const char key_file_rule[] =
    "- id: p.key-file\n"
    "  name: Key file\n"
    "  path: '(?:^|/)id_(?:rsa|ed25519)$'\n";

static const char docker_rule[] =
    "- id: p.docker-env\n"
    "  name: ENV secret\n"
    "  path: '(?:^|/)Dockerfile$'\n"
    "  pattern: '(?m)^ENV SECRET=([0-9a-z]{8})'\n";

static const char content_rule[] =
    "- id: p.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

static void scan_named(const char *yaml, const char *name, const char *text,
                       unit_results *r)
{
    ks_ruleset *rs = unit_ruleset(yaml);

    assert_int_equal(unit_scan_buffer(rs, name, text, strlen(text), r),
                     KS_OK);
    ks_ruleset_free(rs);
}

static void path_rule_reports_by_name(void **state)
{
    unit_results r = { 0 };

    (void)state;
    scan_named(key_file_rule, "home/u/.ssh/id_rsa", "whatever it holds",
               &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].rule_id, "p.key-file");
    /* The path is the secret; the finding sits at the first byte. */
    assert_string_equal(r.findings[0].secret, "home/u/.ssh/id_rsa");
    assert_int_equal(r.findings[0].line, 1);
    assert_int_equal(r.findings[0].column, 1);
    assert_int_equal(r.findings[0].offset, 0);
    unit_results_free(&r);

    /* An empty file is still a file of that name. */
    scan_named(key_file_rule, "id_ed25519", "", &r);
    assert_int_equal(r.n_findings, 1);
    unit_results_free(&r);

    scan_named(key_file_rule, "home/u/.ssh/id_rsa.pub", "ssh-rsa AAAA", &r);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
}

static void path_filter_limits_content_rule(void **state)
{
    static const char text[] = "FROM alpine\nENV SECRET=k3y9m2x7\n";
    unit_results r = { 0 };

    (void)state;
    scan_named(docker_rule, "app/Dockerfile", text, &r);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, "k3y9m2x7");
    assert_int_equal(r.findings[0].line, 2);
    assert_int_equal(r.findings[0].column, 12);
    unit_results_free(&r);

    /* The same bytes under another name are not this rule's business. */
    scan_named(docker_rule, "app/notes.txt", text, &r);
    assert_int_equal(r.n_findings, 0);
    unit_results_free(&r);
}

/* Rules without a path work as before in a set that has path rules. */
static void mixed_rule_set(void **state)
{
    char yaml[1024];
    unit_results r = { 0 };

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s%s%s", key_file_rule, docker_rule,
             content_rule);
    scan_named(yaml, "x/id_rsa", "tok_7f3a9c2e81d04b65\nENV SECRET=k3y9m2x7",
               &r);
    assert_int_equal(r.n_findings, 2);
    assert_int_equal(unit_count_rule(&r, "p.key-file"), 1);
    assert_int_equal(unit_count_rule(&r, "p.token"), 1);
    unit_results_free(&r);
}

static void no_path_rules_no_database(void **state)
{
    ks_ruleset *plain = unit_ruleset(content_rule);
    ks_ruleset *paths = unit_ruleset(docker_rule);

    (void)state;
    assert_null(plain->db_path);
    assert_int_equal(plain->n_gates, 0);
    assert_null(plain->db_block_gated);
    assert_non_null(paths->db_path);
    assert_int_equal(paths->n_gates, 1);
    assert_int_equal(paths->n_path_only, 0);
    /* A filtered rule is not in the database every entry is scanned
     * with, only in the one for entries its path admits. */
    assert_null(paths->db_block);
    assert_non_null(paths->db_block_gated);
    assert_non_null(paths->db_stream_gated);
    ks_ruleset_free(plain);
    ks_ruleset_free(paths);
}

/* A set of path rules only compiles, scans, and streams large entries. */
static void path_rules_only(void **state)
{
    char dir[64], file[128];
    const char *inputs[1];
    ks_ruleset *rs = unit_ruleset(key_file_rule);
    ks_scan_options opts;
    unit_results r = { 0 };
    size_t big = 3u << 20;
    char *data = unit_xmalloc(big);

    (void)state;
    memset(data, 'a', big);
    unit_tempdir(dir);
    unit_join(file, sizeof(file), dir, "id_rsa");
    unit_write_file(file, data, big);
    inputs[0] = file;
    ks_scan_options_init(&opts);
    opts.block_max = 1u << 20;  /* streamed */
    assert_int_equal(unit_scan_paths(rs, &opts, inputs, 1, &r, NULL), KS_OK);
    assert_int_equal(r.n_findings, 1);
    assert_int_equal(r.n_diags, 0);
    unit_results_free(&r);
    unit_rmtree(dir);
    free(data);
    ks_ruleset_free(rs);
}

/* A filtered rule finds its secret in a large, streamed entry too, on
 * both sides of a chunk boundary. */
static void filtered_rule_streamed(void **state)
{
    char dir[64], file[128];
    const char *inputs[1];
    char yaml[1024];
    ks_ruleset *rs;
    ks_scan_options opts;
    unit_results r = { 0 };
    size_t big = 3u << 20, at = (2u << 20) - 10;
    char *data = unit_xmalloc(big);

    (void)state;
    snprintf(yaml, sizeof(yaml), "%s%s", docker_rule, content_rule);
    rs = unit_ruleset(yaml);
    memset(data, '#', big);
    for (size_t i = 4096; i < big; i += 4096)
        data[i] = '\n';
    memcpy(data + at, "\nENV SECRET=k3y9m2x7\n", 21);
    memcpy(data + 100, "tok_7f3a9c2e81d04b65", 20);
    unit_tempdir(dir);
    unit_join(file, sizeof(file), dir, "Dockerfile");
    unit_write_file(file, data, big);
    inputs[0] = file;
    ks_scan_options_init(&opts);
    opts.block_max = 1u << 20;
    assert_int_equal(unit_scan_paths(rs, &opts, inputs, 1, &r, NULL), KS_OK);
    assert_int_equal(r.n_diags, 0);
    assert_non_null(unit_find(&r, "p.docker-env", "k3y9m2x7"));
    assert_non_null(unit_find(&r, "p.token", "tok_7f3a9c2e81d04b65"));
    assert_int_equal(r.n_findings, 2);
    unit_results_free(&r);
    unit_rmtree(dir);
    free(data);
    ks_ruleset_free(rs);
}

/* Scans a directory input named `input`; returns the key file's
 * fingerprint (owned by the caller). */
static char *tree_fingerprint(const ks_ruleset *rs, const char *input)
{
    ks_scan_options opts;
    unit_results r = { 0 };
    char *fp;

    ks_scan_options_init(&opts);
    assert_int_equal(unit_scan_paths(rs, &opts, &input, 1, &r, NULL), KS_OK);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].secret, "keys/id_rsa");
    fp = unit_xstrdup(r.findings[0].fingerprint);
    unit_results_free(&r);
    return fp;
}

/* The secret is the path under the directory, however it was named. */
static void tree_secret_is_relative(void **state)
{
    char dir[64], sub[128], file[160], slash[80];
    ks_ruleset *rs = unit_ruleset(key_file_rule);
    char *a, *b;

    (void)state;
    unit_tempdir(dir);
    unit_join(sub, sizeof(sub), dir, "keys");
    unit_mkdir(sub);
    unit_join(file, sizeof(file), sub, "id_rsa");
    unit_write_file(file, "k", 1);
    snprintf(slash, sizeof(slash), "%s/", dir);
    a = tree_fingerprint(rs, dir);
    b = tree_fingerprint(rs, slash);
    assert_string_equal(a, b);
    free(a);
    free(b);
    unit_rmtree(dir);
    ks_ruleset_free(rs);
}

/* Writes a tar.gz holding `name` with `text`, into `out` (cap bytes). */
static size_t make_tgz(unsigned char *out, size_t cap, const char *name,
                       const void *data, size_t len)
{
    struct archive *a = archive_write_new();
    size_t used = 0;

    assert_non_null(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_memory(a, out, cap, &used),
                     ARCHIVE_OK);
    put_member(a, name, data, len, 0600);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return used;
}

/* An archive member and a member of a nested archive are judged by their
 * own paths. */
static void archive_members(void **state)
{
    static unsigned char inner[4096], outer[8192];
    char dir[64], file[128];
    const char *inputs[1];
    ks_ruleset *rs = unit_ruleset(key_file_rule);
    ks_scan_options opts;
    unit_results r = { 0 };
    size_t n_inner, n_outer;

    (void)state;
    n_inner = make_tgz(inner, sizeof(inner), "root/.ssh/id_ed25519", "k", 1);
    n_outer = make_tgz(outer, sizeof(outer), "backup/home.tar.gz", inner,
                       n_inner);
    unit_tempdir(dir);
    unit_join(file, sizeof(file), dir, "layer.tar.gz");
    unit_write_file(file, outer, n_outer);
    inputs[0] = file;
    ks_scan_options_init(&opts);
    assert_int_equal(unit_scan_paths(rs, &opts, inputs, 1, &r, NULL), KS_OK);
    assert_int_equal(r.n_findings, 1);
    assert_string_equal(r.findings[0].path, "root/.ssh/id_ed25519");
    assert_string_equal(r.findings[0].secret, "root/.ssh/id_ed25519");
    assert_int_equal(r.findings[0].chain_len, 3);
    assert_true(r.findings[0].flags & KS_LOC_NESTED);
    unit_results_free(&r);
    unit_rmtree(dir);
    ks_ruleset_free(rs);
}

static void expect_compile_error(const char *yaml, const char *part)
{
    ks_ruleset *rs = NULL;

    assert_int_equal(unit_ruleset_try(yaml, &rs), KS_ERR_RULE);
    if (!strstr(ks_ruleset_error(rs), part))
        fail_msg("error '%s' does not mention '%s'", ks_ruleset_error(rs),
                 part);
    ks_ruleset_free(rs);
}

static void bad_path_patterns(void **state)
{
    (void)state;
    expect_compile_error("- id: p.empty\n  name: E\n  path: 'x*'\n",
                         "rule 'p.empty': invalid path pattern");
    expect_compile_error("- id: p.look\n  name: L\n  path: 'a(?=b)'\n",
                         "rule 'p.look': invalid path pattern");
    expect_compile_error("- id: p.paren\n  name: P\n  path: '(a'\n",
                         "rule 'p.paren'");
}

static void path_changes_hash(void **state)
{
    ks_ruleset *a = unit_ruleset(docker_rule);
    ks_ruleset *b = unit_ruleset(
        "- id: p.docker-env\n"
        "  name: ENV secret\n"
        "  path: '(?:^|/)Containerfile$'\n"
        "  pattern: '(?m)^ENV SECRET=([0-9a-z]{8})'\n");

    (void)state;
    assert_string_not_equal(ks_ruleset_hash(a), ks_ruleset_hash(b));
    ks_ruleset_free(a);
    ks_ruleset_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_rule_reports_by_name),
        cmocka_unit_test(path_filter_limits_content_rule),
        cmocka_unit_test(mixed_rule_set),
        cmocka_unit_test(no_path_rules_no_database),
        cmocka_unit_test(path_rules_only),
        cmocka_unit_test(filtered_rule_streamed),
        cmocka_unit_test(tree_secret_is_relative),
        cmocka_unit_test(archive_members),
        cmocka_unit_test(bad_path_patterns),
        cmocka_unit_test(path_changes_hash),
    };

    return cmocka_run_group_tests_name("path rules and path filters", tests,
                                       NULL, NULL);
}
