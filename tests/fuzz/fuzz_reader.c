/*
 * fuzz_reader.c - the archive and layer stream reader on arbitrary bytes.
 *
 * Each input is scanned twice with the real reader: as a buffer in memory
 * (ks_scan_buffer, the path archive entries and nested archives take), and
 * as a file named as an input (ks_scan_run on a memory file, the path of
 * layer tarballs and files given on the command line, read by a worker
 * from its descriptor). Content decides what is read: tar, gzip, zstd, xz,
 * bzip2, lz4, zip, archives inside archives. A small block_max sends
 * entries over 4 KiB through the streaming path too.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static ks_scan *scan;
static ksf_counts counts;

static void setup(void)
{
    ks_scan_options opts;

    ksf_options(&opts, &counts);
    opts.block_max = 4096;
    if (ks_scan_new(ksf_rules(KSF_RULES_SMALL), &opts, &scan) != KS_OK)
        abort();
}

static void scan_as_file(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    char path[64];
    const char *inputs[1] = { path };
    size_t off = 0;

    if (fd < 0)
        abort();
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);

        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ks_scan_run(scan, inputs, 1);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scan)
        setup();
    ks_scan_buffer(scan, "input", data, size);
    scan_as_file(data, size);
    return 0;
}
