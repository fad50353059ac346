/*
 * test_results.c - a unit's results as a record and back, bytes that are
 * not UTF-8 included, and the results cache: a sound entry is served, a
 * damaged one, one for other rules or another digest is not.
 */
#include "unit.h"

#include "alloc.h"
#include "results.h"

static const char rules_yaml[] =
    "- id: r.one\n"
    "  name: One\n"
    "  pattern: 'one_[0-9]{4}'\n"
    "- id: r.two\n"
    "  name: Two\n"
    "  pattern: 'two_[0-9]{4}'\n";

#define DIGEST "sha256:" \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A layer with two findings (one secret and one path not UTF-8), a
 * whiteout and an opaque directory. */
static ksi_layer *sample_layer(const ks_ruleset *rs)
{
    static const char *const chain1[] = { DIGEST, "etc/app.env" };
    static const char *const chain2[] = { DIGEST, "bin/\xff\xfe.bin",
                                          "inner.txt" };
    ksi_layer *l = ksi_calloc(1, sizeof(*l));
    size_t cap = 0, cap2 = 0;
    ks_finding f;

    assert_non_null(l);
    l->kind = KSI_UNIT_LAYER;
    l->digest = ksi_strdup(DIGEST);
    memset(&f, 0, sizeof(f));
    f.rule = ks_ruleset_rule(rs, 0);
    f.confidence = KS_CONF_HIGH;
    f.secret = "one_1234";
    f.secret_len = 8;
    f.entropy = 2.75;
    f.fingerprint = "00112233445566778899aabbccddeeff";
    f.location.chain = chain1;
    f.location.chain_len = 2;
    f.location.line = 3;
    f.location.column = 7;
    f.location.offset = 41;
    assert_int_equal(ksi_unit_keep(l, &f), 0);
    f.rule = ks_ruleset_rule(rs, 1);
    f.confidence = KS_CONF_LOW;
    f.secret = "two_\x80\x81\0z";
    f.secret_len = 8;
    f.location.chain = chain2;
    f.location.chain_len = 3;
    f.location.flags = KS_LOC_NESTED;
    assert_int_equal(ksi_unit_keep(l, &f), 0);
    assert_int_equal(ksi_push_string(&l->deleted, &l->n_deleted, &cap,
                                     "etc/old.key", 11), 0);
    assert_int_equal(ksi_push_string(&l->opaque, &l->n_opaque, &cap2,
                                     "var/cache/", 10), 0);
    return l;
}

static ksi_layer *empty_layer(void)
{
    ksi_layer *l = ksi_calloc(1, sizeof(*l));

    assert_non_null(l);
    l->kind = KSI_UNIT_LAYER;
    l->digest = ksi_strdup(DIGEST);
    return l;
}

static void assert_same_layer(const ksi_layer *a, const ksi_layer *b)
{
    assert_int_equal(a->n_kept, b->n_kept);
    for (size_t i = 0; i < a->n_kept; i++) {
        const ksi_kept *x = &a->kept[i], *y = &b->kept[i];

        assert_ptr_equal(x->rule, y->rule);
        assert_int_equal(x->confidence, y->confidence);
        assert_int_equal(x->secret_len, y->secret_len);
        assert_memory_equal(x->secret, y->secret, x->secret_len);
        assert_true(x->entropy == y->entropy);
        assert_string_equal(x->fingerprint, y->fingerprint);
        assert_int_equal(x->chain_len, y->chain_len);
        for (size_t k = 0; k < x->chain_len; k++)
            assert_string_equal(x->chain[k], y->chain[k]);
        assert_int_equal(x->line, y->line);
        assert_int_equal(x->column, y->column);
        assert_int_equal(x->offset, y->offset);
        assert_int_equal(x->flags, y->flags);
    }
    assert_int_equal(a->n_deleted, b->n_deleted);
    assert_string_equal(a->deleted[0], b->deleted[0]);
    assert_int_equal(a->n_opaque, b->n_opaque);
    assert_string_equal(a->opaque[0], b->opaque[0]);
}

