/*
 * test_db_cache.c - the on-disk cache of compiled databases: what is
 * stored loads back and still matches; a missing, cut, corrupted or
 * foreign file is refused (so the rules are compiled again); and runs
 * racing to fill the cache leave one whole file and no temporary ones.
 */
#include "unit.h"

#include "db_cache.h"

#include <sys/wait.h>

#define KEY "0123456789abcdef"
#define N_RULES 3

/* Three patterns, compiled for block and stream mode. */
static void compile_pair(hs_database_t **block, hs_database_t **stream)
{
    const char *const exprs[N_RULES] = { "ghp_[A-Za-z0-9]{36}",
                                         "AKIA[A-Z2-7]{16}", "secret" };
    const unsigned flags[N_RULES] = { 0, 0, HS_FLAG_CASELESS };
    const unsigned ids[N_RULES] = { 0, 1, 2 };
    hs_compile_error_t *err = NULL;

    assert_int_equal(hs_compile_multi(exprs, flags, ids, N_RULES,
                                      HS_MODE_BLOCK, NULL, block, &err),
                     HS_SUCCESS);
    assert_int_equal(hs_compile_multi(exprs, flags, ids, N_RULES,
                                      HS_MODE_STREAM, NULL, stream, &err),
                     HS_SUCCESS);
}

static void sample_meta(ksi_rule_meta meta[N_RULES])
{
    for (unsigned i = 0; i < N_RULES; i++)
        meta[i] = (ksi_rule_meta){ 0x100u + i, 1000u * (i + 1) };
}

typedef struct fixture {
    char dir[64];
    char path[128];
    hs_database_t *block;
    hs_database_t *stream;
    ksi_rule_meta meta[N_RULES];
} fixture;

static int setup(void **state)
{
    fixture *fx = unit_xmalloc(sizeof(*fx));

    memset(fx, 0, sizeof(*fx));
    unit_tempdir(fx->dir);
    snprintf(fx->path, sizeof(fx->path), "%s/%s.hsdb", fx->dir, KEY);
    compile_pair(&fx->block, &fx->stream);
    sample_meta(fx->meta);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    hs_free_database(fx->block);
    hs_free_database(fx->stream);
    unit_rmtree(fx->dir);
    free(fx);
    return 0;
}

static int count_match(unsigned id, unsigned long long from,
                       unsigned long long to, unsigned flags, void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    (*(int *)ctx)++;
    return 0;
}

/* Loads the entry; on success checks the records and that it matches. */
static int try_load(const fixture *fx, size_t n)
{
    hs_database_t *block = NULL, *stream = NULL;
    ksi_rule_meta meta[N_RULES + 1];
    hs_scratch_t *scratch = NULL;
    const char text[] = "a Secret, AKIAABCDEFGHIJKLMNOP and "
                        "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    int hits = 0;

    memset(meta, 0, sizeof(meta));
    if (ksi_db_cache_load(fx->dir, KEY, &block, &stream, meta, n) != 0) {
        assert_null(block);
        assert_null(stream);
        return -1;
    }
    assert_int_equal(n, N_RULES);
    assert_memory_equal(meta, fx->meta, sizeof(fx->meta));
    assert_int_equal(hs_alloc_scratch(block, &scratch), HS_SUCCESS);
    assert_int_equal(hs_scan(block, text, sizeof(text) - 1, 0, scratch,
                             count_match, &hits),
                     HS_SUCCESS);
    assert_int_equal(hits, 3);
    hs_free_scratch(scratch);
    hs_free_database(block);
    hs_free_database(stream);
    return 0;
}

static void store(const fixture *fx)
{
    ksi_db_cache_store(fx->dir, KEY, fx->block, fx->stream, fx->meta,
                       N_RULES);
}

