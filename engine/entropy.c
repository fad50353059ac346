/*
 * entropy.c - Shannon entropy of a byte string, the public entry point.
 *
 * The work is in simd.c: a histogram, then -sum(p log2 p) over the byte
 * values in use, found with vector compares where the CPU has them.
 */
#include "keysift.h"
#include "simd.h"

double ks_entropy(const void *data, size_t len)
{
    return ksi_entropy(data, len);
}
