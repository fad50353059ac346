/*
 * image.h - container image sources: from an OCI image layout, a
 * `docker save` archive or a registry's filesystem storage to a list of
 * images, each with its config bytes and its layers in order.
 *
 * Nothing is scanned here. The list says where each layer's bytes are (a
 * file, or a member of the archive the caller named) and which digest they
 * must have, so that the scan can read each distinct layer once.
 *
 * Three formats of image description are understood: OCI image indexes and
 * manifests, Docker's v2 schema 2 manifest lists and manifests, and the
 * manifest.json of `docker save` (the classic form with `<id>/layer.tar`
 * members, and the newer one that embeds an OCI layout). Indexes are
 * followed down to their image manifests, nested ones too; attestation
 * manifests that build tools put beside the images are left out silently.
 *
 * Problems with the input never stop the listing: each one is reported
 * through the diagnostic callback, naming the file or image reference and
 * what was wrong, and the other images are still listed. An image whose
 * manifest or config cannot be read is left out; a layer whose blob is
 * missing keeps its place in the list (so that layer indexes stay those of
 * the manifest) with neither `blob_path` nor `member` set.
 *
 * Not thread-safe on one list; separate lists may be built concurrently.
 */
#ifndef KSI_IMAGE_H
#define KSI_IMAGE_H

#include "keysift.h"

#include <stddef.h>
#include <stdint.h>

/* One layer of an image, in manifest order (base layer first). */
typedef struct ksi_layer_ref {
    char *digest;       /* "sha256:<hex>" the stored bytes must hash to, or
                         * NULL when the source does not say */
    char *media_type;   /* as the manifest gives it; NULL when unknown
                         * (classic `docker save` names no media types) */
    uint64_t size;      /* from the manifest or the archive, 0 if unknown */
    char *blob_path;    /* the file holding the blob (OCI layout, registry
                         * store), or NULL */
    char *member;       /* the archive member holding it (`docker save`),
                         * links already resolved, or NULL */
    int present;        /* stored elsewhere: set for images rebuilt from
                         * records, whose blobs another process read */
    int remote;         /* to be fetched from the image's registry */
} ksi_layer_ref;

/* One image: a manifest for one platform, its config and its layers. */
typedef struct ksi_image {
    /*
     * How findings name the image: "oci:DIR:TAG", "oci-archive:FILE:TAG",
     * "docker-archive:FILE:REPO:TAG", "registry-store:ROOT/REPO:TAG", or
     * with "@sha256:<hex>" in place of ":TAG" when the image has no tag.
     * The images of one multi-platform index share a reference and differ
     * by `platform`.
     */
    char *reference;
    /* "sha256:<hex>" of the manifest; for a `docker save` image that has
     * no OCI manifest in its archive, the config's digest (Docker's image
     * ID). */
    char *manifest_digest;
    char *platform;         /* "os/arch" or "os/arch/variant", or NULL */
    char *config_digest;    /* "sha256:<hex>" */
    unsigned char *config;  /* the config JSON exactly as stored */
    size_t config_len;
    ksi_layer_ref *layers;
    size_t n_layers;
    /* Images listed from a registry: where their layers are fetched. */
    struct ksi_remote *remote;      /* borrowed from the lister's caller */
    char *repository;
} ksi_image;

/* A growing list of images; start it zeroed. Owns everything in it. */
typedef struct ksi_image_list {
    ksi_image *items;
    size_t count;
    size_t cap;
} ksi_image_list;

/*
 * Receives each problem met while listing images. `where` is the file or
 * the image reference concerned; `message` says what was wrong. Both are
 * valid only during the call.
 */
typedef void (*ksi_image_diag_fn)(void *ctx, ks_diag_level level,
                                  ks_status status, const char *where,
                                  const char *message);

