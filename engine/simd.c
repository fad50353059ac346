/*
 * simd.c - runtime-dispatched byte kernels (see simd.h).
 *
 * The vector versions are compiled with per-function target attributes, so
 * the rest of the engine stays portable and a CPU without AVX2 never runs
 * an AVX2 instruction. On other architectures only the scalar versions
 * exist.
 */
#include "simd.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KSI_HAVE_X86 1
#include <immintrin.h>
#else
#define KSI_HAVE_X86 0
#endif

/* ---- scalar: the reference ---------------------------------------------- */

static size_t newlines_scalar(const unsigned char *p, size_t n,
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

/* c * log2(c) for small counts, so most bins cost a load, not a log. */
#define CLOG_TABLE 1024
static double clog_table[CLOG_TABLE];
static pthread_once_t clog_once = PTHREAD_ONCE_INIT;

static void clog_init(void)
{
    for (int c = 1; c < CLOG_TABLE; c++)
        clog_table[c] = c * log2((double)c);
}

static double clog2(uint32_t c)
{
    return c < CLOG_TABLE ? clog_table[c] : c * log2((double)c);
}

/*
 * log2(n) - sum(c * log2(c)) / n, which is -sum(c/n * log2(c/n)). One
 * byte value repeated is exactly 0, whatever the rounding.
 */
static double entropy_from_sum(double sum, size_t n)
{
    double bits = log2((double)n) - sum / (double)n;

    return bits < 1e-12 ? 0.0 : bits;
}

static double entropy_scalar(const unsigned char *p, size_t n)
{
    uint32_t counts[256] = { 0 };
    double sum = 0.0;

    pthread_once(&clog_once, clog_init);
    for (size_t i = 0; i < n; i++)
        counts[p[i]]++;
    for (int v = 0; v < 256; v++) {
        if (counts[v])
            sum += clog2(counts[v]);
    }
    return entropy_from_sum(sum, n);
}

/* ---- x86-64 vector versions --------------------------------------------- */

#if KSI_HAVE_X86

__attribute__((target("sse4.2,popcnt")))
static size_t newlines_sse42(const unsigned char *p, size_t n,
                             size_t *after_last)
{
    const __m128i nl = _mm_set1_epi8('\n');
    size_t count = 0, i = 0, tail;

    *after_last = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl));

        if (mask) {
            count += (size_t)_mm_popcnt_u32(mask);
            *after_last = i + 32 - (size_t)__builtin_clz(mask);
        }
    }
    count += newlines_scalar(p + i, n - i, &tail);
    if (tail)
        *after_last = i + tail;
    return count;
}

__attribute__((target("avx2,popcnt")))
static size_t newlines_avx2(const unsigned char *p, size_t n,
                            size_t *after_last)
{
    const __m256i nl = _mm256_set1_epi8('\n');
    size_t count = 0, i = 0, tail;

    *after_last = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        uint64_t lo = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(a, nl));
        uint64_t hi = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(b, nl));
        uint64_t mask = lo | hi << 32;

        if (mask) {
            count += (size_t)_mm_popcnt_u64(mask);
            *after_last = i + 64 - (size_t)__builtin_clzll(mask);
        }
    }
    count += newlines_sse42(p + i, n - i, &tail);
    if (tail)
        *after_last = i + tail;
    return count;
}

/*
 * A histogram of a long input, kept in four interleaved tables so that
 * runs of one byte value (common in text) do not stall on one counter.
 */
static void histogram(const unsigned char *p, size_t n, uint32_t *counts)
{
    uint32_t part[4][256];
    size_t i = 0;

    memset(part, 0, sizeof(part));
    for (; i + 4 <= n; i += 4) {
        part[0][p[i]]++;
        part[1][p[i + 1]]++;
        part[2][p[i + 2]]++;
        part[3][p[i + 3]]++;
    }
    for (; i < n; i++)
        part[0][p[i]]++;
    for (int v = 0; v < 256; v++)
        counts[v] = part[0][v] + part[1][v] + part[2][v] + part[3][v];
}

/*
 * The vector part of entropy is finding the byte values in use: the
 * scalar path tests 256 counters one by one, these compare 16 or 32 at a
 * time into a 256-bit mask whose set bits are then walked. Tokens shorter
 * than 256 bytes (nearly every secret) are counted in bytes, so clearing
 * and searching the histogram touches 256 bytes, not a kilobyte.
 */
typedef void (*used8_fn)(const uint8_t *counts, uint64_t used[4]);
typedef void (*used32_fn)(const uint32_t *counts, uint64_t used[4]);

static double entropy_vector(const unsigned char *p, size_t n,
                             used8_fn used8, used32_fn used32)
{
    uint8_t small[256] __attribute__((aligned(32)));
    uint32_t counts[256] __attribute__((aligned(32)));
    uint64_t used[4];
    double sum = 0.0;

    pthread_once(&clog_once, clog_init);
    if (n < 256) {
        memset(small, 0, sizeof(small));
        for (size_t i = 0; i < n; i++)
            small[p[i]]++;
        used8(small, used);
    } else {
        histogram(p, n, counts);
        used32(counts, used);
    }
    for (int w = 0; w < 4; w++) {
        for (uint64_t bits = used[w]; bits; bits &= bits - 1) {
            int v = w * 64 + __builtin_ctzll(bits);

            sum += n < 256 ? clog_table[small[v]] : clog2(counts[v]);
        }
    }
    return entropy_from_sum(sum, n);
}

