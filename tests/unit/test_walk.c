/*
 * test_walk.c - walking directory inputs: every regular file in the tree
 * is scanned under its joined path, links are not followed out of the
 * tree, FIFOs cannot block the scan, names are taken in sorted order and
 * nesting is bounded.
 */
#include "unit.h"

#include "input_limits.h"

static const char token_rule[] =
    "- id: w.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

typedef struct fixture {
    char base[64];          /* holds the tree and the outside file */
    char tree[128];
    ks_ruleset *rs;
    unit_results r;
    ks_scan_stats stats;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));

    if (!fx)
        return -1;
    unit_tempdir(fx->base);
    snprintf(fx->tree, sizeof(fx->tree), "%s/tree", fx->base);
    fx->rs = unit_ruleset(token_rule);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    unit_results_free(&fx->r);
    ks_ruleset_free(fx->rs);
    unit_rmtree(fx->base);
    free(fx);
    return 0;
}

/* Creates `rel` under `root`, a directory if it ends in '/'. */
static void make(const char *root, const char *rel, const char *text)
{
    char path[512];
    size_t n = strlen(rel);

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (n && rel[n - 1] == '/')
        unit_mkdir(path);
    else
        unit_write_file(path, text, strlen(text));
}

/* The files of the sample tree and the secret each holds, in walk order. */
static const char *const tree_files[][2] = {
    { "a.txt", "tok_1111111111111111" },
    { "b/inner.txt", "tok_2222222222222222" },
    { "sub/deeper/z.env", "tok_4444444444444444" },
    { "sub/file", "tok_3333333333333333" },
};
#define N_TREE_FILES (sizeof(tree_files) / sizeof(tree_files[0]))

/*
 * Builds the tree in reverse name order, so that a directory listing in
 * creation order would come out unsorted, with an empty directory on the
 * way; then adds what must be skipped: a FIFO, a link to a file outside
 * holding a secret, a link to a directory outside.
 */
static void build_tree(fixture *fx)
{
    char path[512], target[512];

    unit_mkdir(fx->tree);
    make(fx->base, "outside/", NULL);
    make(fx->base, "outside/secret.txt", "tok_9999999999999999\n");
    make(fx->tree, "sub/", NULL);
    make(fx->tree, "sub/file", "x tok_3333333333333333\n");
    make(fx->tree, "sub/deeper/", NULL);
    make(fx->tree, "sub/deeper/z.env", "\n\ntok_4444444444444444");
    make(fx->tree, "b/", NULL);
    make(fx->tree, "b/inner.txt", "k: tok_2222222222222222\n");
    make(fx->tree, "b/empty/", NULL);
    make(fx->tree, "a.txt", "tok_1111111111111111\n");

    snprintf(path, sizeof(path), "%s/fifo", fx->tree);
    if (mkfifo(path, 0600) != 0)
        fail_msg("mkfifo %s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/link.txt", fx->tree);
    snprintf(target, sizeof(target), "%s/outside/secret.txt", fx->base);
    if (symlink(target, path) != 0)
        fail_msg("symlink %s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/dirlink", fx->tree);
    snprintf(target, sizeof(target), "%s/outside", fx->base);
    if (symlink(target, path) != 0)
        fail_msg("symlink %s: %s", path, strerror(errno));
}

/* A hang on the FIFO must fail the test, not stall the suite. */
static ks_status walk(fixture *fx, const char *input, unsigned threads)
{
    const char *inputs[1] = { input };
    ks_scan_options opts;
    ks_status st;

    ks_scan_options_init(&opts);
    opts.threads = threads;
    alarm(60);
    st = unit_scan_paths(fx->rs, &opts, inputs, 1, &fx->r, &fx->stats);
    alarm(0);
    return st;
}

static void in_tree_secrets_found(void **state)
{
    fixture *fx = *state;
    char want[512];

    build_tree(fx);
    assert_int_equal(walk(fx, fx->tree, 4), KS_OK);
    assert_int_equal(fx->r.n_diags, 0);
    assert_int_equal(fx->r.n_findings, N_TREE_FILES);
    for (size_t i = 0; i < N_TREE_FILES; i++) {
        const unit_finding *f = unit_find(&fx->r, "w.token",
                                          tree_files[i][1]);

        snprintf(want, sizeof(want), "%s/%s", fx->tree, tree_files[i][0]);
        if (!f)
            fail_msg("no finding in %s", want);
        assert_string_equal(f->path, want);
        assert_int_equal(f->chain_len, 1);
        assert_string_equal(f->chain[0], want);
        assert_string_equal(f->input, fx->tree);
    }
    assert_int_equal(unit_find(&fx->r, "w.token", "tok_3333333333333333")
                         ->column, 3);
    assert_int_equal(unit_find(&fx->r, "w.token", "tok_4444444444444444")
                         ->line, 3);
}

