/*
 * plan_cmd.c - `keysift plan`: the unique layers and configs of image
 * sources, and every image that uses each, as JSON Lines.
 *
 * A registry backup is content-addressed: the work of scanning it is the
 * set of distinct layer digests, however many repositories and tags share
 * them. The plan is that set, in digest order, so that it is the same on
 * every machine and can be split by `scan --shard K/N` or inspected before
 * a long run.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char plan_usage[] =
    "Usage: keysift plan [OPTIONS] SOURCE...\n"
    "\n"
    "Lists what scanning the image SOURCEs (registry stores, OCI layouts,\n"
    "docker save archives, or references as 'keysift scan' takes them)\n"
    "involves, without scanning: one JSON line per unique layer (digest,\n"
    "stored size, media type, shard, and every image and layer index that\n"
    "uses it), then one per image config, each in digest order.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE     write the plan to FILE instead of stdout\n"
    "      --platform OS/ARCH  only images of this platform\n"
    "      --shard K/N       only the layers and configs of shard K of N,\n"
    "                        as 'keysift scan --shard K/N' would read them\n"
    "      --shards N        give each line its shard out of N (without\n"
    "                        --shard: the default N is 1)\n"
    "      --registry-auth FILE, --insecure\n"
    "                        for registries, as 'keysift scan' has them\n"
    "  -q, --quiet           no summary on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 listed, 2 an error (a source that could not be read;\n"
    "the others are still listed).\n";

/* One image's use of a layer or config. */
typedef struct use {
    char *digest;
    char *media_type;
    uint64_t size;
    int present;
    char *image;
    char *platform;
    int layer_index;        /* -1 for a config */
} use;

typedef struct use_list {
    use *items;
    size_t count, cap;
} use_list;

typedef struct plan_cli {
    const char *output;
    const char *platform;
    unsigned shard_index, shard_count;  /* --shard */
    unsigned shards;                    /* --shards, for the labels */
    const char *registry_auth;
    int insecure;
    int quiet;
    use_list layers, configs;
    uint64_t images;
    int failed;             /* out of memory */
} plan_cli;

static char *dup_or_null(const char *s, int *failed)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *failed = 1;
    return d;
}

static int add_use(plan_cli *c, use_list *list, const ks_image_info *img,
                   const char *digest, const char *media_type,
                   uint64_t size, int present, int index)
{
    use *u;

    if (c->shard_count > 1 &&
        ks_shard_of(digest, c->shard_count) != c->shard_index)
        return 0;
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        use *grown = realloc(list->items, cap * sizeof(*grown));

        if (!grown)
            return -1;
        list->items = grown;
        list->cap = cap;
    }
    u = &list->items[list->count++];
    memset(u, 0, sizeof(*u));
    u->digest = dup_or_null(digest, &c->failed);
    u->media_type = dup_or_null(media_type, &c->failed);
    u->size = size;
    u->present = present;
    u->image = dup_or_null(img->reference, &c->failed);
    u->platform = dup_or_null(img->platform, &c->failed);
    u->layer_index = index;
    return c->failed ? -1 : 0;
}

static int on_image(const ks_image_info *img, void *user)
{
    plan_cli *c = user;

    c->images++;
    if (img->config_digest &&
        add_use(c, &c->configs, img, img->config_digest, NULL,
                img->config_size, 1, -1))
        goto nomem;
    for (size_t i = 0; i < img->n_layers; i++) {
        const ks_layer_info *l = &img->layers[i];

        if (l->digest && add_use(c, &c->layers, img, l->digest,
                                 l->media_type, l->size, l->present,
                                 (int)i))
            goto nomem;
    }
    return 0;

nomem:
    c->failed = 1;
    return 1;
}

static int by_digest_then_user(const void *a, const void *b)
{
    const use *x = a, *y = b;
    int d = strcmp(x->digest, y->digest);

    if (!d)
        d = strcmp(x->image, y->image);
    if (!d)
        d = strcmp(x->platform ? x->platform : "",
                   y->platform ? y->platform : "");
    return d ? d : x->layer_index - y->layer_index;
}

/* The line for the run of uses [first, end) of one digest. */
static json_t *unit_json(const plan_cli *c, const use *first,
                         const use *end, const char *type)
{
    json_t *users = json_array();
    const char *media_type = NULL;
    int present = 0;

    for (const use *u = first; users && u < end; u++) {
        json_t *o = json_pack("{s:s, s:o}", "image", u->image, "platform",
                              u->platform ? json_string(u->platform)
                                          : json_null());

        if (o && u->layer_index >= 0)
            json_object_set_new(o, "layer_index",
                                json_integer(u->layer_index));
        json_array_append_new(users, o);
        present |= u->present;
        if (!media_type)
            media_type = u->media_type;
    }
    return json_pack("{s:s, s:s, s:I, s:o, s:b, s:i, s:o}", "type", type,
                     "digest", first->digest, "size",
                     (json_int_t)first->size, "media_type",
                     media_type ? json_string(media_type) : json_null(),
                     "present", present, "shard",
                     (int)ks_shard_of(first->digest, c->shards), "used_by",
                     users);
}

/* Writes one line per distinct digest; counts them and their bytes. */
static int write_units(const plan_cli *c, FILE *out, use_list *list,
                       const char *type, size_t *units, uint64_t *bytes)
{
    qsort(list->items, list->count, sizeof(*list->items),
          by_digest_then_user);
    for (size_t i = 0; i < list->count;) {
        size_t end = i + 1;
        json_t *line;

        while (end < list->count &&
               strcmp(list->items[end].digest, list->items[i].digest) == 0)
            end++;
        line = unit_json(c, &list->items[i], &list->items[end], type);
        (*units)++;
        *bytes += list->items[i].size;
        if (!line || json_dumpf(line, out, JSON_COMPACT) != 0 ||
            fputc('\n', out) == EOF) {
            json_decref(line);
            return -1;
        }
        json_decref(line);
        i = end;
    }
    return 0;
}