static void record_round_trip(void **state)
{
    ks_ruleset *rs = unit_ruleset(rules_yaml);
    ksi_layer *l = sample_layer(rs), *back = empty_layer();
    json_t *rec;
    char *text;

    (void)state;
    rec = ksi_unit_json(l);
    assert_non_null(rec);
    /* The record survives being written out and read back as text. */
    text = json_dumps(rec, JSON_COMPACT);
    assert_non_null(text);
    json_decref(rec);
    assert_non_null(strstr(text, "\"record\":\"layer\""));
    /* The chain element that is not UTF-8 travels as hex. */
    assert_non_null(strstr(text, "{\"hex\":\"62696e2ffffe2e62696e\"}"));
    rec = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(ksi_unit_load(back, rec, rs), 0);
    assert_same_layer(l, back);
    json_decref(rec);
    ksi_unit_free(l);
    ksi_unit_free(back);
    ks_ruleset_free(rs);
}

static void record_naming_unknown_rule_is_refused(void **state)
{
    ks_ruleset *rs = unit_ruleset(rules_yaml);
    ks_ruleset *fewer = unit_ruleset("- id: r.one\n  name: One\n"
                                     "  pattern: 'one_[0-9]{4}'\n");
    ksi_layer *l = sample_layer(rs), *back = empty_layer();
    json_t *rec = ksi_unit_json(l);

    (void)state;
    assert_int_equal(ksi_unit_load(back, rec, fewer), -1);
    json_decref(rec);
    ksi_unit_free(l);
    ksi_unit_free(back);
    ks_ruleset_free(rs);
    ks_ruleset_free(fewer);
}

static void cache_round_trip_and_misses(void **state)
{
    ks_ruleset *rs = unit_ruleset(rules_yaml);
    ksi_layer *l = sample_layer(rs), *back = empty_layer();
    char dir[64], path[256];
    struct stat sb;

    (void)state;
    unit_tempdir(dir);
    assert_int_equal(ksi_cache_get(dir, "key-a", back, rs), 0);
    ksi_cache_put(dir, "key-a", l);
    snprintf(path, sizeof(path), "%s/v1/key-a/%s.json", dir, DIGEST + 7);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(ksi_cache_get(dir, "key-a", back, rs), 1);
    assert_same_layer(l, back);
    ksi_unit_free(back);

    /* Another key (other rules, another depth) is another entry. */
    back = empty_layer();
    assert_int_equal(ksi_cache_get(dir, "key-b", back, rs), 0);
    assert_int_equal(back->n_kept, 0);

    /* A torn entry is no entry. */
    unit_write_file(path, "{\"keysift_cache\":1,", 19);
    assert_int_equal(ksi_cache_get(dir, "key-a", back, rs), 0);
    ksi_unit_free(back);

    /* Digests that are not sha256 are never cached. */
    back = empty_layer();
    ksi_free(back->digest);
    back->digest = ksi_strdup("sha512:abcd");
    ksi_cache_put(dir, "key-a", back);
    assert_int_equal(ksi_cache_get(dir, "key-a", back, rs), 0);

    ksi_unit_free(l);
    ksi_unit_free(back);
    unit_rmtree(dir);
    ks_ruleset_free(rs);
}

static void bytes_as_json(void **state)
{
    json_t *v;
    char *back;
    size_t len;

    (void)state;
    v = ksi_json_of_bytes("plain", 5);
    assert_true(json_is_string(v));
    back = ksi_json_bytes(v, &len);
    assert_int_equal(len, 5);
    assert_string_equal(back, "plain");
    ksi_free(back);
    json_decref(v);

    v = ksi_json_of_bytes("\xc3\x28", 2);
    assert_string_equal(json_string_value(json_object_get(v, "hex")),
                        "c328");
    back = ksi_json_bytes(v, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(back, "\xc3\x28", 2);
    ksi_free(back);
    json_decref(v);

    v = json_pack("{s:s}", "hex", "abc");
    assert_null(ksi_json_bytes(v, &len));
    json_decref(v);
    v = json_pack("{s:s}", "hex", "zz");
    assert_null(ksi_json_bytes(v, &len));
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(record_round_trip),
        cmocka_unit_test(record_naming_unknown_rule_is_refused),
        cmocka_unit_test(cache_round_trip_and_misses),
        cmocka_unit_test(bytes_as_json),
    };

    return cmocka_run_group_tests_name("unit results", tests, NULL, NULL);
}
