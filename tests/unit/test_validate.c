/*
 * test_validate.c - the structure checks rules name with `validate:`, the
 * CRC-32 they rest on, and the noise filter every finding goes through.
 * Expected checksums were computed with an independent implementation.
 */
#include "unit.h"

#include "validate.h"

/* Runs validator `name` on NUL-terminated text. */
static int check(const char *name, const char *text)
{
    ksi_validator_fn fn = ksi_validator_find(name);

    if (!fn)
        fail_msg("no validator named %s", name);
    return fn((const unsigned char *)text, strlen(text));
}

static int noise(const char *text, int generic)
{
    return ksi_is_noise((const unsigned char *)text, strlen(text), generic);
}

static void crc32_check_values(void **state)
{
    static const char fox[] = "The quick brown fox jumps over the lazy dog";

    (void)state;
    assert_int_equal(ksi_crc32((const unsigned char *)"", 0), 0);
    assert_int_equal(ksi_crc32((const unsigned char *)"123456789", 9),
                     0xcbf43926u);
    assert_int_equal(ksi_crc32((const unsigned char *)fox, strlen(fox)),
                     0x414fa339u);
}

static void validators_by_name(void **state)
{
    static const char *const names[] = {
        "crc32-base62", "crc32-hex-le", "github-installation", "bech32",
        "base64-json", "base64-userpass", "jwt", "pem", "aws-key-id",
        "base64", "hex",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_non_null(ksi_validator_find(names[i]));
        assert_non_null(strstr(ksi_validator_names(), names[i]));
    }
    assert_null(ksi_validator_find("luhn"));
    assert_null(ksi_validator_find(""));
    assert_null(ksi_validator_find("HEX"));
}

/* A fake token whose last six characters are its body's CRC-32. */
#define CRC_TOKEN "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"

static void crc32_base62(void **state)
{
    char wrong[] = CRC_TOKEN;

    (void)state;
    assert_true(check("crc32-base62", CRC_TOKEN));
    /* Any change to the body or the checksum breaks it. */
    wrong[5] = 'U';
    assert_false(check("crc32-base62", wrong));
    strcpy(wrong, CRC_TOKEN);
    wrong[strlen(wrong) - 1] = 'b';
    assert_false(check("crc32-base62", wrong));
    /* Wrong length after the prefix, or no prefix at all. */
    assert_false(check("crc32-base62",
                       "ghp_kT3vQ9xLm2Rw8ZpB4nYc7Hs1Jd6Fg04OP1t"));
    assert_false(check("crc32-base62",
                       "kT3vQ9xLm2Rw8ZpB4nYc7Hs1Jd6Fg04OP1ta"));
}

#define JWT_HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define JWT_PAYLOAD "eyJzdWIiOiIxMjM0NTY3ODkwIiwiaWF0IjoxNTE2MjM5MDIyfQ"

static void jwt(void **state)
{
    (void)state;
    assert_true(check("jwt", JWT_HEADER "." JWT_PAYLOAD ".c2lnbmF0dXJl"));
    /* A header without "alg" is not a JWT header. */
    assert_false(check("jwt", "eyJ0eXAiOiJKV1QifQ." JWT_PAYLOAD ".c2ln"));
    /* Segments that decode to something other than JSON objects. */
    assert_false(check("jwt", "bm90IGpzb24gYXQgYWxs." JWT_PAYLOAD ".c2ln"));
    assert_false(check("jwt", JWT_HEADER ".bm90IGpzb24gYXQgYWxs.c2ln"));
    assert_false(check("jwt", JWT_HEADER "." JWT_PAYLOAD));
    assert_false(check("jwt", JWT_HEADER));
    assert_false(check("jwt", ".."));
}

#define PEM_BODY \
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"

static void pem(void **state)
{
    (void)state;
    assert_true(check("pem", "-----BEGIN TEST KEY-----\n" PEM_BODY "\n"
                             "-----END TEST KEY-----"));
    assert_true(check("pem", "-----BEGIN TEST KEY-----\r\n"
                             "Proc-Type: 4,ENCRYPTED\r\n\r\n" PEM_BODY "\r\n"
                             "-----END TEST KEY-----"));
    /* Labels must agree. */
    assert_false(check("pem", "-----BEGIN TEST KEY-----\n" PEM_BODY "\n"
                              "-----END OTHER KEY-----"));
    /* The body must be base64, and more than a token amount of it. */
    assert_false(check("pem", "-----BEGIN TEST KEY-----\nnot*base64!\n"
                              "-----END TEST KEY-----"));
    assert_false(check("pem", "-----BEGIN TEST KEY-----\nAAEC\n"
                              "-----END TEST KEY-----"));
    assert_false(check("pem", "-----BEGIN TEST KEY-----\n" PEM_BODY "\n"));
    assert_false(check("pem", "-----BEGIN A-----END A-----"));
}

