/*
 * fuzz_image.c - image manifests, indexes and configs (engine/image.c and
 * the config fields image_scan.c reads), through a whole image scan.
 *
 * The first byte chooses the form, the rest is a bundle (fuzz_common.h)
 * of the image's files: an OCI layout directory (oci-layout, index.json,
 * blobs/sha256/<hex>), or a tar of one — a `docker save` archive when it
 * holds manifest.json. Bits of the first byte:
 *
 *     0x01  write a tar (else a directory)
 *     0x02  gzip the tar
 *     0x04  keep only linux/amd64
 *     0x08  with 0x10: ask for the tag "latest" ("team/app:latest" in a
 *           `docker save` archive)
 *     0x10  name the kind ("oci:", "docker-archive:") instead of letting
 *           the content decide
 *
 * Blobs are found by the name a descriptor gives; a blob whose bytes hash
 * to something else is a warning and still read, so the fuzzer need not
 * compute digests to get past a descriptor.
 */
#include "fuzz_common.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600], input[640];
    unsigned flags;

    if (size < 1)
        return 0;
    flags = data[0];
    snprintf(path, sizeof(path), "%s/%s", ksf_scratch(),
             flags & 0x01 ? "image.tar" : "image");
    if (flags & 0x01) {
        if (ksf_bundle_to_tar(path, data + 1, size - 1, flags & 0x02) < 0)
            goto done;
    } else {
        ksf_bundle_to_dir(path, data + 1, size - 1);
    }
    if (!(flags & 0x10))
        snprintf(input, sizeof(input), "%s", path);
    else
        snprintf(input, sizeof(input), "%s%s%s",
                 flags & 0x01 ? "docker-archive:" : "oci:", path,
                 !(flags & 0x08)  ? ""
                 : flags & 0x01 ? ":team/app:latest"
                                : ":latest");
    ksf_scan_input(input, flags & 0x04 ? "linux/amd64" : NULL, 0);

done:
    ksf_remove(path);
    return 0;
}
