/*
 * test_image_scan.c - scanning images: a layer shared by two images is
 * read once and reported under both, a whiteout marks deletions only in
 * the image that holds it, config fields are located, the results cache
 * serves a second run, shards written as records and merged give what one
 * scan gives, and the shard function never changes its answers.
 */
#include "image_fixture.h"

/* Secrets are tok_ and sixteen lowercase letters. */
static const char token_rule[] =
    "- id: t.token\n"
    "  name: Token\n"
    "  pattern: '\\b(tok_[a-z]{16})\\b'\n";

#define TOK_DELETED "tok_aaaaaaaaaaaaaaaa"
#define TOK_KEPT "tok_bbbbbbbbbbbbbbbb"
#define TOK_OWN "tok_cccccccccccccccc"
#define TOK_ENV "tok_dddddddddddddddd"

typedef struct fixture {
    char dir[64];
    char layout[128];
    char cache[128];
    ks_ruleset *rs;
} fixture;

/* A manifest of a config and layers; stores it, returns its descriptor. */
static void put_manifest(const char *root, const char *config_text,
                         const char (*layers)[72], const size_t *sizes,
                         size_t n, const char *ref, char *entry, size_t cap)
{
    char config[72], manifest[2 * BIG], digest[72], list[BIG] = "";
    size_t used = 0;

    put_blob(OCI, root, config_text, config);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used,
                                 "%s{\"mediaType\":\"%s\",\"digest\":\"%s\","
                                 "\"size\":%zu}", i ? "," : "",
                                 OCI_LAYER_GZIP, layers[i], sizes[i]);
    snprintf(manifest, sizeof(manifest),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
             "\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
             "\"layers\":[%s]}", OCI_MANIFEST, OCI_CONFIG, config,
             strlen(config_text), list);
    put_blob(OCI, root, manifest, digest);
    entry_json(entry, cap, OCI_MANIFEST, digest, strlen(manifest), NULL,
               ref);
}

/*
 * Image a:1 is a base layer (two files with secrets), a layer of its own
 * that deletes one of them with a whiteout, and a config with a secret in
 * Env. Image b:1 is the same base and a clean layer of its own.
 */
