/*
 * test_simd.c - the byte kernels give the scalar path's answers on every
 * path this CPU runs (scalar, SSE4.2, AVX2), at every length and
 * alignment, and the scalar path gives the right answers.
 */
#include "unit.h"

#include "simd.h"

#include <math.h>

#define EPS 1e-9

static unsigned char buf[80000];

static void fill(uint64_t seed, int newline_every)
{
    for (size_t i = 0; i < sizeof(buf); i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        buf[i] = newline_every && seed % (uint64_t)newline_every == 0
                     ? '\n'
                     : (unsigned char)(seed >> 24);
    }
}

/* The obvious way, to check the scalar kernel itself. */
static double entropy_reference(const unsigned char *p, size_t n)
{
    double counts[256] = { 0 }, bits = 0;

    for (size_t i = 0; i < n; i++)
        counts[p[i]] += 1;
    for (int v = 0; v < 256; v++) {
        if (counts[v] > 0)
            bits -= counts[v] / (double)n * log2(counts[v] / (double)n);
    }
    return bits;
}

static size_t newlines_reference(const unsigned char *p, size_t n,
                                 size_t *after_last)
{
    size_t count = 0;

    *after_last = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            count++;
            *after_last = i + 1;
        }
    }
    return count;
}

static const size_t lengths[] = { 0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65,
                                  100, 255, 256, 257, 1023, 1024, 1025,
                                  4096, 65537, 79000 };

static void check_level(ksi_simd_level level)
{
    for (int every = 0; every <= 64; every += 8) {
        fill(0x1234567 + (uint64_t)every, every);
        for (size_t l = 0; l < sizeof(lengths) / sizeof(lengths[0]); l++) {
            for (size_t off = 0; off < 3; off++) {
                const unsigned char *p = buf + off;
                size_t n = lengths[l], want_last, got_last;
                size_t want = newlines_reference(p, n, &want_last);

                assert_int_equal(ksi_simd_force(level), level);
                assert_int_equal(ksi_count_newlines(p, n, &got_last), want);
                assert_int_equal(got_last, want_last);
                assert_true(fabs(ksi_entropy(p, n) -
                                 entropy_reference(p, n)) < EPS);
            }
        }
    }
}

static void scalar_path(void **state)
{
    (void)state;
    check_level(KSI_SIMD_SCALAR);
}

static void sse42_path(void **state)
{
    (void)state;
    if (ksi_simd_detect() < KSI_SIMD_SSE42)
        skip();
    check_level(KSI_SIMD_SSE42);
}

static void avx2_path(void **state)
{
    (void)state;
    if (ksi_simd_detect() < KSI_SIMD_AVX2)
        skip();
    check_level(KSI_SIMD_AVX2);
}

/* Known values hold on every path, and a repeated byte is exactly 0. */
static void known_values_on_every_path(void **state)
{
    (void)state;
    for (int level = KSI_SIMD_SCALAR; level <= (int)ksi_simd_detect();
         level++) {
        ksi_simd_force((ksi_simd_level)level);
        assert_true(ksi_entropy((const unsigned char *)"\0\0\0", 3) == 0.0);
        assert_true(ksi_entropy((const unsigned char *)"aaaaaaa", 7) == 0.0);
        assert_true(fabs(ksi_entropy((const unsigned char *)"hello", 5) -
                         1.9219280948873623) < EPS);
        assert_true(fabs(ksi_entropy((const unsigned char *)"ab", 2) - 1.0) <
                    EPS);
    }
}

/* Asking for more than the CPU has gives what it has. */
static void force_clamps_to_the_cpu(void **state)
{
    (void)state;
    assert_int_equal(ksi_simd_force(KSI_SIMD_AVX2), ksi_simd_detect());
    assert_int_equal(ksi_simd_active(), ksi_simd_detect());
    assert_string_equal(ksi_simd_name(KSI_SIMD_SCALAR), "scalar");
    assert_string_equal(ksi_simd_name(KSI_SIMD_SSE42), "sse4.2");
    assert_string_equal(ksi_simd_name(KSI_SIMD_AVX2), "avx2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalar_path),
        cmocka_unit_test(sse42_path),
        cmocka_unit_test(avx2_path),
        cmocka_unit_test(known_values_on_every_path),
        cmocka_unit_test(force_clamps_to_the_cpu),
    };

    return cmocka_run_group_tests_name("simd kernels", tests, NULL, NULL);
}
