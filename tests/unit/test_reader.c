/*
 * test_reader.c - reading inputs: plain files, tar archives built here
 * byte by byte (recognised by content, whatever their name), entries too
 * big to hold whole, and inputs that are missing or broken.
 */
#include "unit.h"

static const char token_rule[] =
    "- id: r.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[0-9a-f]{16})\\b'\n";

/* A tar archive being built in memory. */
typedef struct tar_buf {
    unsigned char *data;
    size_t len;
    size_t cap;
} tar_buf;

static void tar_reserve(tar_buf *t, size_t more)
{
    while (t->len + more > t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8192;
        t->data = realloc(t->data, t->cap);
        assert_non_null(t->data);
    }
}

/* Writes `value` as zero-padded octal filling `width - 1` digits and NUL. */
static void octal(unsigned char *field, size_t width, unsigned long value)
{
    field[width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0; value >>= 3)
        field[i] = (unsigned char)('0' + (value & 7));
}

/*
 * Appends one POSIX ustar member: a 512-byte header whose checksum is the
 * sum of its bytes with the checksum field read as spaces, then the data
 * padded to a whole block. `type` is '0' for a file, '5' for a directory.
 */
static void tar_add(tar_buf *t, const char *name, char type, const void *data,
                    size_t len)
{
    unsigned char *h;
    unsigned long sum = 0;
    size_t padded = (len + 511) / 512 * 512;

    tar_reserve(t, 512 + padded);
    h = t->data + t->len;
    memset(h, 0, 512 + padded);
    assert_true(strlen(name) < 100);
    memcpy(h, name, strlen(name));
    octal(h + 100, 8, type == '5' ? 0755 : 0644);
    octal(h + 108, 8, 1000);
    octal(h + 116, 8, 1000);
    octal(h + 124, 12, len);
    octal(h + 136, 12, 1700000000);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "user", 4);
    memcpy(h + 297, "group", 5);
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += h[i];
    /* The checksum field is six digits, a NUL and a space. */
    octal(h + 148, 7, sum);
    h[155] = ' ';
    if (len)
        memcpy(h + 512, data, len);
    t->len += 512 + padded;
}

/* Two zero blocks end the archive. */
static void tar_finish(tar_buf *t)
{
    tar_reserve(t, 1024);
    memset(t->data + t->len, 0, 1024);
    t->len += 1024;
}

static void tar_add_text(tar_buf *t, const char *name, const char *text)
{
    tar_add(t, name, '0', text, strlen(text));
}

/* The archive most tests use: two secrets in two of three files. */
static void sample_tar(tar_buf *t)
{
    memset(t, 0, sizeof(*t));
    tar_add(t, "etc/", '5', NULL, 0);
    tar_add_text(t, "etc/app.conf",
                 "# app\napi_token = tok_a1a2a3a4a5a6a7a8\n");
    tar_add_text(t, "readme.md", "nothing to see here\n");
    tar_add_text(t, "deep/er/key.txt", "tok_b1b2b3b4b5b6b7b8");
    tar_finish(t);
}

typedef struct fixture {
    char dir[64];
    char path[4][256];
    ks_ruleset *rs;
    unit_results r;
    ks_scan_stats stats;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));

    if (!fx)
        return -1;
    unit_tempdir(fx->dir);
    fx->rs = unit_ruleset(token_rule);
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

/* Writes `len` bytes as fx->path[i] = DIR/name. */
static const char *put(fixture *fx, int i, const char *name, const void *data,
                       size_t len)
{
    unit_join(fx->path[i], sizeof(fx->path[i]), fx->dir, name);
    unit_write_file(fx->path[i], data, len);
    return fx->path[i];
}

static ks_status run(fixture *fx, const char *const *inputs, size_t n,
                     size_t block_max)
{
    ks_scan_options opts;

    ks_scan_options_init(&opts);
    opts.threads = 2;
    opts.block_max = block_max;
    return unit_scan_paths(fx->rs, &opts, inputs, n, &fx->r, &fx->stats);
}

static void assert_chain2(const unit_finding *f, const char *outer,
                          const char *inner)
{
    assert_non_null(f);
    assert_int_equal(f->chain_len, 2);
    assert_string_equal(f->chain[0], outer);
    assert_string_equal(f->chain[1], inner);
    assert_string_equal(f->input, outer);
    assert_string_equal(f->path, inner);
}

