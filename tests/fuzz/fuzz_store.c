/*
 * fuzz_store.c - the registry store walker: a distribution/registry v2
 * storage tree built from the input, listed and scanned whole.
 *
 * The first byte chooses how the store is named; the rest is a bundle
 * (fuzz_common.h) of its files, such as
 *
 *     docker/registry/v2/repositories/app/_manifests/tags/1.0/current/link
 *     docker/registry/v2/blobs/sha256/ab/ab.../data
 *
 * so that repository names, nesting, tag links and their targets, and
 * links in the tree all come from the input. Bits of the first byte:
 *
 *     0x01  name it "registry-store:ROOT" (else the bare directory)
 *     0x02  ... with the repository "team/app"
 *     0x04  ... and, with a repository, the tag "1.0"
 *     0x08  keep only linux/arm64
 *     0x10  only list the images (ks_scan_list_images), read no layer
 */
#include "fuzz_common.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char root[600], input[700];
    unsigned flags;

    if (size < 1)
        return 0;
    flags = data[0];
    snprintf(root, sizeof(root), "%s/store", ksf_scratch());
    ksf_bundle_to_dir(root, data + 1, size - 1);
    if (flags & 0x01)
        snprintf(input, sizeof(input), "registry-store:%s%s%s", root,
                 flags & 0x02 ? "/team/app" : "",
                 (flags & 0x06) == 0x06 ? ":1.0" : "");
    else
        snprintf(input, sizeof(input), "%s", root);
    ksf_scan_input(input, flags & 0x08 ? "linux/arm64" : NULL,
                   flags & 0x10);
    ksf_remove(root);
    return 0;
}
