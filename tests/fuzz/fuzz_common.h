/*
 * fuzz_common.h - what keysift's fuzz targets share: compiled rule sets,
 * scan callbacks that only count (but read every byte they are handed, so
 * the sanitizers see a dangling pointer), a scratch directory removed at
 * exit, and "bundles": a text form of a few files that a target turns into
 * a directory tree or a tar archive.
 *
 * A bundle is records separated by a line "%%". A record's first line is
 * its header, the rest its contents:
 *
 *     PATH            a regular file holding the contents
 *     PATH -> TARGET  a symbolic link
 *     PATH => TARGET  a hard link (a symbolic link when written to disk)
 *
 * On disk, paths are laid out below the directory named and never leave
 * it: "..", absolute paths and links through symbolic links are refused,
 * and link targets must be relative and free of "..". In a tar, paths and
 * targets are written as given, since the engine must cope with any.
 */
#ifndef KSF_COMMON_H
#define KSF_COMMON_H

#include "keysift.h"

#include <stddef.h>
#include <stdint.h>

/* Which rules a target compiles once per process. */
typedef enum ksf_rules_kind {
    KSF_RULES_SMALL,    /* a handful: a token, a validated key, a path
                         * filter and a path rule */
    KSF_RULES_DEFAULT,  /* the built-in rule set */
} ksf_rules_kind;

/* The compiled rule set of that kind; aborts if it cannot be built, since
 * a target without rules would test nothing. */
const ks_ruleset *ksf_rules(ksf_rules_kind kind);

/* What the counting callbacks saw. `checksum` sums the bytes handed over,
 * so that nothing they read can be optimised away. */
typedef struct ksf_counts {
    size_t findings;
    size_t diags;
    size_t images;
    unsigned long checksum;
} ksf_counts;

/* Options for a one-worker scan whose callbacks count into *counts. */
void ksf_options(ks_scan_options *opts, ksf_counts *counts);

/*
 * Scans one input with the small rules on a fresh one-worker scan, as the
 * command would, keeping only platform `platform` (or every one, NULL);
 * with `list_only`, lists its images (ks_scan_list_images) instead.
 */
void ksf_scan_input(const char *input, const char *platform, int list_only);

/* A directory of this process's own under $TMPDIR (else /dev/shm, else
 * /tmp), made on first use and removed, with everything in it, when the
 * process exits. */
const char *ksf_scratch(void);

/* Removes a file or a tree, never following symbolic links. */
void ksf_remove(const char *path);

/* Lays a bundle out below `dir` (created). Returns the records written. */
size_t ksf_bundle_to_dir(const char *dir, const uint8_t *data, size_t size);

/* Writes a bundle as a tar (pax) archive, gzip-compressed when `gzip`.
 * Returns the records written, or -1 when the archive cannot be made. */
long ksf_bundle_to_tar(const char *file, const uint8_t *data, size_t size,
                       int gzip);

#endif
