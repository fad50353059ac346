/*
 * registry.c - reading images from a registry over the OCI distribution
 * API, with libcurl.
 *
 * Requests follow the registry's own lead: an anonymous request first; a
 * 401 names the authentication it wants (WWW-Authenticate), either Basic
 * with the user's credentials or a Bearer token fetched from the token
 * service the challenge names, for the scope it names. Tokens are kept per
 * scope for the rest of the run. Rate limits (429), server errors (5xx)
 * and broken connections are retried with backoff; a blob whose transfer
 * breaks is resumed where it stopped with a range request, so a layer is
 * streamed into the scanner once, from start to end, without touching the
 * disk.
 */
#include "registry.h"

#include "alloc.h"
#include "input_limits.h"
#include "validate.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Attempts of one request before it fails, and the first backoff. */
#define MAX_ATTEMPTS 5
#define FIRST_BACKOFF_MS 250
#define MAX_BACKOFF_MS 4000

/* Seconds before a connection attempt, and a stalled transfer, fail. */
#define CONNECT_TIMEOUT 15L
#define STALL_SECONDS 60L

/* Bytes of a token service's answer, and of one response header kept. */
#define MAX_TOKEN_REPLY (64u << 10)
#define MAX_HEADER 4096u

#define DOCKER_HUB_API "registry-1.docker.io"
#define DOCKER_HUB_NAME "docker.io"

/* ---- references --------------------------------------------------------- */

void ksi_remote_ref_clear(ksi_remote_ref *ref)
{
    ksi_free(ref->host);
    ksi_free(ref->name);
    ksi_free(ref->repo);
    ksi_free(ref->tag);
    ksi_free(ref->digest);
    memset(ref, 0, sizeof(*ref));
}

/*
 * Does the first part of a name say it is a registry host? It has a dot
 * or a port, or is "localhost" (Docker's rule); a colon must start a
 * port, so "oci:" or "C:" is not a host.
 */
static int looks_like_host(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t host_len = colon ? (size_t)(colon - s) : len;

    if (len == 0 || s[0] == '.' || host_len == 0)
        return 0;
    if (colon) {
        size_t port = len - host_len - 1;

        if (port == 0 || port > 5)
            return 0;
        for (size_t i = host_len + 1; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
        }
        return 1;
    }
    return memchr(s, '.', len) ||
           (len == 9 && memcmp(s, "localhost", 9) == 0);
}

/* Repository names: lowercase components joined by '/'. */
static int repo_ok(const char *r)
{
    size_t n = strlen(r);

    if (n == 0 || n > 255 || strspn(r, "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789._-/") != n)
        return 0;
    if (r[0] == '/' || r[n - 1] == '/' || strstr(r, "//"))
        return 0;
    return 1;
}

static int tag_ok(const char *t)
{
    size_t n = strlen(t);

    return n > 0 && n <= 128 && t[0] != '.' && t[0] != '-' &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-") == n;
}

static int digest_ok(const char *d)
{
    return strncmp(d, "sha256:", 7) == 0 && strlen(d) == 71 &&
           strspn(d + 7, "0123456789abcdef") == 64;
}

static int set_str(char **dst, const char *s, size_t len)
{
    *dst = ksi_strndup(s, len);
    return *dst ? 0 : -1;
}

/* Fills host, name and repo from "[HOST/]PATH"; PATH may be empty. */
static int split_host(const char *s, int explicit, ksi_remote_ref *out)
{
    const char *slash = strchr(s, '/');
    size_t first = slash ? (size_t)(slash - s) : strlen(s);
    const char *path = s;

    if (looks_like_host(s, first)) {
        if (set_str(&out->name, s, first))
            return -1;
        path = slash ? slash + 1 : s + first;
    } else if (!explicit) {
        return 1;
    } else if (set_str(&out->name, DOCKER_HUB_NAME, strlen(DOCKER_HUB_NAME))) {
        return -1;
    }
    if (strcmp(out->name, "index.docker.io") == 0 ||
        strcmp(out->name, DOCKER_HUB_API) == 0) {
        ksi_free(out->name);
        if (set_str(&out->name, DOCKER_HUB_NAME, strlen(DOCKER_HUB_NAME)))
            return -1;
    }
    if (strcmp(out->name, DOCKER_HUB_NAME) == 0) {
        if (set_str(&out->host, DOCKER_HUB_API, strlen(DOCKER_HUB_API)))
            return -1;
    } else if (set_str(&out->host, out->name, strlen(out->name))) {
        return -1;
    }
    if (*path && strcmp(out->name, DOCKER_HUB_NAME) == 0 &&
        !strchr(path, '/')) {
        out->repo = ksi_malloc(strlen(path) + 9);
        if (!out->repo)
            return -1;
        snprintf(out->repo, strlen(path) + 9, "library/%s", path);
    } else if (*path && set_str(&out->repo, path, strlen(path))) {
        return -1;
    }
    return 0;
}

