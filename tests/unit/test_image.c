/*
 * test_image.c - listing images from OCI layouts, registry stores and
 * `docker save` archives built on disk by the tests, with real sha256 blob
 * names: what is listed, how it is named, and the diagnostic each broken
 * source earns while the rest of the source is still listed.
 */
#include "image_fixture.h"

#include "alloc.h"
#include "image.h"

/* ---- diagnostics -------------------------------------------------------- */

typedef struct diag_rec {
    ks_diag_level level;
    ks_status status;
    char *where;
    char *message;
} diag_rec;

typedef struct diags {
    diag_rec *items;
    size_t n;
    size_t cap;
} diags;

static void on_diag(void *ctx, ks_diag_level level, ks_status status,
                    const char *where, const char *message)
{
    diags *d = ctx;
    diag_rec *r;

    unit_reserve(&d->items, &d->cap, d->n, sizeof(*d->items));
    r = &d->items[d->n++];
    r->level = level;
    r->status = status;
    r->where = unit_xstrdup(where);
    r->message = unit_xstrdup(message);
}

static void diags_free(diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].where);
        free(d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof(*d));
}

/* The diagnostic with this status whose text mentions `needle`. */
static const diag_rec *find_diag(const diags *d, ks_status status,
                                 const char *needle)
{
    for (size_t i = 0; i < d->n; i++) {
        const diag_rec *r = &d->items[i];

        if (r->status == status && (strstr(r->message, needle) ||
                                    strstr(r->where, needle)))
            return r;
    }
    return NULL;
}

/* ---- files and blobs ---------------------------------------------------- */

static void config_json(char *out, size_t cap, const char *os,
                        const char *arch, const char *variant,
                        const char *env)
{
    char plat[128] = "";

    if (os)
        snprintf(plat, sizeof(plat),
                 "\"os\":\"%s\",\"architecture\":\"%s\",%s%s%s", os, arch,
                 variant ? "\"variant\":\"" : "", variant ? variant : "",
                 variant ? "\"," : "");
    snprintf(out, cap,
             "{%s\"config\":{\"Env\":[\"%s\"]},"
             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
             plat, env);
}

/* An image written into a store: its manifest, config and layers. */
typedef struct built {
    char manifest[72];
    size_t manifest_len;
    char config[72];
    char layer[2][72];
} built;

/*
 * Writes a two-layer image: a layer shared by every image with the same
 * `base` text, and one of its own. The config names the platform when
 * `os` is given.
 */
static void build_image(store kind, const char *root, const char *base,
                        const char *own, const char *os, const char *arch,
                        const char *variant, built *b)
{
    char config[1024], manifest[BIG];

    config_json(config, sizeof(config), os, arch, variant, own);
    put_blob(kind, root, config, b->config);
    put_blob(kind, root, base, b->layer[0]);
    put_blob(kind, root, own, b->layer[1]);
    snprintf(manifest, sizeof(manifest),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\","
             "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
             "\"size\":%zu},\"layers\":["
             "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
             "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
             kind == REGISTRY ? DOCKER_MANIFEST : OCI_MANIFEST,
             kind == REGISTRY ? DOCKER_CONFIG : OCI_CONFIG, b->config,
             strlen(config), kind == REGISTRY ? DOCKER_LAYER : OCI_LAYER_GZIP,
             b->layer[0], strlen(base),
             kind == REGISTRY ? DOCKER_LAYER : OCI_LAYER_GZIP, b->layer[1],
             strlen(own));
    put_blob(kind, root, manifest, b->manifest);
    b->manifest_len = strlen(manifest);
}

/* ---- lookups in a list -------------------------------------------------- */

static const ksi_image *find_image(const ksi_image_list *l, const char *ref,
                                   const char *platform)
{
    for (size_t i = 0; i < l->count; i++) {
        const ksi_image *img = &l->items[i];

        if (strcmp(img->reference, ref) != 0)
            continue;
        if (!platform ? !img->platform
                      : img->platform && !strcmp(img->platform, platform))
            return img;
    }
    return NULL;
}

static void assert_layer_file(const ksi_layer_ref *l, const char *digest)
{
    struct stat sb;

    assert_non_null(l->digest);
    assert_string_equal(l->digest, digest);
    assert_non_null(l->blob_path);
    assert_null(l->member);
    assert_int_equal(stat(l->blob_path, &sb), 0);
    assert_true(strstr(l->blob_path, digest + 7) != NULL);
}

/* ---- an OCI layout with an index of two platforms, tags, and extras ----- */

typedef struct oci_fixture {
    char dir[64];
    built amd64, arm64, base, untagged;
    char nested[72];
} oci_fixture;

static const char ATTESTATION[] =
    "{\"mediaType\":\"" OCI_MANIFEST "\",\"digest\":\"sha256:"
    "0000000000000000000000000000000000000000000000000000000000000000\","
    "\"size\":500,\"platform\":{\"os\":\"unknown\",\"architecture\":"
    "\"unknown\"},\"annotations\":{\"vnd.docker.reference.type\":"
    "\"attestation-manifest\"}}";

