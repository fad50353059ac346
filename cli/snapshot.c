/*
 * snapshot.c - `scan --snapshot FILE` and `keysift diff OLD NEW`.
 *
 * A snapshot records what one scan saw: when, with which keysift and which
 * rules, what it was asked to scan, the images found there (manifest,
 * config and layer digests) and every finding it reported, each location
 * with its key. Secrets are redacted unless the scan had --show-secrets.
 *
 * `diff` compares two snapshots by location key (see location.c): a key
 * only the new one has is a new finding, one only the old one has is
 * resolved. Since keys ignore lines and layer digests, rebuilding an image
 * or editing around an old secret changes nothing; a secret that appears
 * in a new file or layer is new.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SNAPSHOT_FORMAT 1

/* ---- writing ------------------------------------------------------------ */

/* UTC now, or SOURCE_DATE_EPOCH when set (reproducible records). */
static void created_at(char *out, size_t cap)
{
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    time_t now = time(NULL);
    struct tm tm;

    if (epoch && *epoch) {
        char *end;
        long long v = strtoll(epoch, &end, 10);

        if (!*end && v >= 0)
            now = (time_t)v;
    }
    gmtime_r(&now, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *string_list(const char *const *items, size_t n)
{
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i] ? report_json_text(items[i])
                                             : json_null());
    return list;
}

static json_t *image_json(const saved_image *img)
{
    json_t *j = json_object();

    json_object_set_new(j, "input", report_json_text(img->input));
    json_object_set_new(j, "reference", report_json_text(img->reference));
    json_object_set_new(j, "manifest_digest",
                        report_json_text(img->manifest_digest));
    json_object_set_new(j, "platform", report_json_text(img->platform));
    json_object_set_new(j, "config_digest",
                        report_json_text(img->config_digest));
    json_object_set_new(j, "layers",
                        string_list((const char *const *)img->layers,
                                    img->n_layers));
    return j;
}

static json_t *rules_json(const snapshot_info *info, const report *r)
{
    json_t *j = json_object();

    json_object_set_new(j, "hash", report_json_text(r->rules_hash));
    json_object_set_new(j, "count", json_integer((json_int_t)info->n_rules));
    json_object_set_new(j, "builtin_version",
                        info->builtin_rules ? json_string(KS_VERSION)
                                            : json_null());
    json_object_set_new(j, "files", string_list(info->rule_files,
                                                info->n_rule_files));
    return j;
}

static json_t *snapshot_json(const report *r, const snapshot_info *info,
                             int show)
{
    json_t *root = json_object();
    json_t *tool = json_object();
    json_t *images = json_array();
    json_t *findings = json_array();
    char when[32];

    created_at(when, sizeof(when));
    json_object_set_new(tool, "name", json_string("keysift"));
    json_object_set_new(tool, "version", json_string(KS_VERSION));
    for (size_t i = 0; i < r->n_images; i++)
        json_array_append_new(images, image_json(&r->images[i]));
    for (size_t i = 0; i < r->n_groups; i++)
        json_array_append_new(findings,
                              report_finding_json(&r->groups[i], show));
    json_object_set_new(root, "keysift_snapshot",
                        json_integer(SNAPSHOT_FORMAT));
    json_object_set_new(root, "created", json_string(when));
    json_object_set_new(root, "tool", tool);
    json_object_set_new(root, "rules", rules_json(info, r));
    json_object_set_new(root, "config", info->config
                                            ? report_json_text(info->config)
                                            : json_null());
    json_object_set_new(root, "baseline",
                        info->baseline ? report_json_text(info->baseline)
                                       : json_null());
    json_object_set_new(root, "inputs", string_list(info->inputs,
                                                    info->n_inputs));
    json_object_set_new(root, "images", images);
    json_object_set_new(root, "findings", findings);
    json_object_set_new(root, "summary", report_summary_json(r));
    return root;
}

int snapshot_write(const char *path, const report *r,
                   const snapshot_info *info, int show)
{
    json_t *root = snapshot_json(r, info, show);
    FILE *out = fopen(path, "w");
    int rc = -1;

    if (!out) {
        cli_error("%s: cannot write the snapshot: %s", path,
                  strerror(errno));
        json_decref(root);
        return -1;
    }
    if (root && json_dumpf(root, out, JSON_INDENT(2) |
                                          JSON_PRESERVE_ORDER) == 0)
        rc = fputc('\n', out) == EOF ? -1 : 0;
    if (fclose(out) != 0)
        rc = -1;
    if (rc)
        cli_error("%s: cannot write the snapshot", path);
    json_decref(root);
    return rc;
}

