/*
 * test_budget.c - limits on hostile input, per unit and per run: bytes
 * unpacked, the unpacked-to-read ratio, entries per archive, path length,
 * archive depth; each reached limit is one KS_WARN_LIMIT warning naming
 * its option, what came before it is still found, the other inputs are
 * scanned in full.
 */
#include "image_fixture.h"

#include "budget.h"

#include <zstd.h>

static const char token_rule[] =
    "- id: r.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

typedef struct fixture {
    char dir[64];
    char path[4][256];
    ks_ruleset *rs;
    unit_results r;
    ks_scan_options opts;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));

    if (!fx)
        return -1;
    unit_tempdir(fx->dir);
    fx->rs = unit_ruleset(token_rule);
    ks_scan_options_init(&fx->opts);
    fx->opts.threads = 2;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    unit_results_free(&fx->r);
    ks_ruleset_free(fx->rs);
    unit_rmtree(fx->dir);
    free(fx);
    return 0;
}

static const char *path_of(fixture *fx, int i, const char *name)
{
    return unit_join(fx->path[i], sizeof(fx->path[i]), fx->dir, name);
}

/* A tar of three entries, each holding one token, as fx->path[i]. */
static const char *three_tokens(fixture *fx, int i, const char *name)
{
    const tar_member m[] = {
        { "one.txt", "a = tok_a1a2a3a4a5a6a7a8\n", NULL },
        { "two.txt", "b = tok_b1b2b3b4b5b6b7b8\n", NULL },
        { "three.txt", "c = tok_c1c2c3c4c5c6c7c8\n", NULL },
    };

    write_tar(path_of(fx, i, name), m, 3, 0);
    return fx->path[i];
}

static void run(fixture *fx, const char *const *inputs, size_t n)
{
    assert_int_equal(unit_scan_paths(fx->rs, &fx->opts, inputs, n, &fx->r,
                                     NULL),
                     KS_OK);
}

/* The one diagnostic recorded must be a limit warning naming `option`. */
static void assert_one_limit(const fixture *fx, const char *option)
{
    assert_int_equal(fx->r.n_diags, 1);
    assert_int_equal(fx->r.diags[0].level, KS_DIAG_WARNING);
    assert_int_equal(fx->r.diags[0].status, KS_WARN_LIMIT);
    if (!strstr(fx->r.diags[0].message, option))
        fail_msg("'%s' does not name %s", fx->r.diags[0].message, option);
}

static void defaults_are_set(void **state)
{
    ks_scan_options o;

    (void)state;
    ks_scan_options_init(&o);
    assert_true(o.max_unpacked == 64ull << 30);
    assert_true(o.max_total_unpacked == 0);
    assert_int_equal(o.max_ratio, 500);
    assert_int_equal(o.max_entries, 1000000);
    assert_int_equal(o.max_seconds, 3600);
    assert_int_equal(o.max_path, 4096);
}

static void bytes_are_written_as_given(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(ksi_bytes_str(64ull << 30, buf, sizeof(buf)), "64G");
    assert_string_equal(ksi_bytes_str(1536ull << 20, buf, sizeof(buf)),
                        "1536M");
    assert_string_equal(ksi_bytes_str(3ull << 40, buf, sizeof(buf)), "3T");
    assert_string_equal(ksi_bytes_str(100000, buf, sizeof(buf)), "100000");
    assert_string_equal(ksi_bytes_str(0, buf, sizeof(buf)), "0");
}

/* Scans two tars of three tokens, a.tar then b.tar, on one thread. */
static void run_two(fixture *fx)
{
    const char *inputs[2];

    inputs[0] = three_tokens(fx, 0, "a.tar");
    inputs[1] = three_tokens(fx, 1, "b.tar");
    fx->opts.threads = 1;
    run(fx, inputs, 2);
}

/* Past max_unpacked the rest of the input is left; the next input is not. */
static void unpacked_bytes_stop_the_input(void **state)
{
    fixture *fx = *state;

    fx->opts.max_unpacked = 40;
    run_two(fx);
    assert_int_equal(fx->r.n_diags, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(fx->r.diags[i].status, KS_WARN_LIMIT);
        assert_non_null(strstr(fx->r.diags[i].message, "--max-bytes"));
    }
    /* Each input: the first entry (25 bytes) is scanned, the second not. */
    assert_int_equal(unit_count_rule(&fx->r, "r.token"), 2);
    assert_null(unit_find(&fx->r, "r.token", "tok_b1b2b3b4b5b6b7b8"));
}