static void make_oci(oci_fixture *f)
{
    char e1[512], e2[512], nested[BIG], entries[BIG];
    char e3[512], e4[512], e5[512];

    unit_tempdir(f->dir);
    build_image(OCI, f->dir, "base layer", "amd64 layer", "linux", "amd64",
                NULL, &f->amd64);
    build_image(OCI, f->dir, "base layer", "arm64 layer", "linux", "arm64",
                "v8", &f->arm64);
    build_image(OCI, f->dir, "base layer", "base only", "linux", "amd64",
                NULL, &f->base);
    build_image(OCI, f->dir, "base layer", "untagged", NULL, NULL, NULL,
                &f->untagged);

    /* A multi-platform index whose attestation points at nothing: it must
     * be skipped without a word. */
    entry_json(e1, sizeof(e1), OCI_MANIFEST, f->amd64.manifest,
               f->amd64.manifest_len,
               "{\"os\":\"linux\",\"architecture\":\"amd64\"}", NULL);
    entry_json(e2, sizeof(e2), OCI_MANIFEST, f->arm64.manifest,
               f->arm64.manifest_len,
               "{\"os\":\"linux\",\"architecture\":\"arm64\","
               "\"variant\":\"v8\"}", NULL);
    snprintf(nested, sizeof(nested),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\","
             "\"manifests\":[%s,%s,%s]}", OCI_INDEX, e1, e2, ATTESTATION);
    put_blob(OCI, f->dir, nested, f->nested);

    entry_json(e3, sizeof(e3), OCI_INDEX, f->nested, strlen(nested), NULL,
               "1.0");
    entry_json(e4, sizeof(e4), OCI_MANIFEST, f->base.manifest,
               f->base.manifest_len, NULL, "base");
    entry_json(e5, sizeof(e5), OCI_MANIFEST, f->untagged.manifest,
               f->untagged.manifest_len, NULL, NULL);
    snprintf(entries, sizeof(entries), "%s,%s,%s", e3, e4, e5);
    write_index(f->dir, entries);
}

static void oci_index_of_two_platforms(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    oci_fixture f;
    char ref[256];
    const ksi_image *img;

    (void)state;
    make_oci(&f);
    assert_int_equal(ksi_image_detect(f.dir), KSI_IMAGE_OCI_DIR);
    assert_int_equal(ksi_images_oci(f.dir, NULL, NULL, &list, on_diag, &d),
                     KS_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(list.count, 4);

    snprintf(ref, sizeof(ref), "oci:%s:1.0", f.dir);
    img = find_image(&list, ref, "linux/amd64");
    assert_non_null(img);
    assert_string_equal(img->manifest_digest, f.amd64.manifest);
    assert_string_equal(img->config_digest, f.amd64.config);
    assert_non_null(strstr((const char *)img->config, "amd64 layer"));
    assert_int_equal(img->n_layers, 2);
    assert_layer_file(&img->layers[0], f.amd64.layer[0]);
    assert_layer_file(&img->layers[1], f.amd64.layer[1]);
    assert_string_equal(img->layers[1].media_type, OCI_LAYER_GZIP);
    assert_int_equal(img->layers[1].size, strlen("amd64 layer"));

    img = find_image(&list, ref, "linux/arm64/v8");
    assert_non_null(img);
    assert_string_equal(img->manifest_digest, f.arm64.manifest);
    assert_layer_file(&img->layers[0], f.amd64.layer[0]);

    /* No platform in index.json: the config says it. */
    snprintf(ref, sizeof(ref), "oci:%s:base", f.dir);
    img = find_image(&list, ref, "linux/amd64");
    assert_non_null(img);
    assert_string_equal(img->manifest_digest, f.base.manifest);

    snprintf(ref, sizeof(ref), "oci:%s@%s", f.dir, f.untagged.manifest);
    assert_non_null(find_image(&list, ref, NULL));

    ksi_image_list_free(&list);
    assert_int_equal(list.count, 0);
    diags_free(&d);
    unit_rmtree(f.dir);
}

static void oci_platform_and_tag_filters(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    oci_fixture f;
    char ref[256];

    (void)state;
    make_oci(&f);

    /* "linux/arm64" matches every arm64 variant; an image whose platform
     * nothing states is kept. */
    assert_int_equal(ksi_images_oci(f.dir, NULL, "linux/arm64", &list,
                                    on_diag, &d), KS_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(list.count, 2);
    snprintf(ref, sizeof(ref), "oci:%s:1.0", f.dir);
    assert_non_null(find_image(&list, ref, "linux/arm64/v8"));
    snprintf(ref, sizeof(ref), "oci:%s@%s", f.dir, f.untagged.manifest);
    assert_non_null(find_image(&list, ref, NULL));
    ksi_image_list_free(&list);

    assert_int_equal(ksi_images_oci(f.dir, NULL, "linux/arm64/v7", &list,
                                    on_diag, &d), KS_OK);
    assert_int_equal(list.count, 1);
    ksi_image_list_free(&list);

    assert_int_equal(ksi_images_oci(f.dir, "base", NULL, &list, on_diag,
                                    &d), KS_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].manifest_digest, f.base.manifest);
    ksi_image_list_free(&list);

    /* A tag that names nothing is an error, not silence. */
    assert_int_equal(ksi_images_oci(f.dir, "2.0", NULL, &list, on_diag, &d),
                     KS_OK);
    assert_int_equal(list.count, 0);
    assert_non_null(find_diag(&d, KS_ERR_NOT_FOUND, "2.0"));
    assert_int_equal(d.items[0].level, KS_DIAG_ERROR);

    diags_free(&d);
    unit_rmtree(f.dir);
}

/* ---- broken OCI layouts ------------------------------------------------- */

static void oci_index_not_json(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    oci_fixture good;
    char bad[64], path[128];
    const diag_rec *r;

    (void)state;
    unit_tempdir(bad);
    write_index(bad, "");
    snprintf(path, sizeof(path), "%s/index.json", bad);
    write_text(path, "{\"schemaVersion\": 2, \"manifests\": [");
    make_oci(&good);

    assert_int_equal(ksi_images_oci(bad, NULL, NULL, &list, on_diag, &d),
                     KS_OK);
    assert_int_equal(ksi_images_oci(good.dir, NULL, NULL, &list, on_diag,
                                    &d), KS_OK);
    assert_int_equal(d.n, 1);
    r = find_diag(&d, KS_ERR_ARCHIVE, "not valid JSON");
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_ERROR);
    assert_string_equal(r->where, path);
    assert_int_equal(list.count, 4);

    ksi_image_list_free(&list);
    diags_free(&d);
    unit_rmtree(bad);
    unit_rmtree(good.dir);
}