typedef enum ksi_image_kind {
    KSI_IMAGE_NONE = 0,         /* not an image source */
    KSI_IMAGE_OCI_DIR,          /* an OCI image layout directory */
    KSI_IMAGE_REGISTRY_STORE,   /* a distribution/registry v2 store */
    KSI_IMAGE_DOCKER_ARCHIVE,   /* a tar with a top-level manifest.json */
    KSI_IMAGE_OCI_ARCHIVE,      /* a tar of an OCI layout, no manifest.json */
    KSI_IMAGE_REMOTE,           /* a registry over HTTP (never detected from
                                 * a path; named by a reference) */
} ksi_image_kind;

/*
 * What `path` is. A directory is an OCI layout when it holds `oci-layout`
 * (or `index.json` and `blobs/`), and a registry store when it, its `v2/`
 * or its `docker/registry/v2/` holds both `repositories/` and `blobs/`.
 * A file is read as a tar archive (plain or compressed) and judged by its
 * member names, never by its own name; reading stops at the first member
 * that no image archive would hold, so an ordinary tarball costs little.
 * Returns KSI_IMAGE_NONE for anything else, including unreadable paths.
 */
ksi_image_kind ksi_image_detect(const char *path);

/*
 * The listing calls. Each appends the images it finds to `out`.
 *
 * `tag`, when not NULL, keeps only the images it names: a tag as written in
 * the source ("1.0" or whatever an OCI layout's ref.name annotation says,
 * "repo:tag" in a `docker save` archive, "tag" in a registry store) or a
 * manifest digest "sha256:<hex>". Naming nothing is an error diagnostic.
 *
 * `platform`, when not NULL, is "os/arch" or "os/arch/variant" and keeps
 * only the images for that platform; a variant missing on either side
 * matches any. An image whose platform neither its index entry nor its
 * config states is kept. NULL keeps every platform.
 *
 * Diagnostics go to diag(ctx, ...); `diag` may be NULL. Returns KS_OK
 * whatever was wrong with the input; KS_ERR_ARG for a NULL path or list, a
 * malformed `platform` or (registry stores) a `repo` that is not a
 * repository name, the last two also reported; or KS_ERR_NOMEM, in which
 * case `out` holds what was listed before memory ran out.
 */

/* An OCI image layout directory; images are the entries of index.json. */
ks_status ksi_images_oci(const char *dir, const char *tag,
                         const char *platform, ksi_image_list *out,
                         ksi_image_diag_fn diag, void *ctx);

/*
 * A `docker save` archive, or a tar of an OCI layout. The archive is read
 * once here (the JSON members are kept in memory, layers are only noted);
 * layers are then named by member, to be read from the same file.
 */
ks_status ksi_images_docker_archive(const char *file, const char *tag,
                                    const char *platform,
                                    ksi_image_list *out,
                                    ksi_image_diag_fn diag, void *ctx);

/*
 * A registry store. `root` is the directory holding docker/registry/v2,
 * or the v2 directory itself. `repo` (e.g. "library/nginx") limits the
 * listing to one repository; NULL lists every repository and every tag.
 */
ks_status ksi_images_registry_store(const char *root, const char *repo,
                                    const char *tag, const char *platform,
                                    ksi_image_list *out,
                                    ksi_image_diag_fn diag, void *ctx);

/*
 * A registry over HTTP, through `remote` (registry.h), which the listed
 * images keep a pointer to for reading their layers: it must outlive the
 * list. `name` is how references name the registry ("docker.io",
 * "127.0.0.1:5000"). With `repo` NULL every repository of the catalog is
 * listed; with `tag` and `digest` NULL every tag of `repo`.
 */
struct ksi_remote;
ks_status ksi_images_remote(struct ksi_remote *remote, const char *name,
                            const char *repo, const char *tag,
                            const char *digest, const char *platform,
                            ksi_image_list *out, ksi_image_diag_fn diag,
                            void *ctx);

/* Frees every image in the list and zeroes it. NULL is ok. */
void ksi_image_list_free(ksi_image_list *list);

#endif
