/*
 * validate.h - structure checks on a secret (checksums, encodings), named
 * from rules with `validate:`, and the noise filters every rule shares.
 */
#ifndef KSI_VALIDATE_H
#define KSI_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

/* Returns nonzero if the secret passes the check. */
typedef int (*ksi_validator_fn)(const unsigned char *s, size_t len);

/* The validator called `name`, or NULL if there is none. */
ksi_validator_fn ksi_validator_find(const char *name);

/* The names of all validators, comma-separated, for error messages. */
const char *ksi_validator_names(void);

/*
 * Decodes base64 (url: the URL-safe alphabet), skipping whitespace and
 * accepting missing padding. Writes at most `cap` bytes to `out` (which may
 * be NULL to only check). Returns the decoded length, or -1 if invalid.
 */
long ksi_base64_decode(const unsigned char *in, size_t len, int url,
                       unsigned char *out, size_t cap);

/* CRC-32 (IEEE 802.3, as zlib computes it). */
uint32_t ksi_crc32(const unsigned char *data, size_t len);

/*
 * Noise: returns nonzero if the secret is a well-known documentation
 * example, a template or environment reference, or an obvious placeholder;
 * with `generic`, also if it is shaped like a hash, a UUID or a git object
 * id, which generic assignment rules otherwise catch by the thousand.
 */
int ksi_is_noise(const unsigned char *s, size_t len, int generic);

/*
 * For generic rules: returns nonzero if the name a value is assigned to,
 * read back from `at` (the start of the rule's match, where its keyword
 * begins) to at most 64 bytes of identifier before it in data[0..at),
 * names a value that is not a credential: a pagination cursor
 * (NextToken, nextPageToken, ContinuationToken), an idempotency or
 * change token, a CSRF token.
 */
int ksi_is_benign_name(const unsigned char *data, size_t at);

#endif