int ksi_remote_parse(const char *input, int explicit, ksi_remote_ref *out,
                     char *why, size_t cap)
{
    char *copy = NULL, *at, *colon, *slash;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!explicit && (input[0] == '/' || input[0] == '.' ||
                      !strchr(input, '/')))
        return 0;
    copy = ksi_strdup(input);
    if (!copy)
        goto nomem;
    at = strrchr(copy, '@');
    if (at) {
        *at = '\0';
        if (!digest_ok(at + 1)) {
            snprintf(why, cap, "\"%.80s\" is not a sha256 digest", at + 1);
            goto bad;
        }
        if (set_str(&out->digest, at + 1, strlen(at + 1)))
            goto nomem;
    }
    slash = strrchr(copy, '/');
    colon = strrchr(copy, ':');
    /* A colon after the last slash starts a tag; before it, a port. */
    if (colon && (!slash || colon > slash) &&
        !(slash == NULL && !explicit)) {
        if (!slash && looks_like_host(copy, strlen(copy)) &&
            strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
            /* "host:5000": a registry, no repository */
        } else {
            *colon = '\0';
            if (!tag_ok(colon + 1)) {
                snprintf(why, cap, "\"%.80s\" is not a tag", colon + 1);
                goto bad;
            }
            if (set_str(&out->tag, colon + 1, strlen(colon + 1)))
                goto nomem;
        }
    }
    while (strlen(copy) > 0 && copy[strlen(copy) - 1] == '/')
        copy[strlen(copy) - 1] = '\0';
    rc = split_host(copy, explicit, out);
    if (rc < 0)
        goto nomem;
    if (rc > 0 || (!explicit && !out->repo)) {
        ksi_free(copy);
        ksi_remote_ref_clear(out);
        return 0;
    }
    if (out->repo && !repo_ok(out->repo)) {
        snprintf(why, cap, "\"%.100s\" is not a repository name (lowercase "
                 "letters, digits and . _ - /)", out->repo);
        goto bad;
    }
    if (!out->repo && (out->tag || out->digest)) {
        snprintf(why, cap, "a tag or digest needs a repository");
        goto bad;
    }
    if (out->repo && !out->tag && !out->digest &&
        set_str(&out->tag, "latest", 6))
        goto nomem;
    ksi_free(copy);
    return 1;

nomem:
    snprintf(why, cap, "out of memory");
bad:
    ksi_free(copy);
    ksi_remote_ref_clear(out);
    return -1;
}

/* ---- credentials -------------------------------------------------------- */

/* Decodes standard base64 into a new NUL-terminated string, or NULL. */
static char *b64_decode(const char *in)
{
    size_t n = strlen(in);
    char *out = ksi_malloc(n * 3 / 4 + 4);
    long got = out ? ksi_base64_decode((const unsigned char *)in, n, 0,
                                       (unsigned char *)out, n * 3 / 4 + 3)
                   : -1;

    if (got < 0) {
        ksi_free(out);
        return NULL;
    }
    out[got] = '\0';
    return out;
}

static char *b64_encode(const char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789+/";
    char *out = ksi_malloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;

        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* A config "auths" key reduced to the host it is for. */
static void key_host(const char *key, char *out, size_t cap)
{
    const char *p = strstr(key, "://") ? strstr(key, "://") + 3 : key;
    size_t n = strcspn(p, "/");

    snprintf(out, cap, "%.*s", (int)n, p);
    if (strcmp(out, "index.docker.io") == 0 ||
        strcmp(out, DOCKER_HUB_API) == 0)
        snprintf(out, cap, "%s", DOCKER_HUB_NAME);
}

static char *default_auth_file(void)
{
    const char *dir = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");
    char path[KSI_MAX_PATH];

    if (dir && *dir)
        snprintf(path, sizeof(path), "%s/config.json", dir);
    else if (home && *home)
        snprintf(path, sizeof(path), "%s/.docker/config.json", home);
    else
        return NULL;
    return ksi_strdup(path);
}

/*
 * "user:password" for `name` from a Docker config file, or NULL. Entries
 * hold it base64-encoded in "auth", or as "username" and "password".
 */
static char *config_credentials(const char *file, const char *name)
{
    json_t *doc = json_load_file(file, 0, NULL);
    json_t *auths = json_object_get(doc, "auths"), *entry;
    const char *key;
    char host[256], *found = NULL;

    json_object_foreach(auths, key, entry) {
        const char *auth = json_string_value(json_object_get(entry, "auth"));
        const char *user = json_string_value(json_object_get(entry,
                                                             "username"));
        const char *pass = json_string_value(json_object_get(entry,
                                                             "password"));

        key_host(key, host, sizeof(host));
        if (strcmp(host, name) != 0)
            continue;
        if (auth && *auth) {
            found = b64_decode(auth);
        } else if (user && pass) {
            found = ksi_malloc(strlen(user) + strlen(pass) + 2);
            if (found)
                snprintf(found, strlen(user) + strlen(pass) + 2, "%s:%s",
                         user, pass);
        }
        if (found && !strchr(found, ':')) {
            ksi_free(found);
            found = NULL;
        }
        break;
    }
    json_decref(doc);
    return found;
}

/* ---- the connection ----------------------------------------------------- */

typedef struct token {
    char *scope;
    char *value;            /* "Bearer ..." or "Basic ..." header value */
} token;

struct ksi_remote {
    char *host;
    char *base;             /* "https://host" */
    char *basic;            /* base64 of "user:password", or NULL */
    int plain_http;
    pthread_mutex_t lock;   /* guards tokens */
    token *tokens;
    size_t n_tokens, cap_tokens;
    CURLSH *share;
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
};

/*
 * libcurl is loaded when the first registry is opened, not when keysift
 * starts: it brings some thirty libraries of its own, whose loading would
 * cost every scan about ten milliseconds, and most scans never speak HTTP.
 */
static struct curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *h);
    const char *(*easy_strerror)(CURLcode code);
    char *(*easy_escape)(CURL *h, const char *s, int len);
    void (*free)(void *p);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
    CURLSH *(*share_init)(void);
    CURLSHcode (*share_setopt)(CURLSH *sh, CURLSHoption opt, ...);
    CURLSHcode (*share_cleanup)(CURLSH *sh);
} api;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_ready = CURLE_FAILED_INIT;
static char curl_why[256];

