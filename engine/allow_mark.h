/*
 * allow_mark.h - the inline `keysift:allow` mark.
 *
 * A reviewer who has decided that a match is not a secret (a test key, a
 * documented example) writes `keysift:allow` in a comment on the line that
 * holds the start of the match, in whatever comment syntax the file uses.
 * The engine does not drop such a finding: it flags the location
 * KS_LOC_ALLOWED and lets the caller count it as suppressed.
 */
#ifndef KSI_ALLOW_MARK_H
#define KSI_ALLOW_MARK_H

#include <stddef.h>
#include <stdint.h>

/* The mark, byte for byte (lowercase, no spaces). */
#define KSI_ALLOW_MARK "keysift:allow"

/*
 * Is the mark on the line holding entry offset `start`? `data` holds `len`
 * bytes of the entry from entry offset `base`, and `line_start` is the
 * entry offset where that line begins (it may lie before `base` when
 * streaming). Only bytes in memory and within KSI_ALLOW_MARK_REACH of the
 * match (`start` to `end`) are looked at. Returns 1 or 0.
 */
int ksi_allow_marked(const unsigned char *data, uint64_t base, size_t len,
                     uint64_t line_start, uint64_t start, uint64_t end);

#endif