/* Neither link is followed and the FIFO is not opened for reading. */
static void links_and_fifo_skipped(void **state)
{
    fixture *fx = *state;

    build_tree(fx);
    assert_int_equal(walk(fx, fx->tree, 2), KS_OK);
    assert_null(unit_find(&fx->r, "w.token", "tok_9999999999999999"));
    assert_true(fx->stats.skipped >= 2);
    assert_int_equal(fx->stats.skipped, 3);
    assert_int_equal(fx->stats.entries, N_TREE_FILES);
    assert_int_equal(fx->stats.inputs, 1);
}

/* One worker takes files in queue order, which is the walk's order. */
static void names_visited_in_sorted_order(void **state)
{
    fixture *fx = *state;
    char want[512];

    build_tree(fx);
    assert_int_equal(walk(fx, fx->tree, 1), KS_OK);
    assert_int_equal(fx->r.n_findings, N_TREE_FILES);
    for (size_t i = 0; i < N_TREE_FILES; i++) {
        snprintf(want, sizeof(want), "%s/%s", fx->tree, tree_files[i][0]);
        assert_string_equal(fx->r.findings[i].path, want);
    }
}

/* "tree/" and "tree" name the same files, without a doubled slash. */
static void trailing_slash_joins_cleanly(void **state)
{
    fixture *fx = *state;
    char input[256], want[512];

    build_tree(fx);
    snprintf(input, sizeof(input), "%s/", fx->tree);
    assert_int_equal(walk(fx, input, 2), KS_OK);
    assert_int_equal(fx->r.n_findings, N_TREE_FILES);
    snprintf(want, sizeof(want), "%s/sub/file", fx->tree);
    assert_string_equal(unit_find(&fx->r, "w.token", "tok_3333333333333333")
                            ->path, want);
    assert_string_equal(unit_find(&fx->r, "w.token", "tok_3333333333333333")
                            ->input, input);
}

/* Past KSI_MAX_DIR_DEPTH the walk warns and goes no deeper. */
static void nesting_is_bounded(void **state)
{
    fixture *fx = *state;
    const unsigned levels = KSI_MAX_DIR_DEPTH + 4;
    size_t cap = strlen(fx->tree) + 2 * levels + 64;
    char *path = unit_xmalloc(cap);
    size_t len;
    int limit_warnings = 0;

    unit_mkdir(fx->tree);
    len = (size_t)snprintf(path, cap, "%s", fx->tree);
    for (unsigned i = 0; i < levels; i++) {
        len += (size_t)snprintf(path + len, cap - len, "/d");
        unit_mkdir(path);
        if (i == 9) {
            snprintf(path + len, cap - len, "/shallow.txt");
            unit_write_file(path, "tok_5555555555555555", 20);
            path[len] = '\0';
        }
    }
    snprintf(path + len, cap - len, "/bottom.txt");
    unit_write_file(path, "tok_6666666666666666", 20);
    free(path);

    assert_int_equal(walk(fx, fx->tree, 2), KS_OK);
    assert_non_null(unit_find(&fx->r, "w.token", "tok_5555555555555555"));
    assert_null(unit_find(&fx->r, "w.token", "tok_6666666666666666"));
    for (size_t i = 0; i < fx->r.n_diags; i++)
        limit_warnings += fx->r.diags[i].level == KS_DIAG_WARNING &&
                          fx->r.diags[i].status == KS_WARN_LIMIT;
    assert_int_equal(limit_warnings, 1);
}

/* /proc holds no stored files, and some of its files never end. */
static void pseudo_filesystems_skipped(void **state)
{
    fixture *fx = *state;
    ks_scan_options opts;
    const char *inputs[1] = { "/proc/self" };

    ks_scan_options_init(&opts);
    opts.threads = 1;
    assert_int_equal(unit_scan_paths(fx->rs, &opts, inputs, 1, &fx->r,
                                     &fx->stats), KS_OK);
    assert_int_equal(fx->stats.entries, 0);
    assert_int_equal(fx->stats.skipped, 1);
    assert_int_equal(fx->r.n_diags, 1);
    assert_int_equal(fx->r.diags[0].level, KS_DIAG_WARNING);
    assert_int_equal(fx->r.diags[0].status, KS_WARN_SKIPPED);
    assert_non_null(strstr(fx->r.diags[0].message, "(proc)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(in_tree_secrets_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(links_and_fifo_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(names_visited_in_sorted_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(trailing_slash_joins_cleanly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(nesting_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(pseudo_filesystems_skipped, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("tree walk", tests, NULL, NULL);
}