static void oci_broken_entries(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    char dir[64], entries[BIG], e[5][512], path[1024], hex[65];
    char junk[72], odd[72], v1[72];
    built good, mismatch, no_config, no_layer;
    const diag_rec *r;
    char ref[160];
    const ksi_image *img;

    (void)state;
    unit_tempdir(dir);
    build_image(OCI, dir, "base", "good", "linux", "amd64", NULL, &good);

    /* A config whose bytes were changed after it was named. */
    build_image(OCI, dir, "base", "mismatch", "linux", "amd64", NULL,
                &mismatch);
    blob_path(OCI, dir, mismatch.config + 7, path, sizeof(path));
    write_text(path, "{\"os\":\"linux\",\"architecture\":\"amd64\","
                     "\"config\":{\"Env\":[\"TAMPERED=1\"]}}");

    /* A manifest whose config, and one whose layer, is gone. */
    build_image(OCI, dir, "base", "no config", "linux", "amd64", NULL,
                &no_config);
    blob_path(OCI, dir, no_config.config + 7, path, sizeof(path));
    unlink(path);
    build_image(OCI, dir, "base", "no layer", "linux", "amd64", NULL,
                &no_layer);
    blob_path(OCI, dir, no_layer.layer[1] + 7, path, sizeof(path));
    unlink(path);

    /* Manifests that are not JSON, of an unknown type, of schema 1 with
     * no layers; and
     * tags naming a blob that was never stored and a digest that would
     * climb out of blobs/. */
    put_blob(OCI, dir, "this is not json", junk);
    put_blob(OCI, dir, "{\"schemaVersion\":2,\"mediaType\":"
                       "\"application/vnd.example.thing+json\"}", odd);
    put_blob(OCI, dir, "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}",
             v1);

    entry_json(e[0], sizeof(e[0]), OCI_MANIFEST, good.manifest,
               good.manifest_len, NULL, "good");
    entry_json(e[1], sizeof(e[1]), OCI_MANIFEST, mismatch.manifest,
               mismatch.manifest_len, NULL, "mismatch");
    entry_json(e[2], sizeof(e[2]), OCI_MANIFEST, no_config.manifest,
               no_config.manifest_len, NULL, "noconfig");
    entry_json(e[3], sizeof(e[3]), OCI_MANIFEST, no_layer.manifest,
               no_layer.manifest_len, NULL, "nolayer");
    entry_json(e[4], sizeof(e[4]), OCI_MANIFEST, junk, 16, NULL, "junk");
    sha_hex("gone", 4, hex);
    snprintf(entries, sizeof(entries), "%s,%s,%s,%s,%s,"
             "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":9,"
             "\"annotations\":{\"org.opencontainers.image.ref.name\":"
             "\"gone\"}},"
             "{\"digest\":\"%s\",\"size\":60,\"annotations\":"
             "{\"org.opencontainers.image.ref.name\":\"odd\"}},"
             "{\"digest\":\"%s\",\"size\":40,\"annotations\":"
             "{\"org.opencontainers.image.ref.name\":\"v1\"}},"
             "{\"mediaType\":\"%s\",\"digest\":\"sha256:../../etc\","
             "\"size\":9,\"annotations\":"
             "{\"org.opencontainers.image.ref.name\":\"evil\"}}",
             e[0], e[1], e[2], e[3], e[4], OCI_MANIFEST, hex, odd, v1,
             OCI_MANIFEST);
    write_index(dir, entries);

    assert_int_equal(ksi_images_oci(dir, NULL, NULL, &list, on_diag, &d),
                     KS_OK);

    /* Listed: good, mismatch (warned), nolayer (layer slot kept). */
    assert_int_equal(list.count, 3);
    snprintf(ref, sizeof(ref), "oci:%s:good", dir);
    assert_non_null(find_image(&list, ref, "linux/amd64"));

    snprintf(ref, sizeof(ref), "oci:%s:mismatch", dir);
    img = find_image(&list, ref, "linux/amd64");
    assert_non_null(img);
    assert_non_null(strstr((const char *)img->config, "TAMPERED"));
    r = find_diag(&d, KS_ERR_ARCHIVE, "hashes to");
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_WARNING);
    assert_string_equal(r->where, ref);
    assert_non_null(strstr(r->message, mismatch.config));

    snprintf(ref, sizeof(ref), "oci:%s:nolayer", dir);
    img = find_image(&list, ref, "linux/amd64");
    assert_non_null(img);
    assert_int_equal(img->n_layers, 2);
    assert_non_null(img->layers[0].blob_path);
    assert_null(img->layers[1].blob_path);
    assert_null(img->layers[1].member);
    assert_string_equal(img->layers[1].digest, no_layer.layer[1]);
    r = find_diag(&d, KS_ERR_NOT_FOUND, no_layer.layer[1]);
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_ERROR);
    assert_string_equal(r->where, ref);

    r = find_diag(&d, KS_ERR_NOT_FOUND, no_config.config);
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_ERROR);
    assert_non_null(strstr(r->where, ":noconfig"));

    r = find_diag(&d, KS_ERR_NOT_FOUND, hex);
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_ERROR);
    assert_non_null(strstr(r->where, ":gone"));

    r = find_diag(&d, KS_ERR_ARCHIVE, junk);
    assert_non_null(r);
    assert_non_null(strstr(r->message, "not valid JSON"));

    r = find_diag(&d, KS_WARN_SKIPPED, "application/vnd.example.thing+json");
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_WARNING);
    /* Schema 1 manifests are read; one without layers is an error. */
    r = find_diag(&d, KS_ERR_ARCHIVE, "schema 1 manifest");
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_ERROR);
    assert_non_null(strstr(r->message, "has no fsLayers"));
    assert_non_null(strstr(r->where, ":v1"));

    r = find_diag(&d, KS_ERR_ARCHIVE, "not a sha256 digest");
    assert_non_null(r);
    assert_non_null(strstr(r->where, ":evil"));
    assert_int_equal(d.n, 8);

    ksi_image_list_free(&list);
    diags_free(&d);
    unit_rmtree(dir);
}