/* ---- reading and comparing ---------------------------------------------- */

/* One location of a snapshot's finding, with the key it is compared by. */
typedef struct entry {
    const char *key;
    json_t *finding;
    json_t *location;
} entry;

typedef struct snapshot {
    const char *path;
    json_t *root;
    entry *entries;
    size_t n;
} snapshot;

static int entry_order(const void *x, const void *y)
{
    const entry *a = x, *b = y;

    return strcmp(a->key, b->key);
}

static int snapshot_entries(snapshot *s, json_t *findings)
{
    size_t i, k, total = 0;
    json_t *f, *loc;

    json_array_foreach(findings, i, f)
        total += json_array_size(json_object_get(f, "locations"));
    s->entries = calloc(total + 1, sizeof(*s->entries));
    if (!s->entries) {
        cli_error("out of memory reading %s", s->path);
        return -1;
    }
    json_array_foreach(findings, i, f) {
        json_array_foreach(json_object_get(f, "locations"), k, loc) {
            const char *key = json_string_value(json_object_get(loc,
                                                                "fingerprint"));

            if (!key) {
                cli_error("%s: finding %zu, location %zu has no "
                          "fingerprint; was it written by an older "
                          "keysift? Take the snapshot again", s->path, i, k);
                return -1;
            }
            s->entries[s->n++] = (entry){ key, f, loc };
        }
    }
    qsort(s->entries, s->n, sizeof(*s->entries), entry_order);
    return 0;
}

static int snapshot_load(snapshot *s, const char *path)
{
    json_error_t err;
    json_t *findings;

    memset(s, 0, sizeof(*s));
    s->path = path;
    s->root = json_load_file(path, 0, &err);
    if (!s->root) {
        cli_error("%s: cannot read the snapshot: %s (line %d)", path,
                  err.text, err.line);
        return -1;
    }
    findings = json_object_get(s->root, "findings");
    if (json_integer_value(json_object_get(s->root, "keysift_snapshot")) !=
            SNAPSHOT_FORMAT || !json_is_array(findings)) {
        cli_error("%s: not a keysift snapshot (make one with 'keysift scan "
                  "--snapshot FILE')", path);
        return -1;
    }
    return snapshot_entries(s, findings);
}

static void snapshot_free(snapshot *s)
{
    free(s->entries);
    json_decref(s->root);
}

static int has_key(const snapshot *s, const char *key)
{
    entry probe = { key, NULL, NULL };

    return s->n && bsearch(&probe, s->entries, s->n, sizeof(*s->entries),
                           entry_order) != NULL;
}

static const char *str_of(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));

    return v ? v : "";
}

static void put_json_string(FILE *out, json_t *obj, const char *key)
{
    const char *v = str_of(obj, key);

    put_escaped(out, v, strlen(v));
}

static void text_entry(FILE *out, const char *what, const entry *e)
{
    json_t *chain = json_object_get(e->location, "chain");
    json_t *part;
    size_t i;

    fprintf(out, "%s [%s] ", what, str_of(e->finding, "severity"));
    put_json_string(out, e->finding, "rule_name");
    fprintf(out, " (%s)\n  where:       ", str_of(e->finding, "rule_id"));
    json_array_foreach(chain, i, part) {
        const char *p = json_string_value(part);

        if (i)
            fputs(" / ", out);
        put_escaped(out, p ? p : "", p ? strlen(p) : 0);
    }
    fprintf(out, ":%lld:%lld\n  secret:      ",
            (long long)json_integer_value(json_object_get(e->location,
                                                          "line")),
            (long long)json_integer_value(json_object_get(e->location,
                                                          "column")));
    put_json_string(out, e->finding, "secret");
    fprintf(out, "\n  fingerprint: %s\n", e->key);
}

static json_t *json_entry(const entry *e)
{
    json_t *j = json_object();
    const char *key;
    json_t *v;

    json_object_foreach(e->finding, key, v) {
        if (strcmp(key, "locations") != 0)
            json_object_set(j, key, v);
    }
    json_object_set(j, "location", e->location);
    return j;
}

