/*
 * rules_profile.c - `keysift rules profile`: what each rule costs a scan.
 *
 * The shared database serves every rule in one pass, so its time cannot be
 * split by rule directly. The profile therefore scans the corpus twice:
 * once as `scan` would (the time a real scan takes), and once with every
 * rule's pattern also run alone over each entry. A rule's cost is its
 * pattern's time alone plus the time confirming its candidates; its share
 * is that cost over the sum of all rules' costs. A rule with a large share
 * is the one that slows every scan down.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char profile_usage[] =
    "Usage: keysift rules profile CORPUS... [OPTIONS]\n"
    "\n"
    "Scans CORPUS (files, directories, archives, images: any scan input)\n"
    "and prints, for each rule, its share of the scan's cost, its pattern's\n"
    "time alone over the corpus, the time spent confirming its candidates,\n"
    "its candidate count and its confirmed findings, costliest first. The\n"
    "corpus is scanned twice (once plainly, for the real scan time, then\n"
    "with each pattern timed alone, which takes a pass per rule): use a\n"
    "sample of tens of megabytes, not a whole registry.\n"
    "\n"
    "Options:\n"
    "      --rules PATH     add rules from a YAML file or directory\n"
    "      --rules-only     use only the --rules rules\n"
    "  -j, --jobs N         worker threads (default: one per CPU)\n"
    "  -n, --top N          print only the N costliest rules (text format)\n"
    "  -f, --format FORMAT  text (default) or json\n"
    "  -h, --help           show this help\n";

typedef struct prow {
    const ks_rule_info *rule;
    ks_rule_stats st;
    uint64_t cost_ns;
} prow;

typedef struct profile_cli {
    rule_opts rules;
    out_format format;
    unsigned jobs;
    unsigned long top;
    char **inputs;
    size_t n_inputs;
} profile_cli;

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int count_finding(const ks_finding *f, void *user)
{
    (void)f;
    (void)user;
    return 0;
}

static int print_diag(const ks_diag *d, void *user)
{
    (void)user;
    if (d->level == KS_DIAG_ERROR)
        put_diag(stderr, d);
    return 0;
}

/* One scan of the corpus; fills *stats, *secs and, if rows, per rule. */
static int run_scan(const profile_cli *c, const ks_ruleset *rules,
                    int profile, prow *rows, ks_scan_stats *stats,
                    double *secs)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;
    double t0;
    ks_status st;

    ks_scan_options_init(&opts);
    opts.threads = c->jobs;
    opts.profile_rules = profile;
    opts.on_finding = count_finding;
    opts.on_diag = print_diag;
    st = ks_scan_new(rules, &opts, &scan);
    if (st != KS_OK) {
        cli_error("cannot start a scan: %s", ks_status_str(st));
        return 2;
    }
    t0 = now_s();
    st = ks_scan_run(scan, (const char *const *)c->inputs, c->n_inputs);
    *secs = now_s() - t0;
    ks_scan_get_stats(scan, stats);
    for (size_t i = 0; rows && i < ks_ruleset_count(rules); i++) {
        rows[i].rule = ks_ruleset_rule(rules, i);
        ks_scan_rule_stats(scan, i, &rows[i].st);
        rows[i].cost_ns = rows[i].st.match_ns + rows[i].st.confirm_ns;
    }
    ks_scan_free(scan);
    if (st != KS_OK && st != KS_STOPPED) {
        cli_error("the scan failed: %s", ks_status_str(st));
        return 2;
    }
    return stats->errors ? 2 : 0;
}

static int by_cost(const void *a, const void *b)
{
    const prow *x = a, *y = b;

    if (x->cost_ns != y->cost_ns)
        return x->cost_ns > y->cost_ns ? -1 : 1;
    return strcmp(x->rule->id, y->rule->id);
}

static void print_text(const profile_cli *c, const prow *rows, size_t n,
                       uint64_t total_ns, const ks_scan_stats *st,
                       double secs)
{
    size_t shown = c->top && c->top < n ? c->top : n;

    printf("%llu bytes in %llu entries; a plain scan took %.3f s "
           "(%.0f MB/s)\n\n", (unsigned long long)st->bytes,
           (unsigned long long)st->entries, secs,
           secs > 0 ? (double)st->bytes / secs / 1e6 : 0.0);
    printf("%6s %10s %10s %10s %9s  %s\n", "share", "alone ms", "confirm ms",
           "candidates", "findings", "rule");
    for (size_t i = 0; i < shown; i++) {
        const prow *r = &rows[i];

        printf("%5.1f%% %10.1f %10.1f %10llu %9llu  %s\n",
               total_ns ? 100.0 * (double)r->cost_ns / (double)total_ns : 0.0,
               (double)r->st.match_ns / 1e6, (double)r->st.confirm_ns / 1e6,
               (unsigned long long)r->st.candidates,
               (unsigned long long)r->st.findings, r->rule->id);
    }
    if (shown < n)
        printf("(%zu more rules; --top 0 shows all)\n", n - shown);
    printf("\nshare: the rule's pattern alone plus its confirmations, over "
           "the sum for all rules.\n");
}

