/*
 * sha256.c - SHA-256 following FIPS 180-4.
 *
 * Every byte of every image layer is hashed to check its digest, so the
 * compression function matters: on x86-64 CPUs with the SHA extensions
 * (Intel since Goldmont and Ice Lake, AMD since Zen) the rounds run on
 * them, several times faster than the portable code, which the others
 * use. The choice is made once, at first use, from CPUID.
 */
#include "sha256.h"

#include "keysift.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KSI_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t round_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void compress_one(uint32_t state[8], const unsigned char block[64])
{
    uint32_t w[64];
    uint32_t a, b, c, d, e, f, g, h;

    for (int i = 0; i < 16; i++)
        w[i] = load_be32(block + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^
                      (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^
                      (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    a = state[0]; b = state[1]; c = state[2]; d = state[3];
    e = state[4]; f = state[5]; g = state[6]; h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + s1 + ch + round_k[i] + w[i];
        uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = s0 + maj;

        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

static void compress_scalar(uint32_t state[8], const unsigned char *p,
                            size_t blocks)
{
    for (; blocks > 0; blocks--, p += 64)
        compress_one(state, p);
}

#ifdef KSI_SHA_NI
/*
 * The SHA extensions keep the state as two vectors, ABEF and CDGH (A in
 * the top lane), and do two rounds per sha256rnds2; sha256msg1/msg2 and
 * one alignr extend the message schedule four words at a time.
 */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_shani(uint32_t state[8], const unsigned char *p,
                           size_t blocks)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL,
                                        0x0405060700010203ULL);
    __m128i abcd = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i efgh = _mm_loadu_si128((const __m128i *)&state[4]);
    __m128i badc = _mm_shuffle_epi32(abcd, 0xb1);
    __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1b);
    __m128i abef = _mm_alignr_epi8(badc, hgfe, 8);
    __m128i cdgh = _mm_blend_epi16(hgfe, badc, 0xf0);

    for (; blocks > 0; blocks--, p += 64) {
        const __m128i abef_in = abef, cdgh_in = cdgh;
        __m128i m[4];

        for (int i = 0; i < 4; i++)
            m[i] = _mm_shuffle_epi8(
                _mm_loadu_si128((const __m128i *)(p + 16 * i)), swap);
        for (int t = 0; t < 16; t++) {
            __m128i w, k;

            if (t >= 4) {
                /* W[4t..4t+3] from the four groups before it. */
                __m128i back7 = _mm_alignr_epi8(m[(t - 1) & 3],
                                                m[(t - 2) & 3], 4);
                __m128i x = _mm_add_epi32(
                    _mm_sha256msg1_epu32(m[t & 3], m[(t - 3) & 3]), back7);

                m[t & 3] = _mm_sha256msg2_epu32(x, m[(t - 1) & 3]);
            }
            k = _mm_loadu_si128((const __m128i *)&round_k[4 * t]);
            w = _mm_add_epi32(m[t & 3], k);
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, w);
            abef = _mm_sha256rnds2_epu32(abef, cdgh,
                                         _mm_shuffle_epi32(w, 0x0e));
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }
    {
        __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
        __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);

        _mm_storeu_si128((__m128i *)&state[0],
                         _mm_blend_epi16(feba, dchg, 0xf0));
        _mm_storeu_si128((__m128i *)&state[4],
                         _mm_alignr_epi8(dchg, feba, 8));
    }
}

static int cpu_has_sha(void)
{
    unsigned a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) ||
        !(c & bit_SSSE3))
        return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#endif

typedef void (*compress_fn)(uint32_t state[8], const unsigned char *p,
                            size_t blocks);

/* 0 not chosen yet, 1 portable, 2 SHA extensions. */
static _Atomic int chosen;

static compress_fn compress_impl(void)
{
    int c = chosen;

    if (c == 0) {
#ifdef KSI_SHA_NI
        c = cpu_has_sha() ? 2 : 1;
#else
        c = 1;
#endif
        chosen = c;
    }
#ifdef KSI_SHA_NI
    if (c == 2)
        return compress_shani;
#endif
    return compress_scalar;
}

int ksi_sha256_accelerated(int portable)
{
    if (portable)
        chosen = 1;
    else
        chosen = 0;
    return compress_impl() != compress_scalar;
}

static void compress(uint32_t state[8], const unsigned char *p,
                     size_t blocks)
{
    compress_impl()(state, p, blocks);
}

void ksi_sha256_init(ksi_sha256 *ctx)
{
    static const uint32_t initial[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };

    memcpy(ctx->state, initial, sizeof(initial));
    ctx->total = 0;
    ctx->used = 0;
}

void ksi_sha256_update(ksi_sha256 *ctx, const void *data, size_t len)
{
    const unsigned char *p = data;

    ctx->total += len;
    if (ctx->used) {
        size_t take = 64 - ctx->used < len ? 64 - ctx->used : len;

        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += take;
        p += take;
        len -= take;
        if (ctx->used < 64)
            return;
        compress(ctx->state, ctx->block, 1);
        ctx->used = 0;
    }
    if (len >= 64) {
        compress(ctx->state, p, len / 64);
        p += len / 64 * 64;
        len %= 64;
    }
    memcpy(ctx->block, p, len);
    ctx->used = len;
}

void ksi_sha256_final(ksi_sha256 *ctx, unsigned char digest[32])
{
    uint64_t bits = ctx->total * 8;

    ctx->block[ctx->used++] = 0x80;
    if (ctx->used > 56) {
        memset(ctx->block + ctx->used, 0, 64 - ctx->used);
        compress(ctx->state, ctx->block, 1);
        ctx->used = 0;
    }
    memset(ctx->block + ctx->used, 0, 56 - ctx->used);
    for (int i = 0; i < 8; i++)
        ctx->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    compress(ctx->state, ctx->block, 1);

    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(ctx->state[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(ctx->state[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(ctx->state[i] >> 8);
        digest[4 * i + 3] = (unsigned char)ctx->state[i];
    }
}

void ksi_hex(const unsigned char *bytes, size_t nbytes, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

void ks_sha256_hex(const void *data, size_t len, char out[65])
{
    ksi_sha256 ctx;
    unsigned char digest[32];

    ksi_sha256_init(&ctx);
    if (len)
        ksi_sha256_update(&ctx, data, len);
    ksi_sha256_final(&ctx, digest);
    ksi_hex(digest, sizeof(digest), out);
}