/* Binds one symbol; returns 0, or -1 having noted which is missing. */
static int bind_symbol(void *lib, const char *name, void *slot)
{
    void *sym = dlsym(lib, name);

    if (!sym) {
        snprintf(curl_why, sizeof(curl_why), "libcurl lacks %s", name);
        return -1;
    }
    memcpy(slot, &sym, sizeof(sym));
    return 0;
}

static void curl_start(void)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);

    if (!lib) {
        snprintf(curl_why, sizeof(curl_why), "cannot load libcurl "
                 "(install the libcurl4 package): %s", dlerror());
        return;
    }
    if (bind_symbol(lib, "curl_global_init", &api.global_init) ||
        bind_symbol(lib, "curl_easy_init", &api.easy_init) ||
        bind_symbol(lib, "curl_easy_setopt", &api.easy_setopt) ||
        bind_symbol(lib, "curl_easy_perform", &api.easy_perform) ||
        bind_symbol(lib, "curl_easy_getinfo", &api.easy_getinfo) ||
        bind_symbol(lib, "curl_easy_cleanup", &api.easy_cleanup) ||
        bind_symbol(lib, "curl_easy_strerror", &api.easy_strerror) ||
        bind_symbol(lib, "curl_easy_escape", &api.easy_escape) ||
        bind_symbol(lib, "curl_free", &api.free) ||
        bind_symbol(lib, "curl_slist_append", &api.slist_append) ||
        bind_symbol(lib, "curl_slist_free_all", &api.slist_free_all) ||
        bind_symbol(lib, "curl_share_init", &api.share_init) ||
        bind_symbol(lib, "curl_share_setopt", &api.share_setopt) ||
        bind_symbol(lib, "curl_share_cleanup", &api.share_cleanup))
        return;
    /* The library stays loaded for the life of the process. */
    curl_ready = api.global_init(CURL_GLOBAL_DEFAULT);
    if (curl_ready != CURLE_OK)
        snprintf(curl_why, sizeof(curl_why), "libcurl failed to start: %s",
                 api.easy_strerror(curl_ready));
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a,
                       void *user)
{
    ksi_remote *r = user;

    (void)h;
    (void)a;
    pthread_mutex_lock(&r->share_lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
    ksi_remote *r = user;

    (void)h;
    pthread_mutex_unlock(&r->share_lock[data]);
}

/* The credentials to use for `name`, base64-encoded, or NULL. */
static char *credentials(const char *name, const ksi_remote_opts *o)
{
    char *pair = NULL, *file, *enc;

    if (o->user && o->password) {
        pair = ksi_malloc(strlen(o->user) + strlen(o->password) + 2);
        if (pair)
            snprintf(pair, strlen(o->user) + strlen(o->password) + 2,
                     "%s:%s", o->user, o->password);
    } else {
        file = o->auth_file ? ksi_strdup(o->auth_file) : default_auth_file();
        pair = file ? config_credentials(file, name) : NULL;
        ksi_free(file);
    }
    if (!pair)
        return NULL;
    enc = b64_encode(pair, strlen(pair));
    memset(pair, 0, strlen(pair));
    ksi_free(pair);
    return enc;
}

ksi_remote *ksi_remote_new(const char *host, const ksi_remote_opts *opts,
                           char *why, size_t cap)
{
    ksi_remote *r;
    const char *name = strcmp(host, DOCKER_HUB_API) == 0 ? DOCKER_HUB_NAME
                                                        : host;

    pthread_once(&curl_once, curl_start);
    if (curl_ready != CURLE_OK) {
        snprintf(why, cap, "HTTP is unavailable: %s", curl_why);
        return NULL;
    }
    r = ksi_calloc(1, sizeof(*r));
    if (!r)
        goto nomem;
    r->host = ksi_strdup(host);
    r->plain_http = opts->plain_http;
    r->base = ksi_malloc(strlen(host) + 9);
    if (!r->host || !r->base)
        goto nomem;
    snprintf(r->base, strlen(host) + 9, "%s://%s",
             opts->plain_http ? "http" : "https", host);
    r->basic = credentials(name, opts);
    pthread_mutex_init(&r->lock, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&r->share_lock[i], NULL);
    r->share = api.share_init();
    if (r->share) {
        api.share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
        api.share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        api.share_setopt(r->share, CURLSHOPT_USERDATA, r);
        api.share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        api.share_setopt(r->share, CURLSHOPT_SHARE,
                          CURL_LOCK_DATA_SSL_SESSION);
        api.share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    }
    return r;

nomem:
    if (r) {
        ksi_free(r->host);
        ksi_free(r->base);
        ksi_free(r);
    }
    snprintf(why, cap, "out of memory");
    return NULL;
}

void ksi_remote_free(ksi_remote *r)
{
    if (!r)
        return;
    if (r->share)
        api.share_cleanup(r->share);
    for (size_t i = 0; i < r->n_tokens; i++) {
        ksi_free(r->tokens[i].scope);
        ksi_free(r->tokens[i].value);
    }
    ksi_free(r->tokens);
    if (r->basic)
        memset(r->basic, 0, strlen(r->basic));
    ksi_free(r->basic);
    ksi_free(r->host);
    ksi_free(r->base);
    pthread_mutex_destroy(&r->lock);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&r->share_lock[i]);
    ksi_free(r);
}