/* ---- images ------------------------------------------------------------- */

static int same_image(json_t *a, json_t *b)
{
    return strcmp(str_of(a, "reference"), str_of(b, "reference")) == 0 &&
           strcmp(str_of(a, "platform"), str_of(b, "platform")) == 0;
}

static json_t *find_image(json_t *images, json_t *like)
{
    size_t i;
    json_t *img;

    json_array_foreach(images, i, img) {
        if (same_image(img, like))
            return img;
    }
    return NULL;
}

/* The layers of `a` that `b` does not have. */
static json_t *layers_missing(json_t *a, json_t *b)
{
    json_t *out = json_array();
    json_t *bl = json_object_get(b, "layers");
    size_t i, k;
    json_t *la, *lb;

    json_array_foreach(json_object_get(a, "layers"), i, la) {
        int found = 0;

        json_array_foreach(bl, k, lb)
            found |= json_equal(la, lb);
        if (!found)
            json_array_append(out, la);
    }
    return out;
}

static json_t *image_change(json_t *old, json_t *new)
{
    json_t *j = json_object();
    json_t *any = new ? new : old;

    json_object_set_new(j, "reference", report_json_text(str_of(any,
                                                                "reference")));
    json_object_set(j, "platform", json_object_get(any, "platform"));
    json_object_set_new(j, "change", json_string(!old   ? "added"
                                                 : !new ? "removed"
                                                        : "changed"));
    json_object_set(j, "old_manifest", old ? json_object_get(old,
                                                             "manifest_digest")
                                           : json_null());
    json_object_set(j, "new_manifest", new ? json_object_get(new,
                                                             "manifest_digest")
                                           : json_null());
    json_object_set_new(j, "layers_added", new && old
                                               ? layers_missing(new, old)
                                               : json_array());
    json_object_set_new(j, "layers_removed", new && old
                                                 ? layers_missing(old, new)
                                                 : json_array());
    return j;
}

/* Images added, removed, or whose manifest changed between a and b. */
static json_t *image_changes(const snapshot *a, const snapshot *b)
{
    json_t *ai = json_object_get(a->root, "images");
    json_t *bi = json_object_get(b->root, "images");
    json_t *out = json_array();
    size_t i;
    json_t *img;

    json_array_foreach(bi, i, img) {
        json_t *old = find_image(ai, img);

        if (!old || !json_equal(json_object_get(old, "manifest_digest"),
                                json_object_get(img, "manifest_digest")))
            json_array_append_new(out, image_change(old, img));
    }
    json_array_foreach(ai, i, img) {
        if (!find_image(bi, img))
            json_array_append_new(out, image_change(img, NULL));
    }
    return out;
}

static void text_images(FILE *out, json_t *changes)
{
    size_t i, k;
    json_t *c, *d;

    json_array_foreach(changes, i, c) {
        const char *platform = str_of(c, "platform");

        fprintf(out, "image %s%s%s%s: %s", str_of(c, "reference"),
                *platform ? " [" : "", platform, *platform ? "]" : "",
                str_of(c, "change"));
        if (strcmp(str_of(c, "change"), "changed") == 0)
            fprintf(out, ", manifest %s -> %s", str_of(c, "old_manifest"),
                    str_of(c, "new_manifest"));
        json_array_foreach(json_object_get(c, "layers_added"), k, d)
            fprintf(out, "\n  layer added:   %s", json_string_value(d));
        json_array_foreach(json_object_get(c, "layers_removed"), k, d)
            fprintf(out, "\n  layer removed: %s", json_string_value(d));
        fputc('\n', out);
    }
}

/* ---- the command -------------------------------------------------------- */

static const char diff_usage[] =
    "Usage: keysift diff [OPTIONS] OLD NEW\n"
    "\n"
    "Compares two snapshots written by 'keysift scan --snapshot FILE' and\n"
    "lists the findings NEW has and OLD has not (new) and those OLD has and\n"
    "NEW has not (resolved), matched by location fingerprint: rule, secret\n"
    "and path, not line or layer digest. Images whose manifest changed are\n"
    "listed with the layers added and removed.\n"
    "\n"
    "Options:\n"
    "  -f, --format FORMAT   text (default) or json\n"
    "  -q, --quiet           no summary on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 nothing new, 1 new findings, 2 an error occurred.\n";