static void print_json(const prow *rows, size_t n, uint64_t total_ns,
                       const ks_scan_stats *st, double secs)
{
    json_t *root = json_object(), *list = json_array();

    json_object_set_new(root, "bytes", json_integer((json_int_t)st->bytes));
    json_object_set_new(root, "entries",
                        json_integer((json_int_t)st->entries));
    json_object_set_new(root, "scan_seconds", json_real(secs));
    for (size_t i = 0; i < n; i++) {
        const prow *r = &rows[i];
        json_t *j = json_object();

        json_object_set_new(j, "id", json_string(r->rule->id));
        json_object_set_new(j, "share",
                            json_real(total_ns ? (double)r->cost_ns /
                                                     (double)total_ns
                                               : 0.0));
        json_object_set_new(j, "alone_ms",
                            json_real((double)r->st.match_ns / 1e6));
        json_object_set_new(j, "confirm_ms",
                            json_real((double)r->st.confirm_ns / 1e6));
        json_object_set_new(j, "candidates",
                            json_integer((json_int_t)r->st.candidates));
        json_object_set_new(j, "findings",
                            json_integer((json_int_t)r->st.findings));
        json_array_append_new(list, j);
    }
    json_object_set_new(root, "rules", list);
    json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(root);
}

static int parse_args(profile_cli *c, int argc, char **argv)
{
    enum { OPT_RULES = 256, OPT_RULES_ONLY };
    static const struct option longs[] = {
        { "rules", required_argument, NULL, OPT_RULES },
        { "rules-only", no_argument, NULL, OPT_RULES_ONLY },
        { "jobs", required_argument, NULL, 'j' },
        { "top", required_argument, NULL, 'n' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char *end;
    int opt;

    opterr = 0;
    optind = 2;
    while ((opt = getopt_long(argc, argv, ":j:n:f:h", longs, NULL)) != -1) {
        switch (opt) {
        case OPT_RULES:
            if (rule_opts_add(&c->rules, optarg))
                return 2;
            break;
        case OPT_RULES_ONLY:
            c->rules.only = 1;
            break;
        case 'j':
            errno = 0;
            c->jobs = (unsigned)strtoul(optarg, &end, 10);
            if (errno || *end || c->jobs < 1 || c->jobs > 256) {
                cli_error("-j wants a number from 1 to 256");
                return 2;
            }
            break;
        case 'n':
            errno = 0;
            c->top = strtoul(optarg, &end, 10);
            if (errno || *end) {
                cli_error("--top wants a number");
                return 2;
            }
            break;
        case 'f':
            if (parse_format(optarg, &c->format) == 0 &&
                c->format != FORMAT_JSONL)
                break;
            cli_error("unknown format '%s' (use text or json)", optarg);
            return 2;
        case 'h':
            fputs(profile_usage, stdout);
            return 0;
        default:
            cli_error("bad option '%s'; see 'keysift rules profile --help'",
                      argv[optind - 1]);
            return 2;
        }
    }
    c->inputs = argv + optind;
    c->n_inputs = (size_t)(argc - optind);
    if (c->n_inputs == 0) {
        cli_error("'rules profile' wants a corpus to scan; see "
                  "'keysift rules profile --help'");
        return 2;
    }
    return -1;
}

int cmd_rules_profile(int argc, char **argv)
{
    profile_cli c;
    ks_ruleset *rules = NULL;
    ks_scan_stats plain, profiled;
    prow *rows = NULL;
    double secs = 0, psecs = 0;
    uint64_t total = 0;
    size_t n;
    int rc;

    memset(&c, 0, sizeof(c));
    c.top = 30;
    rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        goto out;
    rc = 2;
    rules = load_rules(&c.rules);
    if (!rules)
        goto out;
    n = ks_ruleset_count(rules);
    rows = calloc(n, sizeof(*rows));
    if (!rows) {
        cli_error("out of memory");
        goto out;
    }
    if (run_scan(&c, rules, 0, NULL, &plain, &secs) ||
        run_scan(&c, rules, 2, rows, &profiled, &psecs))
        goto out;
    for (size_t i = 0; i < n; i++)
        total += rows[i].cost_ns;
    qsort(rows, n, sizeof(*rows), by_cost);
    if (c.format == FORMAT_JSON)
        print_json(rows, n, total, &plain, secs);
    else
        print_text(&c, rows, n, total, &plain, secs);
    rc = 0;
out:
    free(rows);
    ks_ruleset_free(rules);
    free(c.rules.paths);
    return rc;
}
