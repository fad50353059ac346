/*
 * allow_mark.c - finding the `keysift:allow` mark on a finding's line.
 *
 * Only the line's bytes near the match are searched, so a file that is one
 * huge line (minified code, a data dump) with many findings costs a few KiB
 * per finding, not the whole line each time.
 */
#include "allow_mark.h"

#include "input_limits.h"

#include <string.h>

/* Where the line holding `start` ends: the next newline, or `limit`. */
static uint64_t line_end(const unsigned char *data, uint64_t base,
                         uint64_t from, uint64_t limit)
{
    const unsigned char *p = data + (from - base);
    const unsigned char *nl;

    if (from >= limit)
        return limit;
    nl = memchr(p, '\n', (size_t)(limit - from));
    return nl ? base + (uint64_t)(nl - data) : limit;
}

/* Does data[0..n) hold the mark? (memmem is not in C11 or POSIX.) */
static int holds_mark(const unsigned char *data, size_t n)
{
    const size_t mark_len = sizeof(KSI_ALLOW_MARK) - 1;
    const unsigned char *p = data;
    const unsigned char *stop = data + n;

    while ((size_t)(stop - p) >= mark_len) {
        p = memchr(p, KSI_ALLOW_MARK[0], (size_t)(stop - p) - mark_len + 1);
        if (!p)
            return 0;
        if (memcmp(p, KSI_ALLOW_MARK, mark_len) == 0)
            return 1;
        p++;
    }
    return 0;
}

int ksi_allow_marked(const unsigned char *data, uint64_t base, size_t len,
                     uint64_t line_start, uint64_t start, uint64_t end)
{
    uint64_t avail = base + len;
    uint64_t from = line_start > base ? line_start : base;
    uint64_t limit = end + KSI_ALLOW_MARK_REACH;
    uint64_t to;

    if (start >= avail || start < base)
        return 0;
    if (start - from > KSI_ALLOW_MARK_REACH)
        from = start - KSI_ALLOW_MARK_REACH;
    if (limit > avail)
        limit = avail;
    to = line_end(data, base, start, limit);
    return holds_mark(data + (from - base), (size_t)(to - from));
}
