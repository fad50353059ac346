/*
 * entropy.c - Shannon entropy of a byte string.
 *
 * Secrets are short (tens to a few thousand bytes), so a histogram and one
 * log2 per distinct byte value is all this needs.
 */
#include "keysift.h"

#include <math.h>

double ks_entropy(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t counts[256] = { 0 };
    double bits = 0.0;

    if (len == 0)
        return 0.0;
    for (size_t i = 0; i < len; i++)
        counts[p[i]]++;
    for (int v = 0; v < 256; v++) {
        if (counts[v]) {
            double share = (double)counts[v] / (double)len;

            bits -= share * log2(share);
        }
    }
    return bits;
}