/* ---- registry stores ---------------------------------------------------- */

static void link_tag(const char *v2, const char *repo, const char *tag,
                     const char *digest)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/repositories/%s/_manifests/tags/%s/"
             "current", v2, repo, tag);
    mkdirs(path);
    strcat(path, "/link");
    write_text(path, digest);
    snprintf(path, sizeof(path), "%s/repositories/%s/_layers", v2, repo);
    mkdirs(path);
}

typedef struct store_fixture {
    char root[64];
    char v2[128];
    built nginx1, nginx2, api, tools;
} store_fixture;

static void make_store(store_fixture *f)
{
    unit_tempdir(f->root);
    snprintf(f->v2, sizeof(f->v2), "%s/docker/registry/v2", f->root);
    mkdirs(f->v2);
    build_image(REGISTRY, f->v2, "shared base", "nginx 1.25", "linux",
                "amd64", NULL, &f->nginx1);
    build_image(REGISTRY, f->v2, "shared base", "nginx latest", "linux",
                "amd64", NULL, &f->nginx2);
    build_image(REGISTRY, f->v2, "shared base", "api v1", "linux", "arm64",
                NULL, &f->api);
    build_image(REGISTRY, f->v2, "shared base", "tools v2", "linux", "amd64",
                NULL, &f->tools);
    link_tag(f->v2, "library/nginx", "1.25", f->nginx1.manifest);
    link_tag(f->v2, "library/nginx", "latest", f->nginx2.manifest);
    link_tag(f->v2, "team/app/api", "v1", f->api.manifest);
    link_tag(f->v2, "tools", "v2", f->tools.manifest);
}