/* The Authorization value known for a scope, copied, or NULL. */
static char *auth_for(ksi_remote *r, const char *scope)
{
    char *v = NULL;

    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_tokens && !v; i++) {
        if (strcmp(r->tokens[i].scope, scope) == 0)
            v = ksi_strdup(r->tokens[i].value);
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void auth_set(ksi_remote *r, const char *scope, const char *value)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_tokens; i++) {
        if (strcmp(r->tokens[i].scope, scope) == 0) {
            char *v = ksi_strdup(value);

            if (v) {
                ksi_free(r->tokens[i].value);
                r->tokens[i].value = v;
            }
            pthread_mutex_unlock(&r->lock);
            return;
        }
    }
    if (ksi_grow(&r->tokens, &r->cap_tokens, r->n_tokens + 1,
                 sizeof(*r->tokens)) == 0) {
        token t = { ksi_strdup(scope), ksi_strdup(value) };

        if (t.scope && t.value)
            r->tokens[r->n_tokens++] = t;
        else {
            ksi_free(t.scope);
            ksi_free(t.value);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

/* ---- one HTTP exchange --------------------------------------------------- */

typedef struct response {
    long status;
    unsigned char *body;
    size_t len, limit;
    int too_big;
    char challenge[MAX_HEADER];     /* WWW-Authenticate */
    char digest[128];               /* Docker-Content-Digest */
    char link[MAX_HEADER];          /* Link, for paging */
    long retry_after;
} response;

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    response *resp = user;
    size_t len = size * n;
    unsigned char *grown;

    if (resp->len + len > resp->limit) {
        resp->too_big = 1;
        return 0;
    }
    grown = ksi_realloc(resp->body, resp->len + len + 1);
    if (!grown)
        return 0;
    resp->body = grown;
    memcpy(resp->body + resp->len, data, len);
    resp->len += len;
    resp->body[resp->len] = '\0';
    return len;
}

/* Copies a header's value, trimmed, if `line` is that header. */
static int header_value(const char *line, size_t len, const char *name,
                        char *out, size_t cap)
{
    size_t n = strlen(name);

    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    line += n + 1;
    len -= n + 1;
    while (len && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
                   line[len - 1] == ' '))
        len--;
    snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), line);
    return 1;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    response *resp = user;
    size_t len = size * n;
    char retry[32];

    /* A redirect's headers are not the final response's. */
    if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
        resp->challenge[0] = resp->digest[0] = resp->link[0] = '\0';
        resp->retry_after = 0;
    }
    header_value(data, len, "WWW-Authenticate", resp->challenge,
                 sizeof(resp->challenge));
    header_value(data, len, "Docker-Content-Digest", resp->digest,
                 sizeof(resp->digest));
    header_value(data, len, "Link", resp->link, sizeof(resp->link));
    if (header_value(data, len, "Retry-After", retry, sizeof(retry)))
        resp->retry_after = strtol(retry, NULL, 10);
    return len;
}

static const char accept_manifests[] =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.v1+prettyjws, "
    "application/vnd.docker.distribution.manifest.v1+json";

