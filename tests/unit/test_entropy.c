/*
 * test_entropy.c - ks_entropy(): Shannon entropy in bits per byte.
 */
#include "unit.h"

#include <math.h>

/* Exact values are sums of a few logs; this leaves room for rounding. */
#define EPS 1e-9

static void empty_is_zero(void **state)
{
    (void)state;
    assert_true(ks_entropy("", 0) == 0.0);
    assert_true(ks_entropy(NULL, 0) == 0.0);
}

static void one_symbol_is_zero(void **state)
{
    (void)state;
    assert_true(ks_entropy("aaaa", 4) == 0.0);
    assert_true(ks_entropy("\0\0\0", 3) == 0.0);
}

static void two_even_symbols_is_one_bit(void **state)
{
    (void)state;
    assert_true(fabs(ks_entropy("ab", 2) - 1.0) < EPS);
    assert_true(fabs(ks_entropy("abba", 4) - 1.0) < EPS);
}

static void every_byte_value_is_eight_bits(void **state)
{
    unsigned char all[256];

    (void)state;
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    assert_true(fabs(ks_entropy(all, sizeof(all)) - 8.0) < EPS);
}

/*
 * "hello": h, e and o each have share 1/5 and l has 2/5, so
 * H = 3/5 log2 5 + 2/5 log2 (5/2) = log2 5 - 2/5.
 */
static void known_string(void **state)
{
    (void)state;
    assert_true(fabs(ks_entropy("hello", 5) - 1.9219280948873623) < EPS);
}

/* "aab": H = 2/3 log2 (3/2) + 1/3 log2 3 = log2 3 - 2/3. */
static void uneven_shares(void **state)
{
    (void)state;
    assert_true(fabs(ks_entropy("aab", 3) - 0.9182958340544896) < EPS);
}

/* Sixteen distinct symbols, equally common: 4 bits, whatever the order. */
static void order_does_not_matter(void **state)
{
    const char *a = "0123456789abcdef0123456789abcdef";
    const char *b = "fedcba9876543210f0e1d2c3b4a59687";

    (void)state;
    assert_true(fabs(ks_entropy(a, 32) - 4.0) < EPS);
    assert_true(fabs(ks_entropy(b, 32) - 4.0) < EPS);
}

/* Bytes past `len` must not count. */
static void reads_only_len_bytes(void **state)
{
    (void)state;
    assert_true(ks_entropy("aaaazzzz", 4) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_is_zero),
        cmocka_unit_test(one_symbol_is_zero),
        cmocka_unit_test(two_even_symbols_is_one_bit),
        cmocka_unit_test(every_byte_value_is_eight_bits),
        cmocka_unit_test(known_string),
        cmocka_unit_test(uneven_shares),
        cmocka_unit_test(order_does_not_matter),
        cmocka_unit_test(reads_only_len_bytes),
    };

    return cmocka_run_group_tests_name("entropy (ks_entropy)", tests, NULL,
                                       NULL);
}
