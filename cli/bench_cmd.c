/*
 * bench_cmd.c - `keysift rules bench`: detection quality and per-rule cost
 * of a rule set on a labeled corpus.
 *
 * The truth file is JSON Lines, one planted secret per line:
 *
 *     {"file": "files/app/.env", "line": 3, "type": "github.pat-classic"}
 *     {"file": "files/keys/id_rsa", "line": 1, "end_line": 27, "type": "..."}
 *
 * `file` is relative to the truth file's directory. A finding location
 * matches a truth entry when it is in the same file and its line lies in
 * [line, end_line]; the rule need not be the entry's type, so one secret
 * reported by two rules is not a false positive. Overall: true positives
 * are matching locations, false positives the others, false negatives the
 * truth entries no location matched; precision is tp / (tp + fp) and
 * recall the share of truth entries matched. Per rule, a rule's matching
 * and non-matching locations are its true and false positives, and each
 * missed truth entry counts against the rule named by its type, so the
 * rows add up to the overall figures.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char bench_usage[] =
    "Usage: keysift rules bench CORPUS --truth FILE [OPTIONS]\n"
    "\n"
    "Scans CORPUS (a directory or any scan input) and compares the findings\n"
    "with a labeled truth file (JSON Lines: file, line, type, optional\n"
    "end_line; file paths relative to the truth file's directory). A finding\n"
    "location matches every truth entry of its file whose lines hold it,\n"
    "whatever the entry's type. Prints true positives, false positives,\n"
    "false negatives, precision and recall per rule and overall, each\n"
    "rule's share of the capture-pass time, then the overall recall and\n"
    "precision with their counts.\n"
    "\n"
    "Options:\n"
    "      --truth FILE     the labeled truth file (required)\n"
    "      --rules PATH     add rules from a YAML file or directory\n"
    "      --rules-only     use only the --rules rules\n"
    "  -f, --format FORMAT  text (default) or json\n"
    "  -j, --jobs N         worker threads\n"
    "  -h, --help           show this help\n";

typedef struct truth {
    char *file;             /* resolved path */
    char *type;
    uint64_t line;
    uint64_t end_line;
    int found;
} truth;

typedef struct row {
    const char *id;
    uint64_t tp, fp, fn;
    uint64_t confirm_ns;
    uint64_t candidates;
} row;

typedef struct bench {
    rule_opts rules;
    const char *truth_path;
    out_format format;
    unsigned jobs;
    truth *truths;
    size_t n_truths;
    report rep;
    row *rows;
    size_t n_rows;
    double seconds;
} bench;

/* A path in canonical form, so "a/./b" and "a/b" compare equal. */
static char *canonical(const char *path)
{
    char *real = realpath(path, NULL);

    return real ? real : strdup(path);
}

static char *resolve(const char *base_dir, const char *file)
{
    char joined[PATH_MAX];

    if (file[0] == '/')
        return canonical(file);
    snprintf(joined, sizeof(joined), "%s/%s", base_dir, file);
    return canonical(joined);
}

static int add_truth(bench *b, json_t *j, const char *dir, size_t lineno)
{
    const char *file = json_string_value(json_object_get(j, "file"));
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *line = json_object_get(j, "line");
    json_t *end = json_object_get(j, "end_line");
    truth *t;

    if (!file || !type || !json_is_integer(line) ||
        json_integer_value(line) < 1) {
        cli_error("%s:%zu: a truth line needs \"file\", \"type\" and a "
                  "positive \"line\"", b->truth_path, lineno);
        return -1;
    }
    t = realloc(b->truths, (b->n_truths + 1) * sizeof(*b->truths));
    if (!t)
        return -1;
    b->truths = t;
    t = &b->truths[b->n_truths++];
    t->file = resolve(dir, file);
    t->type = strdup(type);
    t->line = (uint64_t)json_integer_value(line);
    t->end_line = json_is_integer(end) ? (uint64_t)json_integer_value(end)
                                       : t->line;
    t->found = 0;
    return t->file && t->type ? 0 : -1;
}

static int load_truth(bench *b)
{
    FILE *f = fopen(b->truth_path, "r");
    char *line = NULL, *dir, *slash;
    size_t cap = 0, lineno = 0;
    int rc = 0;

    if (!f) {
        cli_error("%s: cannot open truth file: %s", b->truth_path,
                  strerror(errno));
        return -1;
    }
    dir = strdup(b->truth_path);
    slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    while (rc == 0 && dir && getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *j;

        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        j = json_loads(line, 0, &err);
        if (!j) {
            cli_error("%s:%zu: not JSON: %s", b->truth_path, lineno,
                      err.text);
            rc = -1;
            break;
        }
        rc = add_truth(b, j, slash ? dir : ".", lineno);
        json_decref(j);
    }
    free(line);
    free(dir);
    fclose(f);
    return rc;
}

static row *row_for(bench *b, const char *id)
{
    row *r;

    for (size_t i = 0; i < b->n_rows; i++) {
        if (strcmp(b->rows[i].id, id) == 0)
            return &b->rows[i];
    }
    r = realloc(b->rows, (b->n_rows + 1) * sizeof(*b->rows));
    if (!r)
        return NULL;
    b->rows = r;
    r = &b->rows[b->n_rows++];
    memset(r, 0, sizeof(*r));
    r->id = id;
    return r;
}

