/*
 * test_sha256.c - SHA-256 against the FIPS 180-4 example vectors, fed in
 * one piece and in awkward pieces, and the hex encoder.
 */
#include "unit.h"

#include "sha256.h"

/* Hashes `len` bytes in pieces whose sizes cycle through `sizes`. */
static void digest_pieces(const void *data, size_t len, const size_t *sizes,
                          size_t n_sizes, char hex[65])
{
    const unsigned char *p = data;
    unsigned char digest[32];
    ksi_sha256 ctx;
    size_t i = 0;

    ksi_sha256_init(&ctx);
    while (len > 0) {
        size_t take = sizes[i++ % n_sizes];

        if (take > len)
            take = len;
        ksi_sha256_update(&ctx, p, take);
        p += take;
        len -= take;
    }
    ksi_sha256_final(&ctx, digest);
    ksi_hex(digest, sizeof(digest), hex);
}

static void digest_whole(const char *text, char hex[65])
{
    const size_t whole = (size_t)-1;

    digest_pieces(text, strlen(text), &whole, 1, hex);
}

static void empty_message(void **state)
{
    char hex[65];

    (void)state;
    digest_whole("", hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
}

static void abc(void **state)
{
    char hex[65];

    (void)state;
    digest_whole("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
}

/* 56 bytes: the length no longer fits the first padding block. */
static void two_block_message(void **state)
{
    static const char msg[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char want[] = "248d6a61d20638b8e5c026930c3e6039"
                               "a33ce45964ff2167f6ecedd419db06c1";
    static const size_t bytewise = 1;
    char hex[65];

    (void)state;
    digest_whole(msg, hex);
    assert_string_equal(hex, want);
    digest_pieces(msg, strlen(msg), &bytewise, 1, hex);
    assert_string_equal(hex, want);
}

static void long_message(void **state)
{
    static const char msg[] =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
        "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    char hex[65];

    (void)state;
    digest_whole(msg, hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b049237"
                             "0b249b11e8f07a51afac45037afee9d1");
}

/* Lengths either side of the padding limits; values from sha256sum. */
static void padding_edges(void **state)
{
    char a55[56], a64[65], hex[65];

    (void)state;
    memset(a55, 'a', 55);
    a55[55] = '\0';
    memset(a64, 'a', 64);
    a64[64] = '\0';
    digest_whole(a55, hex);
    assert_string_equal(hex, "9f4390f8d30c2dd92ec9f095b65e2b9a"
                             "e9b0a925a5258e241c9f1e910f734318");
    digest_whole(a64, hex);
    assert_string_equal(hex, "ffe054fe7ae0cb6dc65c3af9b61d5209"
                             "f439851db43d0ba5997337df154668eb");
}

/* One million 'a' in pieces that straddle every block boundary offset. */
static void million_a_in_odd_pieces(void **state)
{
    static const size_t sizes[] = { 1, 3, 7, 13, 61, 63, 64, 65, 127, 997 };
    static const char want[] = "cdc76e5c9914fb9281a1c7e284d73e67"
                               "f1809a48a497200e046d39ccc7112cd0";
    const size_t len = 1000000;
    char *msg = unit_xmalloc(len);
    char hex[65];

    (void)state;
    memset(msg, 'a', len);
    digest_pieces(msg, len, sizes, sizeof(sizes) / sizeof(sizes[0]), hex);
    assert_string_equal(hex, want);
    digest_pieces(msg, len, &len, 1, hex);
    free(msg);
    assert_string_equal(hex, want);
}

static void hex_encoding(void **state)
{
    static const unsigned char bytes[] = { 0x00, 0x0f, 0xf0, 0xff, 0x5a };
    char out[11];

    (void)state;
    memset(out, 'X', sizeof(out));
    ksi_hex(bytes, sizeof(bytes), out);
    assert_string_equal(out, "000ff0ff5a");

    /* A prefix of a digest, as fingerprints use. */
    memset(out, 'X', sizeof(out));
    ksi_hex(bytes, 2, out);
    assert_string_equal(out, "000f");
}

/* The public one-shot helper agrees with the streaming functions. */
static void public_hex_helper(void **state)
{
    char hex[65];

    (void)state;
    ks_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    ks_sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
}

/* The SHA-extension rounds give the portable code's digests. */
static void accelerated_matches_portable(void **state)
{
    size_t big = 1u << 20;
    unsigned char *data = unit_xmalloc(big);
    uint32_t x = 2463534242u;

    (void)state;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    if (!ksi_sha256_accelerated(0)) {
        ksi_sha256_accelerated(1);
        free(data);
        skip();
    }
    for (size_t len = 0; len <= big; len = len < 1100 ? len + 7 : len * 4) {
        unsigned char fast[32], slow[32];
        ksi_sha256 ctx;

        ksi_sha256_accelerated(0);
        ksi_sha256_init(&ctx);
        ksi_sha256_update(&ctx, data, len);
        ksi_sha256_final(&ctx, fast);
        ksi_sha256_accelerated(1);
        ksi_sha256_init(&ctx);
        ksi_sha256_update(&ctx, data, len);
        ksi_sha256_final(&ctx, slow);
        assert_memory_equal(fast, slow, 32);
    }
    ksi_sha256_accelerated(0);
    free(data);
}

/* The known answers hold for the portable code too. */
static int portable_setup(void **state)
{
    (void)state;
    ksi_sha256_accelerated(1);
    return 0;
}

static int portable_teardown(void **state)
{
    (void)state;
    ksi_sha256_accelerated(0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_message),
        cmocka_unit_test(abc),
        cmocka_unit_test(two_block_message),
        cmocka_unit_test(long_message),
        cmocka_unit_test(padding_edges),
        cmocka_unit_test(million_a_in_odd_pieces),
        cmocka_unit_test(hex_encoding),
        cmocka_unit_test(public_hex_helper),
        cmocka_unit_test(accelerated_matches_portable),
        cmocka_unit_test_setup_teardown(long_message, portable_setup,
                                        portable_teardown),
        cmocka_unit_test_setup_teardown(million_a_in_odd_pieces,
                                        portable_setup, portable_teardown),
        cmocka_unit_test_setup_teardown(padding_edges, portable_setup,
                                        portable_teardown),
    };

    return cmocka_run_group_tests_name("sha256 (FIPS 180-4 vectors, hex)",
                                       tests, NULL, NULL);
}