static void registry_store_repositories(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    store_fixture f;
    char ref[160], path[256];
    const ksi_image *img;

    (void)state;
    make_store(&f);
    assert_int_equal(ksi_image_detect(f.root), KSI_IMAGE_REGISTRY_STORE);
    assert_int_equal(ksi_image_detect(f.v2), KSI_IMAGE_REGISTRY_STORE);
    snprintf(path, sizeof(path), "%s/docker/registry", f.root);
    assert_int_equal(ksi_image_detect(path), KSI_IMAGE_REGISTRY_STORE);

    assert_int_equal(ksi_images_registry_store(f.root, NULL, NULL, NULL,
                                               &list, on_diag, &d), KS_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(list.count, 4);

    /* Repositories and tags come in name order. */
    snprintf(ref, sizeof(ref), "registry-store:%s/library/nginx:1.25",
             f.root);
    assert_string_equal(list.items[0].reference, ref);
    snprintf(ref, sizeof(ref), "registry-store:%s/library/nginx:latest",
             f.root);
    assert_string_equal(list.items[1].reference, ref);
    snprintf(ref, sizeof(ref), "registry-store:%s/team/app/api:v1", f.root);
    img = find_image(&list, ref, "linux/arm64");
    assert_non_null(img);
    assert_string_equal(img->manifest_digest, f.api.manifest);
    assert_string_equal(img->layers[0].media_type, DOCKER_LAYER);
    snprintf(ref, sizeof(ref), "registry-store:%s/tools:v2", f.root);
    assert_non_null(find_image(&list, ref, "linux/amd64"));

    /* One base layer blob, shared by every image. */
    for (size_t i = 0; i < list.count; i++) {
        assert_layer_file(&list.items[i].layers[0], f.api.layer[0]);
        assert_string_equal(list.items[i].layers[0].blob_path,
                            list.items[0].layers[0].blob_path);
    }
    ksi_image_list_free(&list);

    /* One repository, one tag, one platform; the v2 dir as root. */
    assert_int_equal(ksi_images_registry_store(f.root, "team/app/api", NULL,
                                               NULL, &list, on_diag, &d),
                     KS_OK);
    assert_int_equal(list.count, 1);
    ksi_image_list_free(&list);
    assert_int_equal(ksi_images_registry_store(f.v2, "library/nginx",
                                               "latest", NULL, &list,
                                               on_diag, &d), KS_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].manifest_digest, f.nginx2.manifest);
    ksi_image_list_free(&list);
    assert_int_equal(ksi_images_registry_store(f.root, NULL, NULL,
                                               "linux/arm64", &list,
                                               on_diag, &d), KS_OK);
    assert_int_equal(list.count, 1);
    ksi_image_list_free(&list);
    assert_int_equal(d.n, 0);

    assert_int_equal(ksi_images_registry_store(f.root, "nope", NULL, NULL,
                                               &list, on_diag, &d), KS_OK);
    assert_non_null(find_diag(&d, KS_ERR_NOT_FOUND, "nope"));
    assert_int_equal(ksi_images_registry_store(f.root, "../x", NULL, NULL,
                                               &list, on_diag, &d),
                     KS_ERR_ARG);
    assert_int_equal(list.count, 0);

    diags_free(&d);
    unit_rmtree(f.root);
}

static void registry_store_missing_blob(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    store_fixture f;
    char hex[65], digest[72], ref[160];
    const diag_rec *r;

    (void)state;
    make_store(&f);
    sha_hex("never pushed", 12, hex);
    snprintf(digest, sizeof(digest), "sha256:%s", hex);
    link_tag(f.v2, "broken/app", "1", digest);
    link_tag(f.v2, "broken/link", "1", "not a digest\n");

    assert_int_equal(ksi_images_registry_store(f.root, NULL, NULL, NULL,
                                               &list, on_diag, &d), KS_OK);
    assert_int_equal(list.count, 4);
    assert_int_equal(d.n, 2);
    r = find_diag(&d, KS_ERR_NOT_FOUND, digest);
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_ERROR);
    snprintf(ref, sizeof(ref), "registry-store:%s/broken/app:1", f.root);
    assert_string_equal(r->where, ref);
    r = find_diag(&d, KS_ERR_ARCHIVE, "not a sha256 digest");
    assert_non_null(r);
    assert_non_null(strstr(r->where, "broken/link:1"));

    ksi_image_list_free(&list);
    diags_free(&d);
    unit_rmtree(f.root);
}

/*
 * Links inside a store are not followed, wherever they are: a store copied
 * from elsewhere could otherwise lead the scan to files outside it. Here a
 * manifest's blob directory lives outside the store, linked back in, and
 * one tag's directory links to another's.
 */
static void registry_store_links_not_followed(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    store_fixture f;
    char outside[64], from[512], to[512];
    const char *hex;
    const diag_rec *r;

    (void)state;
    make_store(&f);
    unit_tempdir(outside);
    hex = f.tools.manifest + strlen("sha256:");
    snprintf(from, sizeof(from), "%s/blobs/sha256/%.2s/%s", f.v2, hex, hex);
    snprintf(to, sizeof(to), "%s/%s", outside, hex);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(symlink(to, from), 0);
    snprintf(from, sizeof(from), "%s/repositories/library/nginx/_manifests/"
             "tags/latest/current", f.v2);
    unit_rmtree(from);
    assert_int_equal(symlink("../1.25/current", from), 0);

    assert_int_equal(ksi_images_registry_store(f.root, NULL, NULL, NULL,
                                               &list, on_diag, &d), KS_OK);
    assert_int_equal(list.count, 2);
    assert_int_equal(d.n, 2);
    r = find_diag(&d, KS_ERR_IO, f.tools.manifest);
    assert_non_null(r);
    assert_non_null(strstr(r->message, "links are not followed"));
    assert_non_null(strstr(r->where, "tools:v2"));
    r = find_diag(&d, KS_ERR_IO, "tag link");
    assert_non_null(r);
    assert_non_null(strstr(r->message, "links are not followed"));
    assert_non_null(strstr(r->where, "nginx:latest"));

    ksi_image_list_free(&list);
    diags_free(&d);
    unit_rmtree(f.root);
    unit_rmtree(outside);
}

/* ---- docker save archives ----------------------------------------------- */

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "2222222222222222222222222222222222222222222222222222222222222222"
#define ID3 "3333333333333333333333333333333333333333333333333333333333333333"

/*
 * A classic `docker save` archive of four images: a tagged one, an
 * untagged one sharing its first layer through a link (as older Docker
 * wrote shared layers), one whose layer is missing and one whose config is.
 */