/* Marks every truth entry the location covers; returns how many. */
static size_t match(bench *b, const occurrence *o)
{
    char *path = canonical(o->chain[o->chain_len - 1]);
    size_t hits = 0;

    for (size_t i = 0; path && i < b->n_truths; i++) {
        truth *t = &b->truths[i];

        if (o->line >= t->line && o->line <= t->end_line &&
            strcmp(t->file, path) == 0) {
            t->found = 1;
            hits++;
        }
    }
    free(path);
    return hits;
}

static int score(bench *b)
{
    for (size_t i = 0; i < b->rep.n_occ; i++) {
        const occurrence *o = &b->rep.occ[i];
        size_t hits = match(b, o);
        row *r = row_for(b, o->rule->id);

        if (!r)
            return -1;
        if (hits)
            r->tp++;
        else
            r->fp++;
    }
    for (size_t i = 0; i < b->n_truths; i++) {
        row *r;

        if (b->truths[i].found)
            continue;
        r = row_for(b, b->truths[i].type);
        if (!r)
            return -1;
        r->fn++;
    }
    return 0;
}

static int on_finding(const ks_finding *f, void *user)
{
    report_add(user, f);
    return 0;
}

static int on_diag(const ks_diag *d, void *user)
{
    (void)user;
    put_diag(stderr, d);
    return 0;
}

static int run_scan(bench *b, ks_ruleset *rules, const char *corpus)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;
    struct timespec t0, t1;
    ks_status st;

    ks_scan_options_init(&opts);
    opts.threads = b->jobs;
    opts.profile_rules = 1;
    opts.on_finding = on_finding;
    opts.on_diag = on_diag;
    opts.user = &b->rep;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = ks_scan_new(rules, &opts, &scan);
    if (st == KS_OK)
        st = ks_scan_run(scan, &corpus, 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    b->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (st != KS_OK) {
        cli_error("scan failed: %s", ks_status_str(st));
        ks_scan_free(scan);
        return -1;
    }
    for (size_t i = 0; i < ks_ruleset_count(rules); i++) {
        const ks_rule_info *info = ks_ruleset_rule(rules, i);
        ks_rule_stats rs;
        row *r;

        ks_scan_rule_stats(scan, i, &rs);
        if (rs.candidates == 0)
            continue;
        r = row_for(b, info->id);
        if (!r)
            return -1;
        r->confirm_ns = rs.confirm_ns;
        r->candidates = rs.candidates;
    }
    ks_scan_free(scan);
    return b->rep.failed ? -1 : 0;
}

static double pct(uint64_t num, uint64_t den)
{
    return den ? 100.0 * (double)num / (double)den : 100.0;
}

static int by_id(const void *x, const void *y)
{
    return strcmp(((const row *)x)->id, ((const row *)y)->id);
}

static void totals(const bench *b, row *all, uint64_t *ns)
{
    memset(all, 0, sizeof(*all));
    all->id = "overall";
    for (size_t i = 0; i < b->n_rows; i++) {
        all->tp += b->rows[i].tp;
        all->fp += b->rows[i].fp;
        all->fn += b->rows[i].fn;
        all->candidates += b->rows[i].candidates;
        all->confirm_ns += b->rows[i].confirm_ns;
    }
    *ns = all->confirm_ns;
}

/*
 * A percentage cut (not rounded) to one decimal, so that 99.96% of a
 * corpus never reads as 100.0%.
 */
static double cut(uint64_t num, uint64_t den)
{
    return den ? (double)(num * 1000 / den) / 10 : 100.0;
}

static size_t truths_found(const bench *b)
{
    size_t found = 0;

    for (size_t i = 0; i < b->n_truths; i++)
        found += b->truths[i].found != 0;
    return found;
}

/* Recall counts truth entries, not locations: two rules finding one
 * secret do not find it twice. */
static double overall_recall(const bench *b)
{
    return pct(truths_found(b), b->n_truths);
}

static void print_text(const bench *b)
{
    row all;
    uint64_t ns;

    totals(b, &all, &ns);
    printf("%-40s %6s %6s %6s %9s %8s %10s %6s\n", "rule", "tp", "fp", "fn",
           "precision", "recall", "confirm-ms", "share");
    for (size_t i = 0; i < b->n_rows; i++) {
        const row *r = &b->rows[i];

        printf("%-40s %6llu %6llu %6llu %8.1f%% %7.1f%% %10.2f %5.1f%%\n",
               r->id, (unsigned long long)r->tp, (unsigned long long)r->fp,
               (unsigned long long)r->fn, cut(r->tp, r->tp + r->fp),
               cut(r->tp, r->tp + r->fn), (double)r->confirm_ns / 1e6,
               cut(r->confirm_ns, ns));
    }
    printf("%-40s %6llu %6llu %6llu %8.1f%% %7.1f%% %10.2f %5.1f%%\n",
           all.id, (unsigned long long)all.tp, (unsigned long long)all.fp,
           (unsigned long long)all.fn, cut(all.tp, all.tp + all.fp),
           cut(truths_found(b), b->n_truths), (double)ns / 1e6, ns ? 100.0 : 0.0);
    printf("recall: %.1f%% (%zu/%zu)\n", cut(truths_found(b), b->n_truths),
           truths_found(b), b->n_truths);
    printf("precision: %.1f%% (%llu/%llu)\n", cut(all.tp, all.tp + all.fp),
           (unsigned long long)all.tp,
           (unsigned long long)(all.tp + all.fp));
    printf("scan: %.2f s\n", b->seconds);
}

