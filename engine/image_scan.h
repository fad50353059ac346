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

/*
 * A layer's pending count: the reader holds one while it streams the
 * layer, and each queued entry of the layer one more. The last release
 * completes the layer (and stores it in the results cache).
 */
void ksi_layer_hold(struct ksi_layer *layer);
void ksi_layer_release(ks_scan *s, struct ksi_layer *layer);

/* Marks a layer whose reading met an error: its results are not cached. */
void ksi_layer_failed(struct ksi_layer *layer);

/* Is `key` (a digest or an input name) in this scan's shard? */
int ksi_in_shard(const ks_scan *s, const char *key);

/*
 * Records mode (s->opts.on_record set): the header record of a run, its
 * summary, and the records of a finding outside images and of a
 * diagnostic. ksi_record_finding returns nonzero to stop.
 */
void ksi_records_begin(ks_scan *s, const char *const *inputs, size_t n);
void ksi_records_end(ks_scan *s);
int ksi_record_finding(ks_scan *s, const ks_finding *f);
void ksi_record_diag(ks_scan *s, const ks_diag *d);

/*
 * For merge.c: the unit of a kind and digest, made when new (*fresh then
 * set), or NULL when out of memory; and the reporting of one image's
 * findings from the units the run holds.
 */
struct ksi_layer *ksi_unit_for(ks_scan *s, int kind, const char *digest,
                               int *fresh);
struct ksi_image;
void ksi_report_image(ks_scan *s, const struct ksi_image *img);

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