typedef struct classic_fixture {
    char dir[64];
    char file[128];
    char hex1[65], hex2[65];        /* the layers' sha256 */
    char cfg1[65], cfg2[65];        /* the first two configs' sha256 */
    size_t config1_len;
} classic_fixture;

static void make_classic(classic_fixture *f)
{
    char config1[1024], config2[1024], config3[1024], manifest[BIG];
    char name1[80], name2[80], name3[80], cfg3[65];
    const char *layer1 = "layer one bytes", *layer2 = "layer two bytes";

    unit_tempdir(f->dir);
    sha_hex(layer1, strlen(layer1), f->hex1);
    sha_hex(layer2, strlen(layer2), f->hex2);
    snprintf(config1, sizeof(config1),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
             "{\"Env\":[\"A=1\"]},\"rootfs\":{\"type\":\"layers\","
             "\"diff_ids\":[\"sha256:%s\",\"sha256:%s\"]}}", f->hex1,
             f->hex2);
    snprintf(config2, sizeof(config2),
             "{\"architecture\":\"arm64\",\"variant\":\"v8\",\"os\":"
             "\"linux\",\"rootfs\":{\"type\":\"layers\","
             "\"diff_ids\":[\"sha256:%s\"]}}", f->hex1);
    snprintf(config3, sizeof(config3),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":"
             "{\"diff_ids\":[\"sha256:%s\"]}}", f->hex2);
    f->config1_len = strlen(config1);
    sha_hex(config1, strlen(config1), f->cfg1);
    sha_hex(config2, strlen(config2), f->cfg2);
    sha_hex(config3, strlen(config3), cfg3);
    snprintf(name1, sizeof(name1), "%s.json", f->cfg1);
    snprintf(name2, sizeof(name2), "%s.json", f->cfg2);
    snprintf(name3, sizeof(name3), "%s.json", cfg3);
    snprintf(manifest, sizeof(manifest),
             "[{\"Config\":\"%s\",\"RepoTags\":[\"demo:1.0\",\"demo:latest\"],"
             "\"Layers\":[\"" ID1 "/layer.tar\",\"" ID2 "/layer.tar\"]},"
             "{\"Config\":\"%s\",\"RepoTags\":null,"
             "\"Layers\":[\"" ID3 "/layer.tar\"]},"
             "{\"Config\":\"%s\",\"RepoTags\":[\"broken:1\"],"
             "\"Layers\":[\"ffff/layer.tar\"]},"
             "{\"Config\":\"absent.json\",\"RepoTags\":[\"noconfig:1\"],"
             "\"Layers\":[]}]", name1, name2, name3);
    {
        const tar_member members[] = {
            { ID1 "/VERSION", "1.0", NULL },
            { ID1 "/layer.tar", layer1, NULL },
            { ID2 "/layer.tar", layer2, NULL },
            { ID3 "/layer.tar", NULL, "../" ID1 "/layer.tar" },
            { name1, config1, NULL },
            { name2, config2, NULL },
            { name3, config3, NULL },
            { "manifest.json", manifest, NULL },
            { "repositories", "{\"demo\":{\"1.0\":\"" ID2 "\"}}", NULL },
        };

        snprintf(f->file, sizeof(f->file), "%s/docker.tar", f->dir);
        write_tar(f->file, members, sizeof(members) / sizeof(members[0]), 0);
    }
}

static void docker_save_classic(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    classic_fixture f;
    char ref[256];
    const ksi_image *img;
    const diag_rec *r;

    (void)state;
    make_classic(&f);
    assert_int_equal(ksi_image_detect(f.file), KSI_IMAGE_DOCKER_ARCHIVE);
    assert_int_equal(ksi_images_docker_archive(f.file, NULL, NULL, &list,
                                               on_diag, &d), KS_OK);
    assert_int_equal(list.count, 3);

    snprintf(ref, sizeof(ref), "docker-archive:%s:demo:1.0", f.file);
    img = find_image(&list, ref, "linux/amd64");
    assert_non_null(img);
    assert_string_equal(img->config_digest + 7, f.cfg1);
    assert_string_equal(img->manifest_digest, img->config_digest);
    assert_int_equal(img->config_len, f.config1_len);
    assert_int_equal(img->n_layers, 2);
    assert_string_equal(img->layers[0].member, ID1 "/layer.tar");
    assert_string_equal(img->layers[0].digest + 7, f.hex1);
    assert_null(img->layers[0].media_type);
    assert_null(img->layers[0].blob_path);
    assert_int_equal(img->layers[0].size, strlen("layer one bytes"));
    assert_string_equal(img->layers[1].member, ID2 "/layer.tar");
    assert_string_equal(img->layers[1].digest + 7, f.hex2);

    snprintf(ref, sizeof(ref), "docker-archive:%s@sha256:%s", f.file,
             f.cfg2);
    img = find_image(&list, ref, "linux/arm64/v8");
    assert_non_null(img);
    assert_string_equal(img->layers[0].member, ID1 "/layer.tar");

    r = find_diag(&d, KS_ERR_NOT_FOUND, "ffff/layer.tar");
    assert_non_null(r);
    assert_int_equal(r->level, KS_DIAG_ERROR);
    snprintf(ref, sizeof(ref), "docker-archive:%s:broken:1", f.file);
    assert_string_equal(r->where, ref);
    r = find_diag(&d, KS_ERR_NOT_FOUND, "absent.json");
    assert_non_null(r);
    assert_int_equal(d.n, 2);
    ksi_image_list_free(&list);

    /* Selecting by a second tag names the image by it. */
    assert_int_equal(ksi_images_docker_archive(f.file, "demo:latest", NULL,
                                               &list, on_diag, &d), KS_OK);
    assert_int_equal(list.count, 1);
    snprintf(ref, sizeof(ref), "docker-archive:%s:demo:latest", f.file);
    assert_string_equal(list.items[0].reference, ref);
    ksi_image_list_free(&list);

    diags_free(&d);
    unit_rmtree(f.dir);
}