static void plain_file(void **state)
{
    static const char text[] = "user=me\nTOKEN=tok_0011223344556677\n";
    fixture *fx = *state;
    const char *inputs[1];
    const unit_finding *f;

    inputs[0] = put(fx, 0, "config.env", text, strlen(text));
    assert_int_equal(run(fx, inputs, 1, 0), KS_OK);
    assert_int_equal(fx->r.n_findings, 1);
    assert_int_equal(fx->r.n_diags, 0);
    f = &fx->r.findings[0];
    assert_string_equal(f->secret, "tok_0011223344556677");
    assert_int_equal(f->chain_len, 1);
    assert_string_equal(f->chain[0], inputs[0]);
    assert_string_equal(f->path, inputs[0]);
    assert_string_equal(f->input, inputs[0]);
    assert_int_equal(f->line, 2);
    assert_int_equal(f->column, 7);
    assert_int_equal(f->offset, 14);
    assert_int_equal(fx->stats.inputs, 1);
    assert_int_equal(fx->stats.entries, 1);
    assert_int_equal(fx->stats.bytes, strlen(text));
}

static void check_sample_tar(const fixture *fx, const char *tar)
{
    const unit_finding *f;

    assert_int_equal(fx->r.n_diags, 0);
    assert_int_equal(fx->r.n_findings, 2);

    f = unit_find(&fx->r, "r.token", "tok_a1a2a3a4a5a6a7a8");
    assert_chain2(f, tar, "etc/app.conf");
    assert_int_equal(f->line, 2);
    assert_int_equal(f->column, 13);
    assert_int_equal(f->offset, 18);

    f = unit_find(&fx->r, "r.token", "tok_b1b2b3b4b5b6b7b8");
    assert_chain2(f, tar, "deep/er/key.txt");
    assert_int_equal(f->line, 1);
    assert_int_equal(f->offset, 0);

    /* Three regular files; the directory entry is not one. */
    assert_int_equal(fx->stats.entries, 3);
}

static void tar_archive(void **state)
{
    fixture *fx = *state;
    const char *inputs[1];
    tar_buf t;

    sample_tar(&t);
    inputs[0] = put(fx, 0, "layer.tar", t.data, t.len);
    free(t.data);
    assert_int_equal(run(fx, inputs, 1, 0), KS_OK);
    check_sample_tar(fx, inputs[0]);
}

/* The kind of input comes from its bytes, never from its name. */
static void tar_with_misleading_name(void **state)
{
    fixture *fx = *state;
    const char *inputs[1];
    tar_buf t;

    sample_tar(&t);
    inputs[0] = put(fx, 0, "notes.txt", t.data, t.len);
    free(t.data);
    assert_int_equal(run(fx, inputs, 1, 0), KS_OK);
    check_sample_tar(fx, inputs[0]);
}

/* An entry over block_max is streamed; offsets stay entry-relative. */
static void large_tar_entry_streamed(void **state)
{
    fixture *fx = *state;
    const char *inputs[1];
    char *big = unit_xmalloc(10000);
    tar_buf t = { 0 };
    const unit_finding *f;

    memset(big, '.', 10000);
    for (size_t i = 99; i < 10000; i += 100)
        big[i] = '\n';
    memcpy(big + 5010, "tok_c1c2c3c4c5c6c7c8", 20);
    memcpy(big + 9975, "tok_d1d2d3d4d5d6d7d8", 20);
    tar_add_text(&t, "small.txt", "tok_e1e2e3e4e5e6e7e8\n");
    tar_add(&t, "var/big.log", '0', big, 10000);
    tar_finish(&t);
    free(big);
    inputs[0] = put(fx, 0, "big.tar", t.data, t.len);
    free(t.data);

    assert_int_equal(run(fx, inputs, 1, 4096), KS_OK);
    assert_int_equal(fx->r.n_diags, 0);
    assert_int_equal(fx->r.n_findings, 3);
    f = unit_find(&fx->r, "r.token", "tok_c1c2c3c4c5c6c7c8");
    assert_chain2(f, inputs[0], "var/big.log");
    assert_int_equal(f->offset, 5010);
    assert_int_equal(f->line, 51);
    assert_int_equal(f->column, 11);
    f = unit_find(&fx->r, "r.token", "tok_d1d2d3d4d5d6d7d8");
    assert_chain2(f, inputs[0], "var/big.log");
    assert_int_equal(f->offset, 9975);
    assert_int_equal(f->line, 100);
    assert_int_equal(f->column, 76);
    f = unit_find(&fx->r, "r.token", "tok_e1e2e3e4e5e6e7e8");
    assert_chain2(f, inputs[0], "small.txt");
}