/* A handle with the settings every request shares. */
static CURL *new_handle(ksi_remote *r, const char *url)
{
    CURL *h = api.easy_init();

    if (!h)
        return NULL;
    api.easy_setopt(h, CURLOPT_URL, url);
    api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    api.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    api.easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    api.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    api.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    api.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
    api.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    api.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    api.easy_setopt(h, CURLOPT_USERAGENT, "keysift/" KS_VERSION);
    if (r->share)
        api.easy_setopt(h, CURLOPT_SHARE, r->share);
    return h;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/*
 * How long to wait after failed attempt `attempt` (1-based): doubling from
 * FIRST_BACKOFF_MS up to MAX_BACKOFF_MS, or what a Retry-After of up to 30
 * seconds asks.
 */
static long backoff_ms(int attempt, const response *resp)
{
    long ms = (long)FIRST_BACKOFF_MS << (attempt - 1);

    if (ms > MAX_BACKOFF_MS)
        ms = MAX_BACKOFF_MS;
    if (resp && resp->retry_after > 0 && resp->retry_after <= 30)
        ms = resp->retry_after * 1000;
    return ms;
}

/* Pulls `key="value"` out of a challenge's parameters. */
static int challenge_param(const char *ch, const char *key, char *out,
                           size_t cap)
{
    size_t klen = strlen(key);

    for (const char *p = ch; (p = strstr(p, key)) != NULL; p += klen) {
        const char *v, *end;

        if (p != ch && p[-1] != ' ' && p[-1] != ',')
            continue;
        if (p[klen] != '=')
            continue;
        v = p + klen + 1;
        if (*v == '"') {
            end = strchr(++v, '"');
        } else {
            end = v + strcspn(v, ", ");
        }
        if (!end)
            return 0;
        snprintf(out, cap, "%.*s", (int)(end - v), v);
        return 1;
    }
    return 0;
}

static int append_param(char *url, size_t cap, const char *key,
                        const char *value, CURL *h)
{
    char *esc = api.easy_escape(h, value, 0);
    size_t used = strlen(url);
    int n;

    if (!esc)
        return -1;
    n = snprintf(url + used, cap - used, "%s%s=%s", strchr(url, '?') ? "&"
                                                                     : "?",
                 key, esc);
    api.free(esc);
    return n > 0 && (size_t)n < cap - used ? 0 : -1;
}

/*
 * Answers a 401: fetches a token from the Bearer challenge's service (with
 * the user's credentials if any), or falls back to Basic. Stores what to
 * send for `scope`. Returns 0 when there is something new to try.
 */
static ksi_remote_err authenticate(ksi_remote *r, const char *challenge,
                                   const char *scope, char *why, size_t cap)
{
    char realm[1024], service[256], want[512], url[4096], value[8192];
    struct curl_slist *hdr = NULL;
    response resp = { 0 };
    json_t *doc = NULL;
    const char *tok;
    CURL *h;
    ksi_remote_err err = KSI_REMOTE_AUTH;

    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (!r->basic) {
            snprintf(why, cap, "%s needs credentials (log in with docker "
                     "login, or set KEYSIFT_REGISTRY_USER and "
                     "KEYSIFT_REGISTRY_PASSWORD)", r->host);
            return KSI_REMOTE_AUTH;
        }
        snprintf(value, sizeof(value), "Authorization: Basic %s", r->basic);
        auth_set(r, scope, value);
        return KSI_REMOTE_OK;
    }
    if (strncasecmp(challenge, "Bearer", 6) != 0 ||
        !challenge_param(challenge, "realm", realm, sizeof(realm))) {
        snprintf(why, cap, "%s asks for an authentication keysift does not "
                 "speak: %.100s", r->host, challenge);
        return KSI_REMOTE_AUTH;
    }
    if (!challenge_param(challenge, "scope", want, sizeof(want)))
        snprintf(want, sizeof(want), "%s", scope);
    h = new_handle(r, realm);
    if (!h)
        return KSI_REMOTE_NOMEM;
    snprintf(url, sizeof(url), "%s", realm);
    if ((challenge_param(challenge, "service", service, sizeof(service)) &&
         append_param(url, sizeof(url), "service", service, h)) ||
        append_param(url, sizeof(url), "scope", want, h)) {
        snprintf(why, cap, "%s: token service address too long", r->host);
        goto out;
    }
    if (r->basic) {
        snprintf(value, sizeof(value), "Authorization: Basic %s", r->basic);
        hdr = api.slist_append(hdr, value);
    }
    resp.limit = MAX_TOKEN_REPLY;
    api.easy_setopt(h, CURLOPT_URL, url);
    api.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    api.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    api.easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    if (api.easy_perform(h) != CURLE_OK) {
        snprintf(why, cap, "%s: its token service cannot be reached",
                 r->host);
        err = KSI_REMOTE_FAILED;
        goto out;
    }
    api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    if (resp.status == 401 || resp.status == 403) {
        snprintf(why, cap, "%s refused the credentials%s", r->host,
                 r->basic ? "" : " (none were given: log in with docker "
                 "login, or set KEYSIFT_REGISTRY_USER and "
                 "KEYSIFT_REGISTRY_PASSWORD)");
        goto out;
    }
    doc = resp.body ? json_loads((const char *)resp.body, 0, NULL) : NULL;
    tok = json_string_value(json_object_get(doc, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(doc, "access_token"));
    if (resp.status != 200 || !tok || strlen(tok) > sizeof(value) - 32) {
        snprintf(why, cap, "%s: its token service answered HTTP %ld without "
                 "a token", r->host, resp.status);
        err = KSI_REMOTE_FAILED;
        goto out;
    }
    snprintf(value, sizeof(value), "Authorization: Bearer %s", tok);
    auth_set(r, scope, value);
    err = KSI_REMOTE_OK;
out:
    memset(value, 0, sizeof(value));
    json_decref(doc);
    ksi_free(resp.body);
    api.slist_free_all(hdr);
    api.easy_cleanup(h);
    return err;
}

/* The error a finished exchange's status means, or OK. */
static ksi_remote_err status_error(const ksi_remote *r, long status,
                                   const char *url_path, char *why,
                                   size_t cap)
{
    if (status >= 200 && status < 300)
        return KSI_REMOTE_OK;
    if (status == 404) {
        snprintf(why, cap, "%s has no %s", r->host, url_path);
        return KSI_REMOTE_NOT_FOUND;
    }
    if (status == 401 || status == 403) {
        snprintf(why, cap, "%s refused access to %s%s", r->host, url_path,
                 r->basic ? " with the credentials given"
                          : " (no credentials: log in with docker login, or "
                            "set KEYSIFT_REGISTRY_USER and "
                            "KEYSIFT_REGISTRY_PASSWORD)");
        return KSI_REMOTE_AUTH;
    }
    snprintf(why, cap, "%s answered HTTP %ld for %s", r->host, status,
             url_path);
    return KSI_REMOTE_FAILED;
}

static int retryable(long status)
{
    return status == 429 || status == 408 || (status >= 500 && status < 600);
}

/*
 * GETs `path` (after /v2/) into resp, authenticating for `scope` and
 * retrying transient failures. Shared by every in-memory request.
 */
static ksi_remote_err fetch(ksi_remote *r, const char *path,
                            const char *scope, int manifests, size_t limit,
                            response *resp, char *why, size_t cap)
{
    char url[4096];
    int authed = 0;

    snprintf(url, sizeof(url), "%s/v2/%s", r->base, path);
    for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        struct curl_slist *hdr = NULL;
        char *auth = auth_for(r, scope);
        CURL *h = new_handle(r, url);
        CURLcode cc;
        ksi_remote_err err;

        if (!h) {
            ksi_free(auth);
            return KSI_REMOTE_NOMEM;
        }
        if (manifests)
            hdr = api.slist_append(hdr, accept_manifests);
        if (auth)
            hdr = api.slist_append(hdr, auth);
        ksi_free(resp->body);
        memset(resp, 0, sizeof(*resp));
        resp->limit = limit;
        api.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        api.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        api.easy_setopt(h, CURLOPT_WRITEDATA, resp);
        api.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        api.easy_setopt(h, CURLOPT_HEADERDATA, resp);
        cc = api.easy_perform(h);
        api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        api.easy_cleanup(h);
        api.slist_free_all(hdr);
        if (auth)
            memset(auth, 0, strlen(auth));
        ksi_free(auth);
        if (resp->too_big) {
            snprintf(why, cap, "%s/%s is larger than %zu bytes", r->host,
                     path, limit);
            return KSI_REMOTE_TOO_BIG;
        }
        if (cc != CURLE_OK) {
            int tls = !r->plain_http && (cc == CURLE_SSL_CONNECT_ERROR ||
                                         cc == CURLE_PEER_FAILED_VERIFICATION);

            snprintf(why, cap, "cannot reach %s: %s%s", r->host,
                     api.easy_strerror(cc),
                     cc == CURLE_SSL_CONNECT_ERROR
                         ? " (a plain-HTTP registry needs --insecure)"
                         : "");
            /* A TLS handshake that failed will fail again. */
            if (tls)
                return KSI_REMOTE_FAILED;
            if (attempt < MAX_ATTEMPTS)
                sleep_ms(backoff_ms(attempt, NULL));
            continue;
        }
        if (resp->status == 401 && !authed && resp->challenge[0]) {
            authed = 1;
            err = authenticate(r, resp->challenge, scope, why, cap);
            if (err != KSI_REMOTE_OK)
                return err;
            attempt--;
            continue;
        }
        if (retryable(resp->status) && attempt < MAX_ATTEMPTS) {
            snprintf(why, cap, "%s answered HTTP %ld", r->host, resp->status);
            sleep_ms(backoff_ms(attempt, resp));
            continue;
        }
        return status_error(r, resp->status, path, why, cap);
    }
    return KSI_REMOTE_FAILED;
}