static void aws_key_id(void **state)
{
    (void)state;
    assert_true(check("aws-key-id", "AKIAQ2ZR7WL5M3XKT4BN"));
    assert_true(check("aws-key-id", "ASIAQ2ZR7WL5M3XKT4BN"));
    /* 0, 1, 8 and 9 are not in the key id alphabet. */
    assert_false(check("aws-key-id", "AKIA0189018901890189"));
    assert_false(check("aws-key-id", "AKIAq2zr7wl5m3xkt4bn"));
    assert_false(check("aws-key-id", "AXXAQ2ZR7WL5M3XKT4BN"));
    assert_false(check("aws-key-id", "AKIAQ2ZR7WL5M3XKT4B"));
    assert_false(check("aws-key-id", "AKIAQ2ZR7WL5M3XKT4BNA"));
}

/* CRC-32 of everything before the last '_', as hex, low byte first. */
static void crc32_hex_le(void **state)
{
    (void)state;
    assert_true(check("crc32-hex-le",
                      "glsa_StZsxnTSWsbCBpWUedoB6SJ95Ypuie2c_72e2a775"));
    assert_false(check("crc32-hex-le",
                       "glsa_StZsxnTSWsbCBpWUedoB6SJ95Ypuie2c_72e2a776"));
    assert_false(check("crc32-hex-le",
                       "glsa_StZsxnTSWsbCBpWUedoB6SJ95Ypuie2d_72e2a775"));
    /* The digits are lower-case hex, and there must be eight. */
    assert_false(check("crc32-hex-le",
                       "glsa_StZsxnTSWsbCBpWUedoB6SJ95Ypuie2c_72E2A775"));
    assert_false(check("crc32-hex-le", "glsa_x_72e2a77"));
}

static void github_installation(void **state)
{
    (void)state;
    /* The short form carries the classic tokens' checksum. */
    assert_true(check("github-installation",
                      "ghs_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7y3gm1IL"));
    assert_false(check("github-installation",
                       "ghs_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7y3gm1IM"));
    /* The long form: the app's id, then a JWT. */
    assert_true(check("github-installation", "ghs_1542375_" JWT_HEADER "."
                      JWT_PAYLOAD ".c2lnbmF0dXJl"));
    assert_false(check("github-installation", "ghs_1542375_not.a.jwt"));
    assert_false(check("github-installation", "ghs_" JWT_HEADER "."
                       JWT_PAYLOAD ".c2lnbmF0dXJl"));
}