/* A missing input is one error; the inputs around it are still scanned. */
static void missing_input_reported_rest_scanned(void **state)
{
    static const char text[] = "tok_f1f2f3f4f5f6f7f8\n";
    fixture *fx = *state;
    const char *inputs[3];
    const unit_diag *d;
    tar_buf t;

    inputs[0] = put(fx, 0, "plain.txt", text, strlen(text));
    inputs[1] = unit_join(fx->path[1], sizeof(fx->path[1]), fx->dir,
                          "does-not-exist");
    sample_tar(&t);
    inputs[2] = put(fx, 2, "layer.tar", t.data, t.len);
    free(t.data);

    assert_int_equal(run(fx, inputs, 3, 0), KS_OK);
    assert_int_equal(fx->r.n_diags, 1);
    d = &fx->r.diags[0];
    assert_int_equal(d->level, KS_DIAG_ERROR);
    assert_int_equal(d->status, KS_ERR_NOT_FOUND);
    assert_string_equal(d->input, inputs[1]);
    assert_non_null(strstr(d->where, "does-not-exist"));

    assert_int_equal(fx->r.n_findings, 3);
    assert_non_null(unit_find(&fx->r, "r.token", "tok_f1f2f3f4f5f6f7f8"));
    assert_chain2(unit_find(&fx->r, "r.token", "tok_a1a2a3a4a5a6a7a8"),
                  inputs[2], "etc/app.conf");
    assert_int_equal(fx->stats.inputs, 3);
    assert_int_equal(fx->stats.errors, 1);
    assert_int_equal(fx->stats.findings, 3);
}

/* An archive cut short is an archive error on that input only. */
static void truncated_tar_reported(void **state)
{
    static const char text[] = "tok_f1f2f3f4f5f6f7f8\n";
    fixture *fx = *state;
    const char *inputs[2];
    char *body = unit_xmalloc(3000);
    tar_buf t = { 0 };
    int archive_errors = 0;

    memset(body, 'x', 3000);
    tar_add_text(&t, "first.txt", "tok_a1a2a3a4a5a6a7a8\n");
    tar_add(&t, "cut.bin", '0', body, 3000);
    free(body);
    /* Keep the header of cut.bin and 600 bytes of its data. */
    inputs[0] = put(fx, 0, "cut.tar", t.data, 512 + 512 + 512 + 600);
    free(t.data);
    inputs[1] = put(fx, 1, "after.txt", text, strlen(text));

    assert_int_equal(run(fx, inputs, 2, 0), KS_OK);
    for (size_t i = 0; i < fx->r.n_diags; i++) {
        const unit_diag *d = &fx->r.diags[i];

        assert_string_equal(d->input, inputs[0]);
        archive_errors += d->level == KS_DIAG_ERROR &&
                          d->status == KS_ERR_ARCHIVE;
    }
    assert_true(archive_errors >= 1);
    assert_non_null(unit_find(&fx->r, "r.token", "tok_a1a2a3a4a5a6a7a8"));
    assert_non_null(unit_find(&fx->r, "r.token", "tok_f1f2f3f4f5f6f7f8"));
}

/*
 * A zip whose only entry, stored, promises 512 bytes and has none: the
 * reader once copied from the empty, address-less block libarchive ends
 * such an entry with (found by tests/fuzz/fuzz_reader.c). Read from
 * memory and from a file, it is one archive error and nothing else.
 */
static void truncated_zip_entry(void **state)
{
    static const unsigned char zip[32] = {
        'P', 'K', 3, 4, 0x14, 0, 0, 0, 0, 0,    /* version, flags, stored */
        0x32, 0x3b, 0x84, 0x5d, 0, 0, 0, 0,     /* time, date, crc */
        2, 0, 0, 0, 0, 2, 0, 0,                 /* sizes: 2 and 512 */
        0, 0, 0, 0, 0, 0,                       /* no name, no extra */
    };
    fixture *fx = *state;
    const char *inputs[1];

    assert_int_equal(unit_scan_buffer(fx->rs, "cut.zip", zip, sizeof(zip),
                                      &fx->r), KS_OK);
    inputs[0] = put(fx, 0, "cut.zip", zip, sizeof(zip));
    assert_int_equal(run(fx, inputs, 1, 0), KS_OK);
    assert_int_equal(fx->r.n_findings, 0);
    assert_int_equal(fx->r.n_diags, 2);
    for (size_t i = 0; i < fx->r.n_diags; i++)
        assert_int_equal(fx->r.diags[i].status, KS_ERR_ARCHIVE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plain_file, setup, teardown),
        cmocka_unit_test_setup_teardown(tar_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(tar_with_misleading_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(large_tar_entry_streamed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_input_reported_rest_scanned,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_tar_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(truncated_zip_entry, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("reader (files and tar archives)",
                                       tests, NULL, NULL);
}
