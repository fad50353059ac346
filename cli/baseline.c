/*
 * baseline.c - `keysift baseline create`, and reading baselines back.
 *
 * A baseline is the set of locations a team has accepted, so that a gate
 * fails only on new ones. It holds location keys (see location.c) with
 * the rule, path and line for a reader, and never a secret, so it can be
 * committed beside the code:
 *
 *     {
 *       "keysift_baseline": 1,
 *       "findings": [
 *         { "fingerprint": "<32 hex>", "rule_id": "aws.access-key-id",
 *           "path": "deploy/old.env", "line": 3 }
 *       ]
 *     }
 *
 * Only `fingerprint` is matched; the line is not, so lines inserted above
 * a baselined secret do not make it new. Entries are sorted and unique,
 * so recreating the baseline of an unchanged tree gives the same file.
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define BASELINE_FORMAT 1

struct baseline {
    char (*keys)[33];       /* sorted */
    size_t n;
};

static int key_order(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Reads the "findings" array; returns 0, or -1 with why[] filled. */
static int read_keys(baseline *b, json_t *findings, char *why, size_t cap)
{
    size_t i;
    json_t *entry;

    b->keys = calloc(json_array_size(findings) + 1, sizeof(*b->keys));
    if (!b->keys) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    json_array_foreach(findings, i, entry) {
        const char *fp = json_string_value(json_object_get(entry,
                                                           "fingerprint"));

        if (!fp || strlen(fp) != 32 || strspn(fp, "0123456789abcdef") != 32) {
            snprintf(why, cap, "entry %zu has no 32-hex-digit fingerprint",
                     i);
            return -1;
        }
        memcpy(b->keys[b->n++], fp, 33);
    }
    qsort(b->keys, b->n, sizeof(*b->keys), key_order);
    return 0;
}

baseline *baseline_load(const char *path)
{
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    json_t *findings;
    baseline *b = NULL;
    char why[200];

    if (!root) {
        cli_error("%s: cannot read the baseline: %s (line %d); make one "
                  "with 'keysift baseline create -o %s'", path, err.text,
                  err.line, path);
        return NULL;
    }
    findings = json_object_get(root, "findings");
    if (json_integer_value(json_object_get(root, "keysift_baseline")) !=
            BASELINE_FORMAT || !json_is_array(findings)) {
        cli_error("%s: not a keysift baseline (no \"keysift_baseline\": %d "
                  "and \"findings\" list)", path, BASELINE_FORMAT);
        goto out;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        cli_error("out of memory reading %s", path);
        goto out;
    }
    if (read_keys(b, findings, why, sizeof(why))) {
        cli_error("%s: %s", path, why);
        baseline_free(b);
        b = NULL;
    }
out:
    json_decref(root);
    return b;
}

int baseline_has(const baseline *b, const char *key)
{
    return b->n && bsearch(key, b->keys, b->n, sizeof(*b->keys),
                           key_order) != NULL;
}

size_t baseline_count(const baseline *b)
{
    return b ? b->n : 0;
}

void baseline_free(baseline *b)
{
    if (!b)
        return;
    free(b->keys);
    free(b);
}

/* ---- writing ------------------------------------------------------------ */

static int entry_order(const void *x, const void *y)
{
    const occurrence *a = *(const occurrence *const *)x;
    const occurrence *b = *(const occurrence *const *)y;
    int c = strcmp(a->key_path, b->key_path);

    if (!c && a->line != b->line)
        c = a->line < b->line ? -1 : 1;
    return c ? c : strcmp(a->key, b->key);
}

int baseline_write(FILE *out, const report *r)
{
    const occurrence **order = calloc(r->n_occ + 1, sizeof(*order));
    json_t *root = json_object();
    json_t *list = json_array();
    int rc;

    if (!order || !root || !list) {
        free(order);
        json_decref(root);
        json_decref(list);
        return -1;
    }
    for (size_t i = 0; i < r->n_occ; i++)
        order[i] = &r->occ[i];
    qsort(order, r->n_occ, sizeof(*order), entry_order);
    for (size_t i = 0; i < r->n_occ; i++) {
        const occurrence *o = order[i];
        json_t *e;

        /* One key in several places of a file is one entry: the first. */
        if (i && strcmp(order[i - 1]->key, o->key) == 0)
            continue;
        e = json_object();
        json_object_set_new(e, "fingerprint", json_string(o->key));
        json_object_set_new(e, "rule_id", json_string(o->rule->id));
        json_object_set_new(e, "path", report_json_text(o->key_path));
        json_object_set_new(e, "line", json_integer((json_int_t)o->line));
        json_array_append_new(list, e);
    }
    free(order);
    json_object_set_new(root, "keysift_baseline",
                        json_integer(BASELINE_FORMAT));
    json_object_set_new(root, "findings", list);
    rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    return rc;
}

static const char baseline_usage[] =
    "Usage: keysift baseline create [OPTIONS] [INPUT...]\n"
    "\n"
    "Scans the INPUTs (default: the current directory) and writes every\n"
    "finding's location key to standard output (or -o FILE) as a baseline:\n"
    "fingerprints, rule ids, paths and lines, never a secret. A later\n"
    "'keysift scan --baseline FILE' (or 'baseline: FILE' in .keysift.yaml)\n"
    "reports only what is not in it. Findings that the project config or\n"
    "keysift:allow marks suppress are left out; a baseline the config names\n"
    "is not applied, so the new baseline holds everything still found.\n"
    "\n"
    "Options are those of 'keysift scan' (see 'keysift scan --help'),\n"
    "except --format, --baseline, --snapshot and --fail-on.\n"
    "\n"
    "Exit status: 0 the baseline was written, 2 an error occurred.\n";

int cmd_baseline(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
                     strcmp(argv[1], "--help") == 0)) {
        fputs(baseline_usage, stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "create") != 0) {
        cli_error("baseline wants the action 'create'; see 'keysift "
                  "baseline --help'");
        return 2;
    }
    return scan_command(argc - 1, argv + 1, SCAN_BASELINE);
}

void baseline_help(void)
{
    fputs(baseline_usage, stdout);
}
