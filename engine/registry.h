/*
 * registry.h - a client of the OCI distribution API (the Docker registry
 * HTTP API v2), enough to read images: references, authentication,
 * manifests and small blobs in memory, layer blobs as streams, and the
 * catalog of a whole registry.
 *
 * Credentials come from the scan's options or the user's Docker config
 * file; they are sent only to the registry they belong to and its token
 * service, and never appear in any message this module writes.
 */
#ifndef KSI_REGISTRY_H
#define KSI_REGISTRY_H

#include "keysift.h"

#include <stddef.h>
#include <stdint.h>

/* A parsed image reference "HOST[:PORT]/REPO[:TAG|@DIGEST]". */
typedef struct ksi_remote_ref {
    char *host;         /* where the API is: "registry-1.docker.io",
                         * "127.0.0.1:5000" */
    char *name;         /* how references name it: "docker.io", ... */
    char *repo;         /* "library/alpine"; NULL: the whole registry */
    char *tag;          /* NULL when a digest is given or none */
    char *digest;       /* "sha256:...", or NULL */
} ksi_remote_ref;

/*
 * Parses an image reference. With `explicit` (the input said docker://),
 * anything that parses is a reference, Docker Hub short names included
 * ("alpine" is docker.io/library/alpine:latest). Without it only a name
 * whose first part is a registry host (it has a dot or a port, or is
 * "localhost") and that is followed by a repository counts, so that a
 * mistyped path never becomes a download. Returns 1 and fills *out, 0 if
 * `input` is not a reference, -1 if it is a malformed one (`why` says
 * how).
 */
int ksi_remote_parse(const char *input, int explicit, ksi_remote_ref *out,
                     char *why, size_t cap);
void ksi_remote_ref_clear(ksi_remote_ref *ref);

/* How to reach a registry. */
typedef struct ksi_remote_opts {
    const char *auth_file;      /* a Docker config.json, or NULL for the
                                 * default ($DOCKER_CONFIG/config.json or
                                 * ~/.docker/config.json) */
    const char *user;           /* credentials that override the file */
    const char *password;
    int plain_http;             /* http:// instead of https:// */
} ksi_remote_opts;

/* A connection to one registry, shared by the threads that read from it. */
typedef struct ksi_remote ksi_remote;

/* Returns NULL (with `why`) when out of memory or HTTP is unavailable. */
ksi_remote *ksi_remote_new(const char *host, const ksi_remote_opts *opts,
                           char *why, size_t cap);
void ksi_remote_free(ksi_remote *r);

/* The result of a request that failed; `why` then says more. */
typedef enum ksi_remote_err {
    KSI_REMOTE_OK = 0,
    KSI_REMOTE_NOT_FOUND,       /* 404: no such repository, tag or blob */
    KSI_REMOTE_AUTH,            /* credentials missing, wrong or refused */
    KSI_REMOTE_FAILED,          /* network, server or protocol error */
    KSI_REMOTE_TOO_BIG,         /* larger than the caller's limit */
    KSI_REMOTE_NOMEM,
} ksi_remote_err;

/*
 * GETs /v2/REPO/manifests/REF (manifest != 0) or /v2/REPO/blobs/REF into
 * memory, at most `limit` bytes, NUL-terminated. *digest, when not NULL,
 * gets the Docker-Content-Digest header (or NULL). Retries on 429, 5xx
 * and broken connections with backoff.
 */
ksi_remote_err ksi_remote_get(ksi_remote *r, const char *repo, int manifest,
                              const char *ref, size_t limit,
                              unsigned char **body, size_t *len,
                              char **digest, char *why, size_t cap);

/* Every repository of the registry (the catalog), or the tags of one. */
ksi_remote_err ksi_remote_catalog(ksi_remote *r, char ***repos, size_t *n,
                                  char *why, size_t cap);
ksi_remote_err ksi_remote_tags(ksi_remote *r, const char *repo,
                               char ***tags, size_t *n, char *why,
                               size_t cap);
void ksi_remote_strings_free(char **list, size_t n);

/*
 * Streams a blob: *fd is a descriptor that delivers its bytes as they
 * arrive, fed by a thread of its own (a broken connection is resumed with
 * a range request). Read it to the end, then close the stream, which says
 * whether every byte arrived.
 */
typedef struct ksi_remote_stream ksi_remote_stream;

ksi_remote_err ksi_remote_open_blob(ksi_remote *r, const char *repo,
                                    const char *digest,
                                    ksi_remote_stream **out, int *fd,
                                    char *why, size_t cap);
ksi_remote_err ksi_remote_close_blob(ksi_remote_stream *st, char *why,
                                     size_t cap);

#endif
