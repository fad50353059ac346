/*
 * test_registry.c - image references as Docker reads them: registry
 * hosts, ports, Docker Hub short names, tags and digests; what a bare name
 * must look like before it is taken for a registry; and malformed ones.
 * (Requests to real registries are driven end to end in
 * tests/e2e/suite_registry.sh.)
 */
#include "unit.h"

#include "registry.h"

#define HEX64 "0123456789abcdef0123456789abcdef" \
              "0123456789abcdef0123456789abcdef"

typedef struct ref_case {
    const char *input;
    int explicit;
    int want;               /* ksi_remote_parse's answer */
    const char *host, *name, *repo, *tag, *digest;
} ref_case;

static const ref_case cases[] = {
    { "alpine", 1, 1, "registry-1.docker.io", "docker.io", "library/alpine",
      "latest", NULL },
    { "library/alpine:3.19", 1, 1, "registry-1.docker.io", "docker.io",
      "library/alpine", "3.19", NULL },
    { "docker.io/bitnami/redis:7", 1, 1, "registry-1.docker.io",
      "docker.io", "bitnami/redis", "7", NULL },
    { "index.docker.io/nginx", 1, 1, "registry-1.docker.io", "docker.io",
      "library/nginx", "latest", NULL },
    { "ghcr.io/org/team/app:v1.2.3", 0, 1, "ghcr.io", "ghcr.io",
      "org/team/app", "v1.2.3", NULL },
    { "localhost:5000/app@sha256:" HEX64, 0, 1, "localhost:5000",
      "localhost:5000", "app", NULL, "sha256:" HEX64 },
    { "127.0.0.1:5000/a/b:1.0@sha256:" HEX64, 1, 1, "127.0.0.1:5000",
      "127.0.0.1:5000", "a/b", "1.0", "sha256:" HEX64 },
    { "registry.example.com:8443", 1, 1, "registry.example.com:8443",
      "registry.example.com:8443", NULL, NULL, NULL },
    { "127.0.0.1:5000/", 1, 1, "127.0.0.1:5000", "127.0.0.1:5000", NULL,
      NULL, NULL },
    /* Bare names that are paths, not references. */
    { "alpine", 0, 0, NULL, NULL, NULL, NULL, NULL },
    { "src/app", 0, 0, NULL, NULL, NULL, NULL, NULL },
    { "./ghcr.io/x", 0, 0, NULL, NULL, NULL, NULL, NULL },
    { "/srv/registry.d/x", 0, 0, NULL, NULL, NULL, NULL, NULL },
    { "registry.example.com", 0, 0, NULL, NULL, NULL, NULL, NULL },
    { "oci:/tmp/layout", 0, 0, NULL, NULL, NULL, NULL, NULL },
    { "C:/images/app", 0, 0, NULL, NULL, NULL, NULL, NULL },
    { "host:port/app", 0, 0, NULL, NULL, NULL, NULL, NULL },
    /* Malformed references. */
    { "ghcr.io/Org/App", 1, -1, NULL, NULL, NULL, NULL, NULL },
    { "ghcr.io/app:bad tag", 1, -1, NULL, NULL, NULL, NULL, NULL },
    { "ghcr.io/app@sha256:abc", 1, -1, NULL, NULL, NULL, NULL, NULL },
    { "ghcr.io//app", 1, -1, NULL, NULL, NULL, NULL, NULL },
};

static void assert_opt(const char *got, const char *want, const char *what,
                       const char *input)
{
    if (!want && !got)
        return;
    if (!want || !got || strcmp(want, got) != 0)
        fail_msg("%s: %s is \"%s\", want \"%s\"", input, what,
                 got ? got : "(null)", want ? want : "(null)");
}

static void references_parse_as_docker_does(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const ref_case *c = &cases[i];
        ksi_remote_ref ref;
        char why[256] = "";
        int got = ksi_remote_parse(c->input, c->explicit, &ref, why,
                                   sizeof(why));

        if (got != c->want)
            fail_msg("%s (explicit %d): %d, want %d (%s)", c->input,
                     c->explicit, got, c->want, why);
        if (got < 0)
            assert_true(why[0] != '\0');
        assert_opt(ref.host, c->host, "host", c->input);
        assert_opt(ref.name, c->name, "name", c->input);
        assert_opt(ref.repo, c->repo, "repo", c->input);
        assert_opt(ref.tag, c->tag, "tag", c->input);
        assert_opt(ref.digest, c->digest, "digest", c->input);
        ksi_remote_ref_clear(&ref);
    }
}

/* Nothing listens on port 9 of the loopback: a clear error, no hang. */
static void unreachable_registry_is_an_error(void **state)
{
    ksi_remote_opts opts = { "/nonexistent/config.json", NULL, NULL, 1 };
    char why[512] = "";
    unsigned char *body = NULL;
    size_t len = 0;
    ksi_remote *r;

    (void)state;
    r = ksi_remote_new("127.0.0.1:9", &opts, why, sizeof(why));
    assert_non_null(r);
    assert_int_equal(ksi_remote_get(r, "app", 1, "latest", 1024, &body, &len,
                                    NULL, why, sizeof(why)),
                     KSI_REMOTE_FAILED);
    assert_null(body);
    assert_non_null(strstr(why, "cannot reach 127.0.0.1:9"));
    ksi_remote_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(references_parse_as_docker_does),
        cmocka_unit_test(unreachable_registry_is_an_error),
    };

    return cmocka_run_group_tests_name("registry client", tests, NULL, NULL);
}