static void repo_scope(const char *repo, char *out, size_t cap)
{
    snprintf(out, cap, "repository:%s:pull", repo);
}

ksi_remote_err ksi_remote_get(ksi_remote *r, const char *repo, int manifest,
                              const char *ref, size_t limit,
                              unsigned char **body, size_t *len,
                              char **digest, char *why, size_t cap)
{
    char path[1024], scope[512];
    response resp = { 0 };
    ksi_remote_err err;

    snprintf(path, sizeof(path), "%s/%s/%s", repo,
             manifest ? "manifests" : "blobs", ref);
    repo_scope(repo, scope, sizeof(scope));
    err = fetch(r, path, scope, manifest, limit, &resp, why, cap);
    if (err != KSI_REMOTE_OK) {
        ksi_free(resp.body);
        return err;
    }
    if (!resp.body) {
        resp.body = ksi_calloc(1, 1);
        if (!resp.body)
            return KSI_REMOTE_NOMEM;
    }
    *body = resp.body;
    *len = resp.len;
    if (digest) {
        *digest = resp.digest[0] ? ksi_strdup(resp.digest) : NULL;
        if (resp.digest[0] && !*digest) {
            ksi_free(resp.body);
            return KSI_REMOTE_NOMEM;
        }
    }
    return KSI_REMOTE_OK;
}