/*
 * The newer `docker save` form, an OCI layout with manifest.json beside it
 * (gzip-compressed, as `docker save | gzip` leaves it), and the same
 * layout tarred without manifest.json.
 */
typedef struct saved_fixture {
    char dir[64];
    char saved[128];        /* with manifest.json */
    char oci[128];          /* without */
    char hl[65], hc[65], hm[65];
    char nl[80];
    size_t layer_len;
} saved_fixture;

static void make_saved(saved_fixture *f)
{
    char index[BIG], manifest_json[1024], config[1024], manifest[BIG];
    char nc[80], nm[80];
    const char *layer = "an uncompressed layer";

    unit_tempdir(f->dir);
    f->layer_len = strlen(layer);
    sha_hex(layer, strlen(layer), f->hl);
    snprintf(config, sizeof(config),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":"
             "{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}", f->hl);
    sha_hex(config, strlen(config), f->hc);
    snprintf(manifest, sizeof(manifest),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":"
             "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu},"
             "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\","
             "\"size\":%zu}]}", OCI_MANIFEST, OCI_CONFIG, f->hc,
             strlen(config), OCI_LAYER_TAR, f->hl, strlen(layer));
    sha_hex(manifest, strlen(manifest), f->hm);
    snprintf(index, sizeof(index),
             "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{"
             "\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu,"
             "\"annotations\":{\"io.containerd.image.name\":"
             "\"docker.io/library/demo:2.0\",\"org.opencontainers.image."
             "ref.name\":\"2.0\"}}]}", OCI_INDEX, OCI_MANIFEST, f->hm,
             strlen(manifest));
    snprintf(manifest_json, sizeof(manifest_json),
             "[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":[\"demo:2.0\"],"
             "\"Layers\":[\"blobs/sha256/%s\"]}]", f->hc, f->hl);
    snprintf(f->nl, sizeof(f->nl), "blobs/sha256/%s", f->hl);
    snprintf(nc, sizeof(nc), "blobs/sha256/%s", f->hc);
    snprintf(nm, sizeof(nm), "blobs/sha256/%s", f->hm);
    {
        const tar_member saved[] = {
            { f->nl, layer, NULL },    { nc, config, NULL },
            { nm, manifest, NULL },    { "index.json", index, NULL },
            { "manifest.json", manifest_json, NULL },
            { "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", NULL },
        };
        const tar_member oci[] = {
            { "./oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", NULL },
            { "./index.json", index, NULL },
            { f->nl, layer, NULL },
            { nc, config, NULL },
            { nm, manifest, NULL },
        };

        snprintf(f->saved, sizeof(f->saved), "%s/saved.tar.gz", f->dir);
        write_tar(f->saved, saved, sizeof(saved) / sizeof(saved[0]), 1);
        snprintf(f->oci, sizeof(f->oci), "%s/oci.tar", f->dir);
        write_tar(f->oci, oci, sizeof(oci) / sizeof(oci[0]), 0);
    }
}

static void docker_save_oci_form(void **state)
{
    ksi_image_list list = { 0 };
    diags d = { 0 };
    saved_fixture f;
    char ref[256];
    const ksi_image *img;

    (void)state;
    make_saved(&f);
    assert_int_equal(ksi_image_detect(f.saved), KSI_IMAGE_DOCKER_ARCHIVE);
    assert_int_equal(ksi_images_docker_archive(f.saved, NULL, NULL, &list,
                                               on_diag, &d), KS_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(list.count, 1);
    snprintf(ref, sizeof(ref), "docker-archive:%s:demo:2.0", f.saved);
    img = find_image(&list, ref, "linux/amd64");
    assert_non_null(img);
    assert_string_equal(img->manifest_digest + 7, f.hm);
    assert_string_equal(img->config_digest + 7, f.hc);
    assert_int_equal(img->n_layers, 1);
    assert_string_equal(img->layers[0].member, f.nl);
    assert_string_equal(img->layers[0].digest + 7, f.hl);
    assert_string_equal(img->layers[0].media_type, OCI_LAYER_TAR);
    assert_int_equal(img->layers[0].size, f.layer_len);
    ksi_image_list_free(&list);

    /* Without manifest.json it is an OCI archive, walked by index.json. */
    assert_int_equal(ksi_image_detect(f.oci), KSI_IMAGE_OCI_ARCHIVE);
    assert_int_equal(ksi_images_docker_archive(f.oci, "2.0", NULL, &list,
                                               on_diag, &d), KS_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(list.count, 1);
    snprintf(ref, sizeof(ref), "oci-archive:%s:2.0", f.oci);
    assert_string_equal(list.items[0].reference, ref);
    assert_string_equal(list.items[0].layers[0].member, f.nl);
    ksi_image_list_free(&list);

    diags_free(&d);
    unit_rmtree(f.dir);
}

static void detect_other_things(void **state)
{
    char dir[64], path[128];
    diags d = { 0 };
    ksi_image_list list = { 0 };
    const tar_member rootfs[] = {
        { "etc/passwd", "root:x:0:0::/root:/bin/sh\n", NULL },
        { "manifest.json", "[]", NULL },
    };

    (void)state;
    unit_tempdir(dir);
    assert_int_equal(ksi_image_detect(dir), KSI_IMAGE_NONE);
    snprintf(path, sizeof(path), "%s/rootfs.tar", dir);
    write_tar(path, rootfs, 2, 1);
    assert_int_equal(ksi_image_detect(path), KSI_IMAGE_NONE);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    write_text(path, "just text\n");
    assert_int_equal(ksi_image_detect(path), KSI_IMAGE_NONE);
    assert_int_equal(ksi_images_docker_archive(path, NULL, NULL, &list,
                                               on_diag, &d), KS_OK);
    assert_int_equal(list.count, 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.items[0].level, KS_DIAG_ERROR);
    snprintf(path, sizeof(path), "%s/nothing", dir);
    assert_int_equal(ksi_image_detect(path), KSI_IMAGE_NONE);
    assert_int_equal(ksi_images_oci(path, NULL, NULL, &list, on_diag, &d),
                     KS_OK);
    assert_non_null(find_diag(&d, KS_ERR_NOT_FOUND, "index.json"));
    assert_int_equal(ksi_images_registry_store(path, NULL, NULL, NULL, &list,
                                               on_diag, &d), KS_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(ksi_images_oci(NULL, NULL, NULL, &list, NULL, NULL),
                     KS_ERR_ARG);
    assert_int_equal(ksi_images_oci(dir, NULL, "linux", &list, on_diag, &d),
                     KS_ERR_ARG);
    assert_int_equal(ksi_images_oci(dir, NULL, "linux/arm64/v8/x", &list,
                                    on_diag, &d), KS_ERR_ARG);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.items[4].status, KS_ERR_ARG);
    ksi_image_list_free(NULL);
    diags_free(&d);
    unit_rmtree(dir);
}

/* Lists `path` of `kind` with the Nth allocation failing. */
static ks_status list_failing(ksi_image_kind kind, const char *path, long n,
                              ksi_image_list *list)
{
    ks_status st = KS_ERR_ARG;

    ksi_alloc_fail_after(n);
    if (kind == KSI_IMAGE_OCI_DIR)
        st = ksi_images_oci(path, NULL, NULL, list, NULL, NULL);
    else if (kind == KSI_IMAGE_REGISTRY_STORE)
        st = ksi_images_registry_store(path, NULL, NULL, NULL, list, NULL,
                                       NULL);
    else
        st = ksi_images_docker_archive(path, NULL, NULL, list, NULL, NULL);
    ksi_alloc_fail_after(-1);
    return st;
}

/*
 * Every allocation failing in turn, in each kind of source: each run
 * either lists everything or says KS_ERR_NOMEM, and the sanitizer build
 * checks that nothing leaks on the way out.
 */
static void allocation_failures(void **state)
{
    oci_fixture f;
    store_fixture s;
    classic_fixture c;
    saved_fixture v;

    (void)state;
    make_oci(&f);
    make_store(&s);
    make_classic(&c);
    make_saved(&v);
    {
        const struct {
            ksi_image_kind kind;
            const char *path;
            size_t images;
        } cases[] = {
            { KSI_IMAGE_OCI_DIR, f.dir, 4 },
            { KSI_IMAGE_REGISTRY_STORE, s.root, 4 },
            { KSI_IMAGE_DOCKER_ARCHIVE, c.file, 3 },
            { KSI_IMAGE_DOCKER_ARCHIVE, v.saved, 1 },
            { KSI_IMAGE_OCI_ARCHIVE, v.oci, 1 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            ks_status st = KS_ERR_NOMEM;

            for (long n = 0; st == KS_ERR_NOMEM; n++) {
                ksi_image_list list = { 0 };

                st = list_failing(cases[i].kind, cases[i].path, n, &list);
                assert_true(st == KS_OK || st == KS_ERR_NOMEM);
                if (st == KS_OK)
                    assert_int_equal(list.count, cases[i].images);
                ksi_image_list_free(&list);
            }
        }
    }
    unit_rmtree(f.dir);
    unit_rmtree(s.root);
    unit_rmtree(c.dir);
    unit_rmtree(v.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oci_index_of_two_platforms),
        cmocka_unit_test(oci_platform_and_tag_filters),
        cmocka_unit_test(oci_index_not_json),
        cmocka_unit_test(oci_broken_entries),
        cmocka_unit_test(registry_store_repositories),
        cmocka_unit_test(registry_store_missing_blob),
        cmocka_unit_test(registry_store_links_not_followed),
        cmocka_unit_test(docker_save_classic),
        cmocka_unit_test(docker_save_oci_form),
        cmocka_unit_test(detect_other_things),
        cmocka_unit_test(allocation_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