static void free_uses(use_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].digest);
        free(list->items[i].media_type);
        free(list->items[i].image);
        free(list->items[i].platform);
    }
    free(list->items);
}

static int on_diag(const ks_diag *d, void *user)
{
    (void)user;
    put_diag(stderr, d);
    return 0;
}

static int parse_args(plan_cli *c, int argc, char **argv)
{
    enum { OPT_PLATFORM = 256, OPT_SHARD, OPT_SHARDS, OPT_REGISTRY_AUTH,
           OPT_INSECURE };
    static const struct option longs[] = {
        { "output", required_argument, NULL, 'o' },
        { "platform", required_argument, NULL, OPT_PLATFORM },
        { "shard", required_argument, NULL, OPT_SHARD },
        { "shards", required_argument, NULL, OPT_SHARDS },
        { "registry-auth", required_argument, NULL, OPT_REGISTRY_AUTH },
        { "insecure", no_argument, NULL, OPT_INSECURE },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long n;
    char *end;
    int opt;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:qh", longs, NULL)) != -1) {
        switch (opt) {
        case 'o':
            c->output = optarg;
            break;
        case OPT_PLATFORM:
            if (!strchr(optarg, '/')) {
                cli_error("--platform wants OS/ARCH[/VARIANT], such as "
                          "linux/amd64, not '%s'", optarg);
                return 2;
            }
            c->platform = optarg;
            break;
        case OPT_SHARD:
            if (parse_shard_arg(optarg, &c->shard_index, &c->shard_count)) {
                cli_error("--shard wants K/N with 0 <= K < N, such as 0/4, "
                          "not '%s'", optarg);
                return 2;
            }
            break;
        case OPT_SHARDS:
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 || n > 65536) {
                cli_error("--shards wants a number from 1 to 65536, not "
                          "'%s'", optarg);
                return 2;
            }
            c->shards = (unsigned)n;
            break;
        case OPT_REGISTRY_AUTH:
            c->registry_auth = optarg;
            break;
        case OPT_INSECURE:
            c->insecure = 1;
            break;
        case 'q':
            c->quiet = 1;
            break;
        case 'h':
            fputs(plan_usage, stdout);
            return 0;
        case ':':
            cli_error("option '%s' needs a value; see 'keysift plan --help'",
                      argv[optind - 1]);
            return 2;
        default:
            cli_error("unknown option '%s'; see 'keysift plan --help'",
                      argv[optind - 1]);
            return 2;
        }
    }
    if (!c->shards)
        c->shards = c->shard_count ? c->shard_count : 1;
    if (optind >= argc) {
        cli_error("nothing to plan: name a registry store, an OCI layout or "
                  "a docker save archive (see 'keysift plan --help')");
        return 2;
    }
    return -1;
}

/* Lists every source's images into c. */
static int list_all(plan_cli *c, char **sources, size_t n,
                    ks_scan_stats *stats)
{
    rule_opts ro = { NULL, 0, 0, 1, 0 };
    ks_ruleset *rules = load_rules(&ro);
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_status st;

    if (!rules)
        return -1;
    ks_scan_options_init(&opts);
    opts.platform = c->platform;
    set_registry_options(&opts, c->registry_auth, c->insecure);
    opts.on_diag = on_diag;
    opts.user = c;
    st = ks_scan_new(rules, &opts, &scan);
    if (st == KS_OK)
        st = ks_scan_list_images(scan, (const char *const *)sources, n,
                                 on_image);
    if (st == KS_OK || st == KS_STOPPED)
        ks_scan_get_stats(scan, stats);
    ks_scan_free(scan);
    ks_ruleset_free(rules);
    if (c->failed)
        cli_error("out of memory listing images");
    else if (st != KS_OK)
        cli_error("plan failed: %s", ks_status_str(st));
    return c->failed || st != KS_OK ? -1 : 0;
}

int cmd_plan(int argc, char **argv)
{
    plan_cli c;
    ks_scan_stats stats = { 0 };
    uint64_t layer_bytes = 0, config_bytes = 0;
    size_t n_layers = 0, n_configs = 0;
    FILE *out = stdout;
    int rc;

    memset(&c, 0, sizeof(c));
    rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;
    rc = 2;
    if (list_all(&c, argv + optind, (size_t)(argc - optind), &stats))
        goto out;
    if (c.output && !(out = fopen(c.output, "w"))) {
        cli_error("%s: cannot write the plan: %s", c.output,
                  strerror(errno));
        goto out;
    }
    if (write_units(&c, out, &c.layers, "layer", &n_layers, &layer_bytes) ||
        write_units(&c, out, &c.configs, "config", &n_configs,
                    &config_bytes) ||
        fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
        cli_error("%s: cannot write the plan", c.output ? c.output
                                                        : "stdout");
        goto out;
    }
    if (!c.quiet)
        fprintf(stderr, "keysift: plan: %llu image%s, %zu unique layer%s "
                "(%.1f MB stored) used %zu time%s, %zu config%s\n",
                (unsigned long long)c.images, c.images == 1 ? "" : "s",
                n_layers, n_layers == 1 ? "" : "s",
                (double)layer_bytes / 1e6, c.layers.count,
                c.layers.count == 1 ? "" : "s", n_configs,
                n_configs == 1 ? "" : "s");
    rc = stats.errors ? 2 : 0;
out:
    free_uses(&c.layers);
    free_uses(&c.configs);
    return rc;
}