/* ---- the catalog -------------------------------------------------------- */

void ksi_remote_strings_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ksi_free(list[i]);
    ksi_free(list);
}

/* The path after /v2/ of a Link header's rel="next" target, or "". */
static void next_page(const char *link, char *out, size_t cap)
{
    const char *lt = strchr(link, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    const char *v2;

    out[0] = '\0';
    if (!lt || !gt || !strstr(gt, "rel=\"next\""))
        return;
    v2 = strstr(lt, "/v2/");
    if (v2 && v2 < gt)
        snprintf(out, cap, "%.*s", (int)(gt - v2 - 4), v2 + 4);
}

/* Pages through a list endpoint, collecting the strings of `field`. */
static ksi_remote_err list_pages(ksi_remote *r, const char *first,
                                 const char *scope, const char *field,
                                 char ***items, size_t *n, char *why,
                                 size_t cap)
{
    char path[4096];
    size_t have = 0, room = 0;
    ksi_remote_err err = KSI_REMOTE_OK;

    *items = NULL;
    *n = 0;
    snprintf(path, sizeof(path), "%s", first);
    for (int page = 0; path[0] && page < 100000; page++) {
        response resp = { 0 };
        json_t *doc, *list, *v;
        size_t i;

        err = fetch(r, path, scope, 0, KSI_MAX_REGISTRY_PAGE, &resp, why,
                    cap);
        if (err != KSI_REMOTE_OK) {
            ksi_free(resp.body);
            break;
        }
        doc = resp.body ? json_loads((const char *)resp.body, 0, NULL)
                        : NULL;
        list = json_object_get(doc, field);
        json_array_foreach(list, i, v) {
            const char *s = json_string_value(v);
            char *copy = s ? ksi_strdup(s) : NULL;

            if (!s)
                continue;
            if (!copy || ksi_grow(items, &room, have + 1, sizeof(**items))) {
                ksi_free(copy);
                err = KSI_REMOTE_NOMEM;
                break;
            }
            (*items)[have++] = copy;
        }
        if (!doc && err == KSI_REMOTE_OK) {
            snprintf(why, cap, "%s: /v2/%.200s is not JSON", r->host, path);
            err = KSI_REMOTE_FAILED;
        }
        next_page(resp.link, path, sizeof(path));
        json_decref(doc);
        ksi_free(resp.body);
        if (err != KSI_REMOTE_OK)
            break;
    }
    *n = have;
    return err;
}

ksi_remote_err ksi_remote_catalog(ksi_remote *r, char ***repos, size_t *n,
                                  char *why, size_t cap)
{
    return list_pages(r, "_catalog?n=1000", "registry:catalog:*",
                      "repositories", repos, n, why, cap);
}

ksi_remote_err ksi_remote_tags(ksi_remote *r, const char *repo,
                               char ***tags, size_t *n, char *why,
                               size_t cap)
{
    char path[1024], scope[512];

    snprintf(path, sizeof(path), "%s/tags/list?n=1000", repo);
    repo_scope(repo, scope, sizeof(scope));
    return list_pages(r, path, scope, "tags", tags, n, why, cap);
}

/* ---- streaming a blob --------------------------------------------------- */

struct ksi_remote_stream {
    ksi_remote *r;
    char *repo;
    char *digest;
    int write_fd;           /* the thread's end of the socket pair */
    int read_fd;            /* the reader's end */
    pthread_t thread;
    CURL *h;                /* the transfer under way */
    uint64_t delivered;     /* bytes handed to the reader */
    uint64_t resumed_at;    /* `delivered` when this attempt began */
    int first_write;        /* this attempt has not written yet */
    uint64_t skip;          /* bytes of a restarted response to drop */
    int gone;               /* the reader closed its end */
    ksi_remote_err result;
    char why[512];
};

static size_t on_stream(char *data, size_t size, size_t n, void *user)
{
    ksi_remote_stream *st = user;
    size_t len = size * n, done = 0;
    long status = 0;

    /* A server that ignores the range sends the whole blob again. */
    if (st->first_write) {
        st->first_write = 0;
        api.easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &status);
        st->skip = status == 200 ? st->resumed_at : 0;
    }
    if (st->skip) {
        size_t drop = st->skip < len ? (size_t)st->skip : len;

        st->skip -= drop;
        done = drop;
    }
    while (done < len) {
        ssize_t w = send(st->write_fd, data + done, len - done,
                         MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st->gone = 1;
            return 0;
        }
        done += (size_t)w;
        st->delivered += (uint64_t)w;
    }
    return len;
}

