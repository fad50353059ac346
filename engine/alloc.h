/*
 * alloc.h - the engine's one allocator.
 *
 * Every allocation in the engine, and every allocation Hyperscan and PCRE2
 * make for it, goes through these functions, so that tests can make the Nth
 * allocation fail and check that each failure is handled.
 */
#ifndef KSI_ALLOC_H
#define KSI_ALLOC_H

#include <stddef.h>

void *ksi_malloc(size_t size);
void *ksi_calloc(size_t count, size_t size);
void *ksi_realloc(void *ptr, size_t size);
void ksi_free(void *ptr);
char *ksi_strdup(const char *s);
char *ksi_strndup(const char *s, size_t len);

/*
 * Grows *array (of *cap elements of `size` bytes) so it holds at least
 * `need` elements. Returns 0, or -1 with *array untouched on failure.
 */
int ksi_grow(void *array, size_t *cap, size_t need, size_t size);

/*
 * Test hook: after `n` more successful allocations, every allocation fails
 * until this is called again with a negative n (which disables the hook).
 */
void ksi_alloc_fail_after(long n);

/* Hands the allocator to Hyperscan. Idempotent and thread-safe. */
void ksi_alloc_install(void);

#endif