static json_t *row_json(const row *r, double recall, uint64_t ns)
{
    json_t *j = json_object();

    json_object_set_new(j, "rule_id", json_string(r->id));
    json_object_set_new(j, "tp", json_integer((json_int_t)r->tp));
    json_object_set_new(j, "fp", json_integer((json_int_t)r->fp));
    json_object_set_new(j, "fn", json_integer((json_int_t)r->fn));
    json_object_set_new(j, "precision",
                        json_real(pct(r->tp, r->tp + r->fp) / 100));
    json_object_set_new(j, "recall", json_real(recall / 100));
    json_object_set_new(j, "candidates",
                        json_integer((json_int_t)r->candidates));
    json_object_set_new(j, "confirm_ms", json_real((double)r->confirm_ns /
                                                   1e6));
    json_object_set_new(j, "share", json_real(pct(r->confirm_ns, ns) / 100));
    return j;
}

static void print_json(const bench *b)
{
    json_t *root = json_object();
    json_t *rows = json_array();
    row all;
    uint64_t ns;

    totals(b, &all, &ns);
    for (size_t i = 0; i < b->n_rows; i++) {
        const row *r = &b->rows[i];

        json_array_append_new(rows, row_json(r, pct(r->tp, r->tp + r->fn),
                                             ns));
    }
    json_object_set_new(root, "rules", rows);
    json_object_set_new(root, "overall", row_json(&all, overall_recall(b),
                                                  ns));
    json_object_set_new(root, "truth_entries",
                        json_integer((json_int_t)b->n_truths));
    json_object_set_new(root, "truth_found",
                        json_integer((json_int_t)truths_found(b)));
    json_object_set_new(root, "scan_seconds", json_real(b->seconds));
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(root);
}

static int parse_args(bench *b, int argc, char **argv, const char **corpus)
{
    enum { OPT_RULES = 256, OPT_RULES_ONLY, OPT_TRUTH };
    static const struct option longs[] = {
        { "truth", required_argument, NULL, OPT_TRUTH },
        { "rules", required_argument, NULL, OPT_RULES },
        { "rules-only", no_argument, NULL, OPT_RULES_ONLY },
        { "format", required_argument, NULL, 'f' },
        { "jobs", required_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    opterr = 0;
    optind = 2;
    while ((opt = getopt_long(argc, argv, ":f:j:h", longs, NULL)) != -1) {
        if (opt == OPT_TRUTH) {
            b->truth_path = optarg;
        } else if (opt == OPT_RULES) {
            if (rule_opts_add(&b->rules, optarg))
                return 2;
        } else if (opt == OPT_RULES_ONLY) {
            b->rules.only = 1;
        } else if (opt == 'f' && parse_format(optarg, &b->format) == 0 &&
                   b->format != FORMAT_JSONL) {
            continue;
        } else if (opt == 'j' && atoi(optarg) > 0 && atoi(optarg) <= 256) {
            b->jobs = (unsigned)atoi(optarg);
        } else if (opt == 'h') {
            fputs(bench_usage, stdout);
            return 0;
        } else {
            cli_error("bad option or value '%s'; see 'keysift rules bench "
                      "--help'", argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1 || !b->truth_path) {
        cli_error("'rules bench' wants one CORPUS and --truth FILE; see "
                  "'keysift rules bench --help'");
        return 2;
    }
    *corpus = argv[optind];
    return -1;
}

static void bench_free(bench *b)
{
    for (size_t i = 0; i < b->n_truths; i++) {
        free(b->truths[i].file);
        free(b->truths[i].type);
    }
    free(b->truths);
    free(b->rows);
    free(b->rules.paths);
    report_free(&b->rep);
}

int cmd_rules_bench(int argc, char **argv)
{
    bench b;
    const char *corpus = NULL;
    ks_ruleset *rules = NULL;
    int rc;

    memset(&b, 0, sizeof(b));
    rc = parse_args(&b, argc, argv, &corpus);
    if (rc >= 0)
        goto out;
    rc = 2;
    if (load_truth(&b))
        goto out;
    rules = load_rules(&b.rules);
    if (!rules || run_scan(&b, rules, corpus) || score(&b))
        goto out;
    if (b.n_rows > 1)
        qsort(b.rows, b.n_rows, sizeof(*b.rows), by_id);
    if (b.format == FORMAT_JSON)
        print_json(&b);
    else
        print_text(&b);
    rc = 0;
out:
    bench_free(&b);
    ks_ruleset_free(rules);
    return rc;
}