__attribute__((target("sse4.2")))
static void used8_sse42(const uint8_t *counts, uint64_t used[4])
{
    const __m128i zero = _mm_setzero_si128();

    for (int v = 0; v < 256; v += 16) {
        __m128i c = _mm_load_si128((const __m128i *)(counts + v));
        uint64_t m = ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(c, zero)) &
                     0xffffu;

        if (v % 64 == 0)
            used[v / 64] = 0;
        used[v / 64] |= m << (v % 64);
    }
}

__attribute__((target("sse4.2")))
static void used32_sse42(const uint32_t *counts, uint64_t used[4])
{
    const __m128i zero = _mm_setzero_si128();

    for (int v = 0; v < 256; v += 4) {
        __m128i c = _mm_load_si128((const __m128i *)(counts + v));
        uint64_t m = ~(unsigned)_mm_movemask_ps(
                         _mm_castsi128_ps(_mm_cmpeq_epi32(c, zero))) & 0xfu;

        if (v % 64 == 0)
            used[v / 64] = 0;
        used[v / 64] |= m << (v % 64);
    }
}

__attribute__((target("avx2")))
static void used8_avx2(const uint8_t *counts, uint64_t used[4])
{
    const __m256i zero = _mm256_setzero_si256();

    for (int v = 0; v < 256; v += 64) {
        __m256i a = _mm256_load_si256((const __m256i *)(counts + v));
        __m256i b = _mm256_load_si256((const __m256i *)(counts + v + 32));
        uint64_t lo = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(a, zero));
        uint64_t hi = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(b, zero));

        used[v / 64] = ~(lo | hi << 32);
    }
}

__attribute__((target("avx2")))
static void used32_avx2(const uint32_t *counts, uint64_t used[4])
{
    const __m256i zero = _mm256_setzero_si256();

    for (int v = 0; v < 256; v += 8) {
        __m256i c = _mm256_load_si256((const __m256i *)(counts + v));
        uint64_t m = ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(
                         _mm256_cmpeq_epi32(c, zero))) & 0xffu;

        if (v % 64 == 0)
            used[v / 64] = 0;
        used[v / 64] |= m << (v % 64);
    }
}

static double entropy_sse42(const unsigned char *p, size_t n)
{
    return entropy_vector(p, n, used8_sse42, used32_sse42);
}

static double entropy_avx2(const unsigned char *p, size_t n)
{
    return entropy_vector(p, n, used8_avx2, used32_avx2);
}

#endif /* KSI_HAVE_X86 */

/* ---- dispatch ----------------------------------------------------------- */

typedef struct kernels {
    size_t (*newlines)(const unsigned char *, size_t, size_t *);
    double (*entropy)(const unsigned char *, size_t);
} kernels;

static const kernels table[] = {
    [KSI_SIMD_SCALAR] = { newlines_scalar, entropy_scalar },
#if KSI_HAVE_X86
    [KSI_SIMD_SSE42] = { newlines_sse42, entropy_sse42 },
    [KSI_SIMD_AVX2] = { newlines_avx2, entropy_avx2 },
#endif
};

/* -1 until first use; then the level in use. */
static atomic_int active = -1;

ksi_simd_level ksi_simd_detect(void)
{
#if KSI_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        return KSI_SIMD_AVX2;
    if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt"))
        return KSI_SIMD_SSE42;
#endif
    return KSI_SIMD_SCALAR;
}

ksi_simd_level ksi_simd_active(void)
{
    int level = atomic_load_explicit(&active, memory_order_relaxed);

    if (level < 0) {
        level = (int)ksi_simd_detect();
        atomic_store_explicit(&active, level, memory_order_relaxed);
    }
    return (ksi_simd_level)level;
}

ksi_simd_level ksi_simd_force(ksi_simd_level level)
{
    ksi_simd_level best = ksi_simd_detect();

    if (level > best)
        level = best;
    atomic_store(&active, (int)level);
    return level;
}

const char *ksi_simd_name(ksi_simd_level level)
{
    switch (level) {
    case KSI_SIMD_AVX2:
        return "avx2";
    case KSI_SIMD_SSE42:
        return "sse4.2";
    case KSI_SIMD_SCALAR:
        break;
    }
    return "scalar";
}

size_t ksi_count_newlines(const unsigned char *p, size_t n,
                          size_t *after_last)
{
    return table[ksi_simd_active()].newlines(p, n, after_last);
}

/* Past 4 GiB the 32-bit counters could wrap: count in 64 bits. */
static double entropy_huge(const unsigned char *p, size_t n)
{
    uint64_t counts[256] = { 0 };
    double bits = 0.0;

    for (size_t i = 0; i < n; i++)
        counts[p[i]]++;
    for (int v = 0; v < 256; v++) {
        double share = (double)counts[v] / (double)n;

        if (counts[v])
            bits -= share * log2(share);
    }
    return bits;
}

double ksi_entropy(const unsigned char *p, size_t n)
{
    if (n == 0)
        return 0.0;
    if (n > UINT32_MAX)
        return entropy_huge(p, n);
    return table[ksi_simd_active()].entropy(p, n);
}
