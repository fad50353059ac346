/*
 * alloc.c - allocation wrappers with a failure-injection hook for tests.
 */
#include "alloc.h"

#include <hs/hs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Allocations left before injected failures start; negative = never. */
static _Atomic long fail_countdown = -1;

static int should_fail(void)
{
    long left = atomic_load(&fail_countdown);

    while (left >= 0) {
        if (left == 0)
            return 1;
        if (atomic_compare_exchange_weak(&fail_countdown, &left, left - 1))
            return 0;
    }
    return 0;
}

void ksi_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

void *ksi_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *ksi_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *ksi_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

void ksi_free(void *ptr)
{
    free(ptr);
}

char *ksi_strndup(const char *s, size_t len)
{
    char *copy = ksi_malloc(len + 1);

    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *ksi_strdup(const char *s)
{
    return ksi_strndup(s, strlen(s));
}

int ksi_grow(void *array, size_t *cap, size_t need, size_t size)
{
    void **slot = array;
    size_t new_cap = *cap ? *cap : 8;
    void *grown;

    if (need <= *cap)
        return 0;
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2 / size)
            return -1;
        new_cap *= 2;
    }
    grown = ksi_realloc(*slot, new_cap * size);
    if (!grown)
        return -1;
    *slot = grown;
    *cap = new_cap;
    return 0;
}

static void *hs_alloc(size_t size)
{
    return ksi_malloc(size);
}

static pthread_once_t hs_once = PTHREAD_ONCE_INIT;

static void install_once(void)
{
    hs_set_allocator(hs_alloc, ksi_free);
}

void ksi_alloc_install(void)
{
    pthread_once(&hs_once, install_once);
}