static void total_bytes_stop_the_run(void **state)
{
    fixture *fx = *state;

    fx->opts.max_total_unpacked = 90;
    run_two(fx);
    assert_one_limit(fx, "--max-total-bytes");
    /* The first input's three entries (75 bytes), none of the second. */
    assert_int_equal(unit_count_rule(&fx->r, "r.token"), 3);
}

static void entries_per_archive(void **state)
{
    fixture *fx = *state;
    const char *inputs[1];

    inputs[0] = three_tokens(fx, 0, "a.tar");
    fx->opts.max_entries = 2;
    run(fx, inputs, 1);
    assert_one_limit(fx, "--max-entries");
    assert_non_null(unit_find(&fx->r, "r.token", "tok_a1a2a3a4a5a6a7a8"));
    assert_non_null(unit_find(&fx->r, "r.token", "tok_b1b2b3b4b5b6b7b8"));
    assert_null(unit_find(&fx->r, "r.token", "tok_c1c2c3c4c5c6c7c8"));
}

static void long_paths_are_cut(void **state)
{
    fixture *fx = *state;
    const tar_member m[] = {
        { "a-rather-long-directory/key.txt", "tok_d1d2d3d4d5d6d7d8\n",
          NULL },
    };
    const char *inputs[1] = { path_of(fx, 0, "long.tar") };
    const unit_finding *f;

    write_tar(inputs[0], m, 1, 0);
    fx->opts.max_path = 8;
    run(fx, inputs, 1);
    assert_one_limit(fx, "--max-path");
    f = unit_find(&fx->r, "r.token", "tok_d1d2d3d4d5d6d7d8");
    assert_non_null(f);
    assert_string_equal(f->chain[f->chain_len - 1], "a-rather");
}

/* 80 MiB of zeros in a zstd frame of a few KiB: stopped past 64 MiB. */
static void ratio_stops_a_bomb(void **state)
{
    fixture *fx = *state;
    size_t len = 80u << 20, cap = ZSTD_compressBound(len), n;
    char *zeros = calloc(1, len);
    char *packed = malloc(cap);
    const char *inputs[2];

    assert_non_null(zeros);
    assert_non_null(packed);
    n = ZSTD_compress(packed, cap, zeros, len, 3);
    assert_false(ZSTD_isError(n));
    inputs[0] = path_of(fx, 0, "bomb.zst");
    unit_write_file(inputs[0], packed, n);
    inputs[1] = three_tokens(fx, 1, "good.tar");
    free(zeros);
    free(packed);
    run(fx, inputs, 2);
    assert_one_limit(fx, "--max-ratio");
    assert_string_equal(fx->r.diags[0].input, inputs[0]);
    assert_int_equal(unit_count_rule(&fx->r, "r.token"), 3);
}

static void zero_means_no_limit(void **state)
{
    fixture *fx = *state;
    const char *inputs[1];

    inputs[0] = three_tokens(fx, 0, "a.tar");
    fx->opts.max_unpacked = 0;
    fx->opts.max_entries = 0;
    fx->opts.max_ratio = 0;
    fx->opts.max_seconds = 0;
    run(fx, inputs, 1);
    assert_int_equal(fx->r.n_diags, 0);
    assert_int_equal(unit_count_rule(&fx->r, "r.token"), 3);
}

/* Writes a tar at `path` of one member holding the file `inner`. */
static void wrap_in_tar(const char *path, const char *name,
                        const char *inner)
{
    struct archive *a = archive_write_new();
    size_t len;
    char *data = read_all(inner, &len);

    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    put_member(a, name, data, len, 0644);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    free(data);
}

/*
 * A tar inside a tar inside a tar, opened two deep: the innermost is told
 * of and scanned as bytes, in which its tokens still show.
 */
static void depth_is_told(void **state)
{
    fixture *fx = *state;
    const char *inputs[1];

    three_tokens(fx, 1, "inner.tar");
    wrap_in_tar(path_of(fx, 2, "middle.tar"), "inner.tar", fx->path[1]);
    inputs[0] = path_of(fx, 0, "outer.tar");
    wrap_in_tar(inputs[0], "middle.tar", fx->path[2]);
    fx->opts.max_depth = 2;
    run(fx, inputs, 1);
    assert_one_limit(fx, "--max-depth");
    assert_int_equal(unit_count_rule(&fx->r, "r.token"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_set),
        cmocka_unit_test(bytes_are_written_as_given),
        cmocka_unit_test_setup_teardown(unpacked_bytes_stop_the_input, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(total_bytes_stop_the_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(entries_per_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(long_paths_are_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(ratio_stops_a_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_means_no_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(depth_is_told, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
