/*
 * simd_bench - speed of the engine's byte kernels on each path this CPU
 * runs (scalar, SSE4.2, AVX2), one core, bytes in memory.
 *
 *     simd_bench [MEGABYTES]
 *
 * The input is generated text (words, numbers, a newline every 40-80
 * bytes). Newline counting runs over the whole buffer, as line numbers
 * need; entropy runs over 40-byte tokens, the size of a typical secret,
 * as the capture stage does. Prints a JSON array of
 * {"kernel", "path", "mbps"}, the best of five passes each.
 */
#include "simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static unsigned char *make_text(size_t n)
{
    unsigned char *p = malloc(n);
    uint64_t r = 0x9e3779b97f4a7c15ull;
    size_t line = 0;

    if (!p)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        if (++line > 40 + (r & 31)) {
            p[i] = '\n';
            line = 0;
        } else {
            p[i] = (unsigned char)("etaoinshrdlu cmfwypvbgkqjxz0123456789_="
                                   [r % 39]);
        }
    }
    return p;
}

static volatile double sink;

static double time_kernel(int entropy, const unsigned char *p, size_t n)
{
    double best = 1e9;

    for (int pass = 0; pass < 5; pass++) {
        double t0 = now(), acc = 0;
        size_t last;

        if (entropy) {
            for (size_t off = 0; off + 40 <= n; off += 40)
                acc += ksi_entropy(p + off, 40);
        } else {
            acc = (double)ksi_count_newlines(p, n, &last);
        }
        sink = acc;
        if (now() - t0 < best)
            best = now() - t0;
    }
    return (double)n / best / 1e6;
}

int main(int argc, char **argv)
{
    size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 64) << 20;
    unsigned char *text = make_text(n);
    const char *sep = "";

    if (!text || n == 0) {
        fprintf(stderr, "simd_bench: out of memory\n");
        return 1;
    }
    printf("[");
    for (int level = KSI_SIMD_SCALAR; level <= KSI_SIMD_AVX2; level++) {
        if ((int)ksi_simd_force((ksi_simd_level)level) != level)
            break;
        for (int entropy = 0; entropy <= 1; entropy++) {
            printf("%s\n  {\"kernel\": \"%s\", \"path\": \"%s\", "
                   "\"mbps\": %.0f}", sep,
                   entropy ? "entropy" : "newlines",
                   ksi_simd_name((ksi_simd_level)level),
                   time_kernel(entropy, text, n));
            sep = ",";
        }
    }
    printf("\n]\n");
    free(text);
    return 0;
}
