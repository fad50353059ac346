/*
 * limit_args.c - the options of `keysift scan` that set limits on hostile
 * input (docs/security.md lists them): sizes with K, M, G or T suffixes,
 * counts, seconds, and 0 for "no limit" where that makes sense.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A size: digits, then optionally K, M, G or T (powers of 1024). */
static int parse_size(const char *arg, uint64_t *out)
{
    static const char units[] = "KMGT";
    char *end = NULL;
    unsigned long long n;
    int shift = 0;

    if (*arg < '0' || *arg > '9')
        return -1;
    errno = 0;
    n = strtoull(arg, &end, 10);
    if (errno)
        return -1;
    if (*end && strchr(units, toupper((unsigned char)*end))) {
        shift = 10 * (int)(strchr(units, toupper((unsigned char)*end)) -
                           units + 1);
        end++;
    }
    if (*end || (shift && n > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)n << shift;
    return 0;
}

/* A whole number from 0 to max. */
static int parse_count(const char *arg, unsigned long max, unsigned *out)
{
    char *end = NULL;
    unsigned long n;

    if (*arg < '0' || *arg > '9')
        return -1;
    errno = 0;
    n = strtoul(arg, &end, 10);
    if (errno || *end || n > max)
        return -1;
    *out = (unsigned)n;
    return 0;
}

int limit_arg(ks_scan_options *o, const char *name, const char *arg)
{
    uint64_t size;
    int bad = 0;

    if (strcmp(name, "max-bytes") == 0) {
        bad = parse_size(arg, &o->max_unpacked);
    } else if (strcmp(name, "max-total-bytes") == 0) {
        bad = parse_size(arg, &o->max_total_unpacked);
    } else if (strcmp(name, "block-max") == 0) {
        bad = parse_size(arg, &size) || size == 0 || size > UINT32_MAX;
        if (!bad)
            o->block_max = (size_t)size;
    } else if (strcmp(name, "max-ratio") == 0) {
        bad = parse_count(arg, UINT32_MAX, &o->max_ratio);
    } else if (strcmp(name, "max-entries") == 0) {
        bad = parse_count(arg, UINT32_MAX, &o->max_entries);
    } else if (strcmp(name, "max-time") == 0) {
        bad = parse_count(arg, 365ul * 24 * 3600, &o->max_seconds);
    } else if (strcmp(name, "max-path") == 0) {
        bad = parse_count(arg, 4096, &o->max_path) || o->max_path == 0;
    } else {
        bad = 1;
    }
    if (!bad)
        return 0;
    if (strcmp(name, "block-max") == 0)
        cli_error("--block-max wants a size from 1 to 4G-1, such as 8M, "
                  "not '%s'", arg);
    else if (strcmp(name, "max-path") == 0)
        cli_error("--max-path wants a number of bytes from 1 to 4096, not "
                  "'%s'", arg);
    else if (strstr(name, "bytes"))
        cli_error("--%s wants a size such as 64G, 500M or 0 (no limit), "
                  "not '%s'", name, arg);
    else
        cli_error("--%s wants a whole number, or 0 for no limit, not '%s'",
                  name, arg);
    return -1;
}
