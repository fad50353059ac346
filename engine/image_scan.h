/*
 * image_scan.h - scanning container images: each distinct layer once, the
 * config's fields, whiteouts, and findings reported for every image that
 * holds a layer.
 */
#ifndef KSI_IMAGE_SCAN_H
#define KSI_IMAGE_SCAN_H

#include "keysift.h"

struct ksi_layer;
struct ksi_layer_map;

/*
 * Keeps a finding made in a layer until the layer's images are reported.
 * Called with no lock held. Returns nonzero to stop (out of memory).
 */
int ksi_layer_keep(ks_scan *s, struct ksi_layer *layer, const ks_finding *f);

/*
 * Records a whiteout entry (".wh.NAME" or ".wh..wh..opq") at `path` in a
 * layer. Returns 0 (the entry needs no scanning).
 */
int ksi_layer_whiteout(ks_scan *s, struct ksi_layer *layer, const char *path);

/* Frees the layers a scan has seen. NULL is ok. */
void ksi_layer_map_free(struct ksi_layer_map *map);

/*
 * If `input` names a container image source — a reference such as
 * "oci:DIR[:TAG]", "docker-archive:FILE[:TAG]",
 * "registry-store:ROOT[/REPO[:TAG]]", or a bare path that is an OCI layout,
 * a registry store or a `docker save` archive — scans it and returns 1.
 * Returns 0, having done nothing, for anything else.
 */
int ksi_scan_image_input(ks_scan *s, const char *input);

#endif