typedef struct diff_result {
    entry **added;
    size_t n_added;
    entry **gone;
    size_t n_gone;
    size_t unchanged;
    json_t *images;
} diff_result;

/* Entries of `a` whose key `b` lacks, into *out (counting the rest). */
static int missing_from(const snapshot *a, const snapshot *b, entry ***out,
                        size_t *n, size_t *present)
{
    *out = calloc(a->n + 1, sizeof(**out));
    *n = 0;
    if (!*out)
        return -1;
    for (size_t i = 0; i < a->n; i++) {
        if (!has_key(b, a->entries[i].key))
            (*out)[(*n)++] = &a->entries[i];
        else if (present)
            (*present)++;
    }
    return 0;
}

static int write_diff_json(FILE *out, const diff_result *d)
{
    json_t *root = json_object();
    json_t *added = json_array(), *gone = json_array();
    int rc;

    for (size_t i = 0; i < d->n_added; i++)
        json_array_append_new(added, json_entry(d->added[i]));
    for (size_t i = 0; i < d->n_gone; i++)
        json_array_append_new(gone, json_entry(d->gone[i]));
    json_object_set_new(root, "new", added);
    json_object_set_new(root, "resolved", gone);
    json_object_set_new(root, "unchanged",
                        json_integer((json_int_t)d->unchanged));
    json_object_set(root, "images", d->images);
    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    return rc;
}

static void write_diff_text(FILE *out, const diff_result *d)
{
    for (size_t i = 0; i < d->n_added; i++)
        text_entry(out, "new", d->added[i]);
    for (size_t i = 0; i < d->n_gone; i++)
        text_entry(out, "resolved", d->gone[i]);
    text_images(out, d->images);
}

static int parse_diff_args(int argc, char **argv, out_format *fmt,
                           int *quiet)
{
    static const struct option longs[] = {
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":f:qh", longs, NULL)) != -1) {
        if (opt == 'f' && parse_format(optarg, fmt) == 0 &&
            *fmt != FORMAT_JSONL)
            continue;
        if (opt == 'q') {
            *quiet = 1;
            continue;
        }
        if (opt == 'h') {
            fputs(diff_usage, stdout);
            return 0;
        }
        if (opt == 'f')
            cli_error("unknown format '%s' (use text or json)", optarg);
        else
            cli_error("bad option '%s'; see 'keysift diff --help'",
                      argv[optind - 1]);
        return 2;
    }
    if (argc - optind != 2) {
        cli_error("diff wants two snapshots, OLD and NEW; see 'keysift diff "
                  "--help'");
        return 2;
    }
    return -1;
}

int cmd_diff(int argc, char **argv)
{
    out_format fmt = FORMAT_TEXT;
    int quiet = 0, rc = parse_diff_args(argc, argv, &fmt, &quiet);
    snapshot old, new;
    diff_result d;

    if (rc >= 0)
        return rc;
    memset(&old, 0, sizeof(old));
    memset(&new, 0, sizeof(new));
    memset(&d, 0, sizeof(d));
    rc = 2;
    if (snapshot_load(&old, argv[optind]) ||
        snapshot_load(&new, argv[optind + 1]))
        goto out;
    if (missing_from(&new, &old, &d.added, &d.n_added, &d.unchanged) ||
        missing_from(&old, &new, &d.gone, &d.n_gone, NULL)) {
        cli_error("out of memory comparing snapshots");
        goto out;
    }
    d.images = image_changes(&old, &new);
    if (fmt == FORMAT_JSON ? write_diff_json(stdout, &d)
                           : (write_diff_text(stdout, &d), 0)) {
        cli_error("stdout: cannot write the diff");
        goto out;
    }
    if (!quiet)
        fprintf(stderr, "keysift: %zu new, %zu resolved, %zu unchanged "
                "finding location%s\n", d.n_added, d.n_gone, d.unchanged,
                d.unchanged == 1 ? "" : "s");
    rc = d.n_added ? 1 : 0;
out:
    free(d.added);
    free(d.gone);
    json_decref(d.images);
    snapshot_free(&old);
    snapshot_free(&new);
    return rc;
}