/* One transfer attempt from st->delivered on. */
static CURLcode stream_once(ksi_remote_stream *st, const char *url,
                            const char *scope, long *status)
{
    struct curl_slist *hdr = NULL;
    char *auth = auth_for(st->r, scope);
    char range[64];
    CURL *h = new_handle(st->r, url);
    response head = { 0 };
    CURLcode cc;

    if (!h) {
        ksi_free(auth);
        return CURLE_OUT_OF_MEMORY;
    }
    if (auth)
        hdr = api.slist_append(hdr, auth);
    st->h = h;
    st->resumed_at = st->delivered;
    st->first_write = 1;
    if (st->delivered) {
        snprintf(range, sizeof(range), "%llu-",
                 (unsigned long long)st->delivered);
        api.easy_setopt(h, CURLOPT_RANGE, range);
    }
    api.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    api.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_stream);
    api.easy_setopt(h, CURLOPT_WRITEDATA, st);
    api.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    api.easy_setopt(h, CURLOPT_HEADERDATA, &head);
    /* Only a successful response's body is the blob. */
    api.easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    cc = api.easy_perform(h);
    api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    st->h = NULL;
    if (*status == 401 && head.challenge[0] &&
        authenticate(st->r, head.challenge, scope, st->why,
                     sizeof(st->why)) == KSI_REMOTE_OK)
        *status = -401;
    api.easy_cleanup(h);
    api.slist_free_all(hdr);
    if (auth)
        memset(auth, 0, strlen(auth));
    ksi_free(auth);
    return cc;
}

static void *stream_main(void *arg)
{
    ksi_remote_stream *st = arg;
    char url[4096], scope[512];
    int attempt = 0, reauth = 0;

    snprintf(url, sizeof(url), "%s/v2/%s/blobs/%s", st->r->base, st->repo,
             st->digest);
    repo_scope(st->repo, scope, sizeof(scope));
    st->result = KSI_REMOTE_FAILED;
    while (attempt < MAX_ATTEMPTS && !st->gone) {
        uint64_t before = st->delivered;
        long status = 0;
        CURLcode cc = stream_once(st, url, scope, &status);

        if (cc == CURLE_OK) {
            st->result = KSI_REMOTE_OK;
            break;
        }
        if (st->gone)
            break;
        if (status == -401 && !reauth++)
            continue;
        if (status == -401)
            status = 401;
        if (status == 404 || status == 401 || status == 403) {
            st->result = status_error(st->r, status, "that blob", st->why,
                                      sizeof(st->why));
            break;
        }
        snprintf(st->why, sizeof(st->why), "%s: blob %s broke off after "
                 "%llu bytes: %s", st->r->host, st->digest,
                 (unsigned long long)st->delivered,
                 status >= 400 ? "server error" : api.easy_strerror(cc));
        /* Progress earns the transfer a fresh set of attempts. */
        attempt = st->delivered > before ? 1 : attempt + 1;
        if (attempt < MAX_ATTEMPTS)
            sleep_ms(backoff_ms(attempt, NULL));
    }
    shutdown(st->write_fd, SHUT_WR);
    return NULL;
}

ksi_remote_err ksi_remote_open_blob(ksi_remote *r, const char *repo,
                                    const char *digest,
                                    ksi_remote_stream **out, int *fd,
                                    char *why, size_t cap)
{
    ksi_remote_stream *st = ksi_calloc(1, sizeof(*st));
    int pair[2];

    if (!st || !(st->repo = ksi_strdup(repo)) ||
        !(st->digest = ksi_strdup(digest))) {
        if (st) {
            ksi_free(st->repo);
            ksi_free(st);
        }
        snprintf(why, cap, "out of memory");
        return KSI_REMOTE_NOMEM;
    }
    st->r = r;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        snprintf(why, cap, "cannot make a socket pair: %s", strerror(errno));
        goto fail;
    }
    st->read_fd = pair[0];
    st->write_fd = pair[1];
    if (pthread_create(&st->thread, NULL, stream_main, st) != 0) {
        snprintf(why, cap, "cannot start a download thread");
        close(pair[0]);
        close(pair[1]);
        goto fail;
    }
    *out = st;
    *fd = st->read_fd;
    return KSI_REMOTE_OK;

fail:
    ksi_free(st->repo);
    ksi_free(st->digest);
    ksi_free(st);
    return KSI_REMOTE_FAILED;
}

ksi_remote_err ksi_remote_close_blob(ksi_remote_stream *st, char *why,
                                     size_t cap)
{
    ksi_remote_err err;

    /* Closing the reader's end first unblocks a thread still sending. */
    close(st->read_fd);
    pthread_join(st->thread, NULL);
    close(st->write_fd);
    err = st->result;
    if (err != KSI_REMOTE_OK)
        snprintf(why, cap, "%s", st->why[0] ? st->why : "download failed");
    ksi_free(st->repo);
    ksi_free(st->digest);
    ksi_free(st);
    return err;
}
