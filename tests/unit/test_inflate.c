/*
 * test_inflate.c - the in-process gzip (ISA-L) and zstd (libzstd)
 * decoders: whole streams, concatenated members and frames, trailing
 * bytes, every output buffer size, and the messages for truncated and
 * corrupt input. Compressed data is made here with ISA-L's and zstd's own
 * compressors.
 */
#include "unit.h"

#include "inflate.h"

#include <isa-l/igzip_lib.h>
#include <zstd.h>

/* Compressed bytes handed out by the pull callback, `step` at a time. */
typedef struct feed {
    const unsigned char *data;
    size_t len;
    size_t pos;
    size_t step;
    int fail_at;        /* pull number that fails, or 0 */
    int pulls;
} feed;

static ssize_t pull(void *ctx, unsigned char *buf, size_t cap)
{
    feed *f = ctx;
    size_t n = f->len - f->pos;

    if (f->fail_at && ++f->pulls >= f->fail_at)
        return -1;
    if (n > cap)
        n = cap;
    if (f->step && n > f->step)
        n = f->step;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    return (ssize_t)n;
}

static size_t gzip_bytes(const void *in, size_t len, unsigned char *out,
                         size_t cap)
{
    struct isal_zstream z = { 0 };

    isal_deflate_stateless_init(&z);
    z.gzip_flag = IGZIP_GZIP;
    z.end_of_stream = 1;
    z.next_in = (uint8_t *)in;
    z.avail_in = (uint32_t)len;
    z.next_out = out;
    z.avail_out = (uint32_t)cap;
    assert_int_equal(isal_deflate_stateless(&z), COMP_OK);
    return z.total_out;
}

static size_t zstd_bytes(const void *in, size_t len, unsigned char *out,
                         size_t cap)
{
    size_t n = ZSTD_compress(out, cap, in, len, 3);

    assert_false(ZSTD_isError(n));
    return n;
}

/* Text that compresses, with a marker at each end. */
static unsigned char plain[300000];

static void make_plain(void)
{
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (unsigned char)("keysift inflate test line\n"[i % 26]);
    memcpy(plain, "BEGIN", 5);
    memcpy(plain + sizeof(plain) - 3, "END", 3);
}

/* Decodes everything with output buffers of `cap`; returns the length. */
static ssize_t decode_all(ksi_codec codec, feed *f, unsigned char *out,
                          size_t out_cap, size_t cap, ksi_inflater **keep)
{
    ksi_inflater *z = ksi_inflater_new(codec, pull, f);
    size_t got = 0;
    ssize_t n;

    assert_non_null(z);
    while ((n = ksi_inflate_read(z, out + got, cap < out_cap - got
                                                   ? cap
                                                   : out_cap - got)) > 0)
        got += (size_t)n;
    if (keep)
        *keep = z;
    else
        ksi_inflater_free(z);
    return n < 0 ? -1 : (ssize_t)got;
}

static unsigned char packed[2 * sizeof(plain)];
static unsigned char unpacked[3 * sizeof(plain)];

static void round_trip(ksi_codec codec, size_t step, size_t cap)
{
    size_t len = codec == KSI_CODEC_GZIP
                     ? gzip_bytes(plain, sizeof(plain), packed,
                                  sizeof(packed))
                     : zstd_bytes(plain, sizeof(plain), packed,
                                  sizeof(packed));
    feed f = { packed, len, 0, step, 0, 0 };

    assert_int_equal(ksi_codec_detect(packed, len), codec);
    assert_int_equal(decode_all(codec, &f, unpacked, sizeof(unpacked), cap,
                                NULL),
                     sizeof(plain));
    assert_memory_equal(unpacked, plain, sizeof(plain));
}

static void gzip_whole(void **state)
{
    (void)state;
    round_trip(KSI_CODEC_GZIP, 0, 1 << 20);
}

static void zstd_whole(void **state)
{
    (void)state;
    round_trip(KSI_CODEC_ZSTD, 0, 1 << 20);
}

/* Tiny input pulls and tiny output buffers exercise every resume path. */
static void small_steps(void **state)
{
    static const size_t caps[] = { 1, 7, 4096, 65536 };

    (void)state;
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        round_trip(KSI_CODEC_GZIP, 3, caps[i]);
        round_trip(KSI_CODEC_ZSTD, 3, caps[i]);
        round_trip(KSI_CODEC_GZIP, 0, caps[i]);
        round_trip(KSI_CODEC_ZSTD, 0, caps[i]);
    }
}

/* Members and frames one after another are one stream, as gzip -dc and
 * zstd -dc see them; bytes after the last gzip member are ignored. */
