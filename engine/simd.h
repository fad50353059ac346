/*
 * simd.h - the byte kernels of the hot path, in AVX2, SSE4.2 and portable
 * scalar versions, the best one the CPU supports chosen at run time.
 *
 * Each kernel gives the same result on every path; the scalar path is the
 * reference and the tests compare the others with it.
 */
#ifndef KSI_SIMD_H
#define KSI_SIMD_H

#include <stddef.h>
#include <stdint.h>

typedef enum ksi_simd_level {
    KSI_SIMD_SCALAR = 0,
    KSI_SIMD_SSE42 = 1,
    KSI_SIMD_AVX2 = 2,
} ksi_simd_level;

/* The best level this CPU runs. */
ksi_simd_level ksi_simd_detect(void);

/* The level the kernels use now (the detected one unless forced). */
ksi_simd_level ksi_simd_active(void);

/*
 * Makes the kernels use `level`, or the best the CPU has if that is
 * lower; returns the level now in use. For tests and benchmarks: not to be
 * called while a scan runs.
 */
ksi_simd_level ksi_simd_force(ksi_simd_level level);

/* "scalar", "sse4.2", "avx2". */
const char *ksi_simd_name(ksi_simd_level level);

/*
 * Counts the '\n' bytes in p[0..n). *after_last gets the offset just past
 * the last one (0 when there is none). Line numbers come from this.
 */
size_t ksi_count_newlines(const unsigned char *p, size_t n,
                          size_t *after_last);

/* Shannon entropy of p[0..n) in bits per byte; 0 when n is 0. */
double ksi_entropy(const unsigned char *p, size_t n);

#endif