/* Test vectors of BIP-173, and an age identity. */
static void bech32(void **state)
{
    (void)state;
    assert_true(check("bech32", "A12UEL5L"));
    assert_true(check("bech32", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw"));
    assert_true(check("bech32", "AGE-SECRET-KEY-1SXNX27MZ822LX722QX8SALJCV8R9M"
                                "2DY8SKGTURGWD3ZG2TXUQNSGXJ0U8"));
    assert_false(check("bech32", "AGE-SECRET-KEY-1SXNX27MZ822LX722QX8SALJCV8R9"
                                 "M2DY8SKGTURGWD3ZG2TXUQNSGXJ0U9"));
    /* Mixed case, a character outside the alphabet, no separator. */
    assert_false(check("bech32", "A12UEl5L"));
    assert_false(check("bech32", "a12uebl5l"));
    assert_false(check("bech32", "pzry9x8gf2tvdw0s3jn54khce6mua7l"));
}

static void base64_json(void **state)
{
    (void)state;
    /* {"k":"v"} after a prefix, in either alphabet, with or without a
     * signature after '_'. */
    assert_true(check("base64-json", "glc_eyJrIjoidiJ9"));
    assert_true(check("base64-json", "sntrys_eyJrIjoidiJ9_c2lnbmF0dXJl"));
    assert_true(check("base64-json", "pk.eyJrIjoidiJ9.c2ln"));
    assert_false(check("base64-json", "glc_eyJub3QganNvbg"));
    assert_false(check("base64-json", "glc_bm90IGpzb24"));
}

static void base64_userpass(void **state)
{
    (void)state;
    assert_true(check("base64-userpass", "ZGVwbG95OnMzY3JldA=="));
    /* No colon, nothing after it, or bytes that are not text. */
    assert_false(check("base64-userpass", "ZGVwbG95"));
    assert_false(check("base64-userpass", "ZGVwbG95Og=="));
    assert_false(check("base64-userpass", "AAECAwQ6BQYH"));
    assert_false(check("base64-userpass", "not base64"));
}

/* A PEM block kept in a JSON string, its newlines written as \n. */
static void pem_escaped(void **state)
{
    (void)state;
    assert_true(check("pem", "-----BEGIN TEST KEY-----\\n" PEM_BODY "\\n"
                             "-----END TEST KEY-----"));
    assert_true(check("pem", "-----BEGIN TEST KEY-----\\r\\n" PEM_BODY
                             "\\r\\n-----END TEST KEY-----"));
    assert_false(check("pem", "-----BEGIN TEST KEY-----\\n" PEM_BODY
                              "\\t!\\n-----END TEST KEY-----"));
}

static void base64_and_hex(void **state)
{
    (void)state;
    assert_true(check("base64", "aGVsbG8gd29ybGQ="));
    assert_true(check("base64", "+//+"));
    assert_true(check("base64", "-__-"));
    assert_false(check("base64", "not base64!"));
    assert_false(check("base64", "aGVsbG8=d29ybGQ"));
    assert_false(check("base64", ""));

    assert_true(check("hex", "deadBEEF0123"));
    assert_false(check("hex", "deadbeefg"));
    assert_false(check("hex", ""));
}

static void noise_for_every_rule(void **state)
{
    (void)state;
    /* Keys vendors print in their documentation. */
    assert_true(noise("AKIAIOSFODNN7EXAMPLE", 0));
    /* Templates and references to the environment. */
    assert_true(noise("${DEPLOY_TOKEN}", 0));
    assert_true(noise("{{ vault_token }}", 0));
    assert_true(noise("%TOKEN%", 0));
    assert_true(noise("<your-token>", 0));
    assert_true(noise("os.environ['TOKEN']", 0));
    /* Placeholder words, whatever their case. */
    assert_true(noise("ChangeMe2024", 0));
    assert_true(noise("sk_live_REDACTED", 0));
    assert_true(noise("xxxxxxxxxxxx", 0));
    assert_true(noise("sk-ant-api03-...", 0));
    /* The JWT every tutorial copies. */
    assert_true(noise("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0"
                      "NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MD"
                      "IyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", 0));

    assert_false(noise("q8Vr2mK5xZ7pL1wN", 0));
    assert_false(noise("AKIAQ2ZR7WL5M3XKT4BN", 0));
}

/* Hashes and UUIDs are noise only to rules that know no format. */
static void noise_for_generic_rules(void **state)
{
    static const char sha1[] = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    static const char uuid[] = "123e4567-e89b-12d3-a456-426614174000";

    (void)state;
    assert_false(noise(sha1, 0));
    assert_true(noise(sha1, 1));
    assert_false(noise(uuid, 0));
    assert_true(noise(uuid, 1));
    /* Hex of a length no hash has is not hash-shaped. */
    assert_false(noise("7f3a9c2e81d04b657f3a", 1));
    assert_false(noise("q8Vr2mK5xZ7pL1wN", 1));
}

/*
 * Values that are names, paths, links or words are noise to generic rules
 * only; real passwords with a word in them still count.
 */
static void generic_values_that_are_names(void **state)
{
    static const char *const names[] = {
        "challengePassword", "_EllipticCurvePrivateKey", "CurTokenString",
        "/run/secrets/db2", "./conf/app.key", "https://pypi.org/simple/x2",
        "CURLOPTTYPE_STRINGPOINT+176", "ScreenSave_Data", "nobody@nowhere.com",
        "Root%20CA%20Certificates", "abcd1234defg5678", "a1b2c3d4567890ab",
        "eyJOZXh0VG9rZW4iOiBudWxsfQ==", ":p0*\x85\xc9\xbc\xf3g\xe6", NULL,
    };
    static const char *const secrets[] = {
        "Summer2024!x", "q8Vr2mK5xZ7pL1wN", "https://ci:Zq81xv@h.io/",
        "UTF8xQ3k", "Tr0ub4dor&3", NULL,
    };

    (void)state;
    for (const char *const *n = names; *n; n++) {
        assert_true(noise(*n, 1));
        assert_false(noise(*n, 0));
    }
    for (const char *const *s = secrets; *s; s++)
        assert_false(noise(*s, 1));
    /* Eight ascending in any case is made up for every rule. */
    assert_true(noise("AB1C2defGHijkLMNo3PqQRstUvwx", 0));
}

static int benign(const char *assignment)
{
    const char *keyword = strstr(assignment, "Token");

    if (!keyword)
        keyword = strstr(assignment, "secret");
    assert_non_null(keyword);
    return ksi_is_benign_name((const unsigned char *)assignment,
                              (size_t)(keyword - assignment));
}

/* Cursors and one-time tokens are named for what they are. */
static void names_of_values_that_are_not_credentials(void **state)
{
    (void)state;
    assert_true(benign("\"NextToken\": \"x\""));
    assert_true(benign("nextPageToken: x"));
    assert_true(benign("  ContinuationToken=x"));
    assert_true(benign("ClientToken: x"));
    assert_false(benign("client_secret = x"));
    assert_false(benign("AuthToken: x"));
    assert_false(benign("Token: x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32_check_values),
        cmocka_unit_test(validators_by_name),
        cmocka_unit_test(crc32_base62),
        cmocka_unit_test(jwt),
        cmocka_unit_test(pem),
        cmocka_unit_test(aws_key_id),
        cmocka_unit_test(crc32_hex_le),
        cmocka_unit_test(github_installation),
        cmocka_unit_test(bech32),
        cmocka_unit_test(base64_json),
        cmocka_unit_test(base64_userpass),
        cmocka_unit_test(pem_escaped),
        cmocka_unit_test(base64_and_hex),
        cmocka_unit_test(noise_for_every_rule),
        cmocka_unit_test(noise_for_generic_rules),
        cmocka_unit_test(generic_values_that_are_names),
        cmocka_unit_test(names_of_values_that_are_not_credentials),
    };

    return cmocka_run_group_tests_name("validators and noise filters", tests,
                                       NULL, NULL);
}