static void make_images(fixture *f)
{
    const tar_member base[] = {
        { "etc/app.env", "KEY=" TOK_DELETED "\n", NULL },
        { "etc/keep.txt", "old\nKEY=" TOK_KEPT "\n", NULL },
    };
    const tar_member own_a[] = {
        { "srv/a.txt", TOK_OWN "\n", NULL },
        { "etc/.wh.app.env", "", NULL },
    };
    const tar_member own_b[] = { { "srv/b.txt", "nothing here\n", NULL } };
    char layers[2][72], entries[2][1024], both[2100];
    size_t sizes[2];

    put_tar_blob(OCI, f->layout, base, 2, 1, layers[0], &sizes[0]);
    put_tar_blob(OCI, f->layout, own_a, 2, 1, layers[1], &sizes[1]);
    put_manifest(f->layout, "{\"os\":\"linux\",\"architecture\":\"amd64\","
                 "\"config\":{\"Env\":[\"KEY=" TOK_ENV "\"]}}",
                 (const char (*)[72])layers, sizes, 2, "a:1", entries[0],
                 sizeof(entries[0]));
    put_tar_blob(OCI, f->layout, own_b, 1, 1, layers[1], &sizes[1]);
    put_manifest(f->layout, "{\"os\":\"linux\",\"architecture\":\"amd64\","
                 "\"config\":{\"Env\":[]}}", (const char (*)[72])layers,
                 sizes, 2, "b:1", entries[1], sizeof(entries[1]));
    snprintf(both, sizeof(both), "%s,%s", entries[0], entries[1]);
    write_index(f->layout, both);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    unit_tempdir(f->dir);
    snprintf(f->layout, sizeof(f->layout), "%s/oci", f->dir);
    snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
    mkdirs(f->layout);
    make_images(f);
    f->rs = unit_ruleset(token_rule);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    ks_ruleset_free(f->rs);
    unit_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- running scans ------------------------------------------------------ */

static void scan_opts(ks_scan_options *opts)
{
    ks_scan_options_init(opts);
    opts->threads = 2;
}

static void scan_layout(fixture *f, ks_scan_options *opts, unit_results *r,
                        ks_scan_stats *st)
{
    const char *inputs[1] = { f->layout };

    assert_int_equal(unit_scan_paths(f->rs, opts, inputs, 1, r, st), KS_OK);
}

/* A finding as one comparable line: chain, secret, flags, place. */
static char *finding_line(const unit_finding *u)
{
    char line[2048];
    size_t used = 0;

    for (size_t i = 0; i < u->chain_len; i++)
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%s / ",
                                 u->chain[i]);
    snprintf(line + used, sizeof(line) - used, "%s flags=%u at %llu:%llu",
             u->secret, u->flags, (unsigned long long)u->line,
             (unsigned long long)u->column);
    return unit_xstrdup(line);
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The findings as sorted lines, joined by newlines. */
static char *findings_text(const unit_results *r)
{
    char **lines = unit_xmalloc((r->n_findings + 1) * sizeof(*lines));
    size_t total = 1;
    char *text;

    for (size_t i = 0; i < r->n_findings; i++) {
        lines[i] = finding_line(&r->findings[i]);
        total += strlen(lines[i]) + 1;
    }
    qsort(lines, r->n_findings, sizeof(*lines), by_text);
    text = unit_xmalloc(total);
    text[0] = '\0';
    for (size_t i = 0; i < r->n_findings; i++) {
        strcat(text, lines[i]);
        strcat(text, "\n");
        free(lines[i]);
    }
    free(lines);
    return text;
}

static const char expected_text[] =
    "oci:%1$s:a:1 / config / Env[0] / " TOK_ENV " flags=0 at 1:5\n"
    "oci:%1$s:a:1 / layer 0 / etc/app.env / " TOK_DELETED " flags=2 at 1:5\n"
    "oci:%1$s:a:1 / layer 0 / etc/keep.txt / " TOK_KEPT " flags=0 at 2:5\n"
    "oci:%1$s:a:1 / layer 1 / srv/a.txt / " TOK_OWN " flags=0 at 1:1\n"
    "oci:%1$s:b:1 / layer 0 / etc/app.env / " TOK_DELETED " flags=0 at 1:5\n"
    "oci:%1$s:b:1 / layer 0 / etc/keep.txt / " TOK_KEPT " flags=0 at 2:5\n";

static void assert_expected(const fixture *f, const unit_results *r)
{
    char want[4096];
    char *got = findings_text(r);

    snprintf(want, sizeof(want), expected_text, f->layout);
    assert_string_equal(got, want);
    free(got);
}

/* ---- one scan ----------------------------------------------------------- */

static void shared_layer_read_once(void **state)
{
    fixture *f = *state;
    unit_results r = { 0 };
    ks_scan_options opts;
    ks_scan_stats st;

    scan_opts(&opts);
    scan_layout(f, &opts, &r, &st);
    assert_int_equal(r.n_diags, 0);
    assert_expected(f, &r);
    assert_int_equal(st.images, 2);
    assert_int_equal(st.layers_scanned, 3);
    assert_int_equal(st.layers_reused, 1);
    assert_int_equal(st.layers_cached, 0);
    assert_int_equal(st.layers_total, 3);
    assert_int_equal(st.layers_done, 3);
    assert_int_equal(st.layer_findings, 4);
    unit_results_free(&r);
}

/* ---- the cache ---------------------------------------------------------- */

static size_t count_entries(const char *dir)
{
    char cmd[256];
    FILE *p;
    size_t n = 0;

    snprintf(cmd, sizeof(cmd), "find '%s' -name '*.json' | wc -l", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%zu", &n), 1);
    pclose(p);
    return n;
}

static void cache_serves_second_run(void **state)
{
    fixture *f = *state;
    unit_results r1 = { 0 }, r2 = { 0 };
    ks_scan_options opts;
    ks_scan_stats st;

    scan_opts(&opts);
    opts.cache_dir = f->cache;
    scan_layout(f, &opts, &r1, &st);
    assert_int_equal(st.layers_cached, 0);
    assert_int_equal(count_entries(f->cache), 3);

    scan_opts(&opts);
    opts.cache_dir = f->cache;
    scan_layout(f, &opts, &r2, &st);
    assert_int_equal(st.layers_cached, 3);
    assert_int_equal(st.layers_scanned, 0);
    assert_int_equal(st.layer_findings, 4);
    assert_expected(f, &r2);
    unit_results_free(&r1);
    unit_results_free(&r2);
}

static void damaged_cache_entry_is_reread(void **state)
{
    fixture *f = *state;
    unit_results r = { 0 };
    ks_scan_options opts;
    ks_scan_stats st;
    char cmd[256];

    scan_opts(&opts);
    opts.cache_dir = f->cache;
    scan_layout(f, &opts, &r, &st);
    unit_results_free(&r);
    memset(&r, 0, sizeof(r));
    snprintf(cmd, sizeof(cmd), "for e in $(find '%s' -name '*.json'); do "
             "printf '{\"keysift' > $e; break; done", f->cache);
    assert_int_equal(system(cmd), 0);

    scan_layout(f, &opts, &r, &st);
    assert_int_equal(st.layers_cached, 2);
    assert_int_equal(st.layers_scanned, 1);
    assert_int_equal(r.n_diags, 0);
    assert_expected(f, &r);
    unit_results_free(&r);
}

/* ---- shards, records and merging ---------------------------------------- */

typedef struct record_file {
    FILE *f;
    size_t lines;
} record_file;

static int write_record(const char *line, size_t len, void *user)
{
    record_file *rf = user;

    assert_int_equal(fwrite(line, 1, len, rf->f), len);
    fputc('\n', rf->f);
    rf->lines++;
    return 0;
}

/* Scans shard k of n into `path` in records mode. */
static void write_shard(fixture *f, unsigned k, unsigned n,
                        const char *path)
{
    const char *inputs[1] = { f->layout };
    record_file rf = { fopen(path, "w"), 0 };
    ks_scan_options opts;
    ks_scan *scan = NULL;

    assert_non_null(rf.f);
    scan_opts(&opts);
    opts.shard_index = k;
    opts.shard_count = n;
    opts.on_record = write_record;
    opts.user = &rf;
    assert_int_equal(ks_scan_new(f->rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_run(scan, inputs, 1), KS_OK);
    ks_scan_free(scan);
    fclose(rf.f);
    /* A header, two images and a summary at the least. */
    assert_true(rf.lines >= 4);
}

static ks_status merge_files(const ks_ruleset *rs, const char *const *files,
                             size_t n, unit_results *r, ks_scan_stats *st)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_status status;

    scan_opts(&opts);
    opts.on_finding = unit_on_finding;
    opts.on_diag = unit_on_diag;
    opts.user = r;
    assert_int_equal(ks_scan_new(rs, &opts, &scan), KS_OK);
    status = ks_scan_merge(scan, files, n);
    ks_scan_get_stats(scan, st);
    ks_scan_free(scan);
    return status;
}

static void shards_merge_to_one_scan(void **state)
{
    fixture *f = *state;
    char paths[3][160];
    const char *files[3] = { paths[0], paths[1], paths[2] };
    unit_results r = { 0 };
    ks_scan_stats st;

    for (unsigned k = 0; k < 3; k++) {
        snprintf(paths[k], sizeof(paths[k]), "%s/shard-%u.jsonl", f->dir,
                 k);
        write_shard(f, k, 3, paths[k]);
    }
    assert_int_equal(merge_files(f->rs, files, 3, &r, &st), KS_OK);
    assert_int_equal(r.n_diags, 0);
    assert_expected(f, &r);
    assert_int_equal(st.images, 2);
    assert_int_equal(st.layers_scanned, 3);
    assert_int_equal(st.inputs, 1);
    unit_results_free(&r);
}

static void merge_names_missing_and_foreign_files(void **state)
{
    fixture *f = *state;
    char whole[160], partial[160], foreign[160], missing[160], cmd[600];
    const char *files[3] = { partial, foreign, missing };
    ks_ruleset *other = unit_ruleset("- id: o.other\n  name: Other\n"
                                     "  pattern: 'other_[0-9]{8}'\n");
    unit_results r = { 0 };
    ks_scan_stats st;
    FILE *fp;

    snprintf(whole, sizeof(whole), "%s/whole.jsonl", f->dir);
    snprintf(partial, sizeof(partial), "%s/partial.jsonl", f->dir);
    snprintf(foreign, sizeof(foreign), "%s/foreign.jsonl", f->dir);
    snprintf(missing, sizeof(missing), "%s/missing.jsonl", f->dir);
    write_shard(f, 0, 1, whole);
    /* The records of one scan, less its first layer's results. */
    snprintf(cmd, sizeof(cmd), "awk '/\"record\":\"layer\"/ && !cut "
             "{ cut = 1; next } { print }' '%s' > '%s'", whole, partial);
    assert_int_equal(system(cmd), 0);
    fp = fopen(foreign, "w");
    assert_non_null(fp);
    fputs("{\"record\":\"header\",\"keysift_records\":1,\"rules_hash\":"
          "\"0000\"}\n", fp);
    fclose(fp);

    /* Against other rules even a sound file is refused. */
    files[0] = whole;
    assert_int_equal(merge_files(other, files, 1, &r, &st), KS_OK);
    assert_int_equal(r.n_findings, 0);
    assert_int_equal(st.errors, 1);
    assert_non_null(strstr(r.diags[0].message, "made with other rules"));
    unit_results_free(&r);
    memset(&r, 0, sizeof(r));

    files[0] = partial;
    assert_int_equal(merge_files(f->rs, files, 3, &r, &st), KS_OK);
    /* The missing layer is named once for each image that holds it. */
    assert_true(st.errors >= 3);
    assert_int_equal(r.n_diags, st.errors);
    assert_string_equal(r.diags[0].input, foreign);
    assert_non_null(strstr(r.diags[0].message, "made with other rules"));
    assert_string_equal(r.diags[1].input, missing);
    assert_int_equal(r.diags[1].status, KS_ERR_NOT_FOUND);
    for (size_t i = 2; i < r.n_diags; i++)
        assert_non_null(strstr(r.diags[i].message, "no results in the "
                                                   "merged files"));
    /* What the partial file holds is still reported. */
    assert_true(r.n_findings > 0);
    unit_results_free(&r);
    ks_ruleset_free(other);
}

/* Sharding must give the same answers in every version: outputs and
 * caches of one version are merged by another. */
static void shard_function_is_stable(void **state)
{
    (void)state;
    assert_int_equal(ks_shard_of("sha256:0000000000000010ffff", 16), 0);
    assert_int_equal(ks_shard_of("sha256:00000000000000ff0000", 7), 3);
    assert_int_equal(ks_shard_of("sha256:ffffffffffffffff", 10),
                     (unsigned)(UINT64_MAX % 10));
    assert_int_equal(ks_shard_of("sha256:abc", 1), 0);
    assert_int_equal(ks_shard_of("anything", 0), 0);
    /* Names are hashed with 64-bit FNV-1a. */
    assert_int_equal(ks_shard_of("a", 1000), 0xaf63dc4c8601ec8cull % 1000);
}

typedef struct listed {
    size_t images, layers;
    char refs[2][256];
} listed;

static int count_image(const ks_image_info *img, void *user)
{
    listed *l = user;

    if (l->images < 2)
        snprintf(l->refs[l->images], sizeof(l->refs[0]), "%s",
                 img->reference);
    l->images++;
    l->layers += img->n_layers;
    for (size_t i = 0; i < img->n_layers; i++) {
        assert_non_null(img->layers[i].digest);
        assert_true(img->layers[i].present);
        assert_true(img->layers[i].size > 0);
    }
    assert_non_null(img->config_digest);
    return 0;
}

static void listing_without_scanning(void **state)
{
    fixture *f = *state;
    const char *inputs[2] = { f->layout, f->dir };
    listed l = { 0 };
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_scan_stats st;
    char want[2][256];

    scan_opts(&opts);
    opts.user = &l;
    assert_int_equal(ks_scan_new(f->rs, &opts, &scan), KS_OK);
    assert_int_equal(ks_scan_list_images(scan, inputs, 2, NULL),
                     KS_ERR_ARG);
    assert_int_equal(ks_scan_list_images(scan, inputs, 2, count_image),
                     KS_OK);
    ks_scan_get_stats(scan, &st);
    ks_scan_free(scan);
    assert_int_equal(l.images, 2);
    assert_int_equal(l.layers, 4);
    snprintf(want[0], sizeof(want[0]), "oci:%s:a:1", f->layout);
    snprintf(want[1], sizeof(want[1]), "oci:%s:b:1", f->layout);
    assert_string_equal(l.refs[0], want[0]);
    assert_string_equal(l.refs[1], want[1]);
    /* The plain directory is not an image source: a warning, no scan. */
    assert_int_equal(st.warnings, 1);
    assert_int_equal(st.entries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(shared_layer_read_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cache_serves_second_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(damaged_cache_entry_is_reread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(shards_merge_to_one_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            merge_names_missing_and_foreign_files, setup, teardown),
        cmocka_unit_test(shard_function_is_stable),
        cmocka_unit_test_setup_teardown(listing_without_scanning, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("image scans", tests, NULL, NULL);
}