static long file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static unsigned char *read_whole(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;

    assert_non_null(f);
    *len = file_size(path);
    buf = unit_xmalloc((size_t)*len);
    assert_int_equal(fread(buf, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return buf;
}

/* Files in the cache directory other than the entry itself. */
static int stray_files(const fixture *fx)
{
    DIR *d = opendir(fx->dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.' && strcmp(de->d_name, KEY ".hsdb") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void stored_entry_loads_back(void **state)
{
    fixture *fx = *state;

    store(fx);
    assert_int_equal(try_load(fx, N_RULES), 0);
    assert_int_equal(stray_files(fx), 0);
}

static void missing_entry_is_a_miss(void **state)
{
    fixture *fx = *state;

    assert_int_equal(try_load(fx, N_RULES), -1);
    assert_int_equal(ksi_db_cache_load(NULL, KEY, &fx->block, &fx->stream,
                                       fx->meta, N_RULES),
                     -1);
}

static void other_rule_count_is_a_miss(void **state)
{
    fixture *fx = *state;

    store(fx);
    assert_int_equal(try_load(fx, N_RULES - 1), -1);
    assert_int_equal(try_load(fx, N_RULES + 1), -1);
}

/* Every cut of the file, from empty to one byte short, is refused. */
static void cut_files_are_refused(void **state)
{
    fixture *fx = *state;
    unsigned char *whole;
    long len;

    store(fx);
    whole = read_whole(fx->path, &len);
    for (long cut = 0; cut < len; cut += cut < 64 ? 1 : 997) {
        unit_write_file(fx->path, whole, (size_t)cut);
        assert_int_equal(try_load(fx, N_RULES), -1);
    }
    unit_write_file(fx->path, whole, (size_t)len - 1);
    assert_int_equal(try_load(fx, N_RULES), -1);
    unit_write_file(fx->path, whole, (size_t)len);
    assert_int_equal(try_load(fx, N_RULES), 0);
    free(whole);
}

/*
 * A flipped byte is refused wherever it changes anything: in the magic and
 * the rule records or their digest (our checks) always; in a database,
 * Hyperscan's checksum refuses it, except in the few header and padding
 * bytes that checksum leaves out, which nothing reads. So every flip
 * either is refused or loads a database that still works the same.
 */
static void flipped_bytes_are_refused(void **state)
{
    fixture *fx = *state;
    unsigned char *whole;
    long len;
    long tail = 8 + 8 * N_RULES + 32;
    int refused_in_db = 0;

    store(fx);
    whole = read_whole(fx->path, &len);
    for (long at = 0; at < len; at++) {
        int ours = at < 8 || at >= len - tail;
        int loaded;

        /* Every byte of the small parts; a sample of the databases. */
        if (!ours && at % 7 != 0)
            continue;
        whole[at] ^= 0x5a;
        unit_write_file(fx->path, whole, (size_t)len);
        loaded = try_load(fx, N_RULES) == 0;
        if (loaded && ours)
            fail_msg("a flipped byte at %ld of %ld was accepted", at, len);
        refused_in_db += !ours && !loaded;
        whole[at] ^= 0x5a;
    }
    assert_true(refused_in_db > 0);
    free(whole);
}

static void unwritable_directory_is_ignored(void **state)
{
    fixture *fx = *state;
    char file[128], below[160];

    snprintf(file, sizeof(file), "%s/plain-file", fx->dir);
    unit_write_file(file, "x", 1);
    snprintf(below, sizeof(below), "%s/cache", file);
    ksi_db_cache_store(below, KEY, fx->block, fx->stream, fx->meta, N_RULES);
    assert_int_equal(ksi_db_cache_load(below, KEY, &fx->block, &fx->stream,
                                       fx->meta, N_RULES),
                     -1);
}

/*
 * Writers racing on one entry: each child stores and loads in a loop, and
 * after its first store every load must find a whole entry, whoever wrote
 * it last. No temporary file may be left behind.
 */
static void racing_writers_leave_one_whole_file(void **state)
{
    fixture *fx = *state;
    enum { CHILDREN = 4, ROUNDS = 15 };
    pid_t pids[CHILDREN];

    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            int bad = 0;

            for (int r = 0; r < ROUNDS; r++) {
                hs_database_t *b = NULL, *s = NULL;
                ksi_rule_meta meta[N_RULES];

                store(fx);
                if (ksi_db_cache_load(fx->dir, KEY, &b, &s, meta, N_RULES) ||
                    memcmp(meta, fx->meta, sizeof(meta)) != 0)
                    bad++;
                hs_free_database(b);
                hs_free_database(s);
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int status = 0;

        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(try_load(fx, N_RULES), 0);
    assert_int_equal(stray_files(fx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stored_entry_loads_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(missing_entry_is_a_miss, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(other_rule_count_is_a_miss, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cut_files_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flipped_bytes_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unwritable_directory_is_ignored,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(racing_writers_leave_one_whole_file,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