static void concatenated(void **state)
{
    ksi_codec codecs[] = { KSI_CODEC_GZIP, KSI_CODEC_ZSTD };

    (void)state;
    for (size_t c = 0; c < 2; c++) {
        size_t a, b;
        feed f;

        a = codecs[c] == KSI_CODEC_GZIP
                ? gzip_bytes(plain, 1000, packed, sizeof(packed))
                : zstd_bytes(plain, 1000, packed, sizeof(packed));
        b = codecs[c] == KSI_CODEC_GZIP
                ? gzip_bytes(plain + 1000, sizeof(plain) - 1000, packed + a,
                             sizeof(packed) - a)
                : zstd_bytes(plain + 1000, sizeof(plain) - 1000, packed + a,
                             sizeof(packed) - a);
        f = (feed){ packed, a + b, 0, 0, 0, 0 };
        assert_int_equal(decode_all(codecs[c], &f, unpacked,
                                    sizeof(unpacked), 1 << 16, NULL),
                         sizeof(plain));
        assert_memory_equal(unpacked, plain, sizeof(plain));
    }
    {
        size_t a = gzip_bytes(plain, 5000, packed, sizeof(packed));
        feed f;

        memcpy(packed + a, "\0\0\0\0trailing", 12);
        f = (feed){ packed, a + 12, 0, 0, 0, 0 };
        assert_int_equal(decode_all(KSI_CODEC_GZIP, &f, unpacked,
                                    sizeof(unpacked), 1 << 16, NULL),
                         5000);
    }
}

static void truncated(void **state)
{
    ksi_codec codecs[] = { KSI_CODEC_GZIP, KSI_CODEC_ZSTD };

    (void)state;
    for (size_t c = 0; c < 2; c++) {
        size_t len = codecs[c] == KSI_CODEC_GZIP
                         ? gzip_bytes(plain, sizeof(plain), packed,
                                      sizeof(packed))
                         : zstd_bytes(plain, sizeof(plain), packed,
                                      sizeof(packed));
        feed f = { packed, len / 2, 0, 0, 0, 0 };
        ksi_inflater *z = NULL;

        assert_int_equal(decode_all(codecs[c], &f, unpacked,
                                    sizeof(unpacked), 1 << 16, &z),
                         -1);
        assert_non_null(strstr(ksi_inflater_error(z), "truncated"));
        assert_non_null(strstr(ksi_inflater_error(z),
                               ksi_codec_name(codecs[c])));
        /* Once failed, it stays failed. */
        assert_int_equal(ksi_inflate_read(z, unpacked, 10), -1);
        ksi_inflater_free(z);
    }
}

static void corrupt(void **state)
{
    size_t len = gzip_bytes(plain, sizeof(plain), packed, sizeof(packed));
    ksi_inflater *z = NULL;
    feed f = { packed, len, 0, 0, 0, 0 };

    (void)state;
    for (size_t i = 20; i < 60; i++)
        packed[i] ^= 0x5a;
    assert_int_equal(decode_all(KSI_CODEC_GZIP, &f, unpacked,
                                sizeof(unpacked), 1 << 16, &z),
                     -1);
    assert_non_null(strstr(ksi_inflater_error(z), "gzip data is corrupt"));
    ksi_inflater_free(z);

    len = zstd_bytes(plain, sizeof(plain), packed, sizeof(packed));
    for (size_t i = 8; i < 40; i++)
        packed[i] ^= 0x5a;
    f = (feed){ packed, len, 0, 0, 0, 0 };
    assert_int_equal(decode_all(KSI_CODEC_ZSTD, &f, unpacked,
                                sizeof(unpacked), 1 << 16, &z),
                     -1);
    assert_true(strstr(ksi_inflater_error(z), "zstd data is corrupt") ||
                strstr(ksi_inflater_error(z), "truncated"));
    ksi_inflater_free(z);
}

/* A failing pull is the caller's to explain: the error stays empty. */
static void pull_failure(void **state)
{
    size_t len = gzip_bytes(plain, sizeof(plain), packed, sizeof(packed));
    feed f = { packed, len, 0, 1000, 3, 0 };
    ksi_inflater *z = NULL;

    (void)state;
    assert_int_equal(decode_all(KSI_CODEC_GZIP, &f, unpacked,
                                sizeof(unpacked), 1 << 16, &z),
                     -1);
    assert_string_equal(ksi_inflater_error(z), "");
    ksi_inflater_free(z);
}

static void detection(void **state)
{
    (void)state;
    assert_int_equal(ksi_codec_detect((const unsigned char *)"\x1f\x8b\x08",
                                      3),
                     KSI_CODEC_GZIP);
    assert_int_equal(ksi_codec_detect((const unsigned char *)"\x1f\x8b", 2),
                     KSI_CODEC_NONE);
    assert_int_equal(ksi_codec_detect((const unsigned char *)
                                          "\x28\xb5\x2f\xfd", 4),
                     KSI_CODEC_ZSTD);
    assert_int_equal(ksi_codec_detect((const unsigned char *)"BZh9", 4),
                     KSI_CODEC_NONE);
    assert_null(ksi_inflater_new(KSI_CODEC_NONE, pull, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gzip_whole),
        cmocka_unit_test(zstd_whole),
        cmocka_unit_test(small_steps),
        cmocka_unit_test(concatenated),
        cmocka_unit_test(truncated),
        cmocka_unit_test(corrupt),
        cmocka_unit_test(pull_failure),
        cmocka_unit_test(detection),
    };

    make_plain();
    return cmocka_run_group_tests_name("inflate (ISA-L gzip, libzstd)",
                                       tests, NULL, NULL);
}
