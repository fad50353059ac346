/*
 * sha256.h - SHA-256 (FIPS 180-4), used for fingerprints and rule hashes.
 */
#ifndef KSI_SHA256_H
#define KSI_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ksi_sha256 {
    uint32_t state[8];
    uint64_t total;         /* bytes hashed so far */
    unsigned char block[64];
    size_t used;            /* bytes waiting in block */
} ksi_sha256;

void ksi_sha256_init(ksi_sha256 *ctx);
void ksi_sha256_update(ksi_sha256 *ctx, const void *data, size_t len);
void ksi_sha256_final(ksi_sha256 *ctx, unsigned char digest[32]);

/*
 * Chooses the compression function again: the portable one when
 * `portable`, else the fastest the CPU has. Returns 1 when that is not the
 * portable one. For tests, which check both give the same digests; not
 * thread-safe against hashing in progress.
 */
int ksi_sha256_accelerated(int portable);

/* Writes the first `nbytes` bytes of a digest as lowercase hex plus NUL. */
void ksi_hex(const unsigned char *bytes, size_t nbytes, char *out);

#endif
