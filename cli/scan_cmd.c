/*
 * scan_cmd.c - `keysift scan`: options, the scan itself, the report and the
 * exit status.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char scan_usage[] =
    "Usage: keysift scan [OPTIONS] INPUT...\n"
    "\n"
    "Scans each INPUT for secrets. An INPUT is a file, a directory (walked\n"
    "recursively; symlinks are not followed), a tar or zip archive (plain,\n"
    "gzip, zstd, xz, bzip2 or lz4; detected from its content, not its\n"
    "name), a container image, or - for standard input. Images are OCI\n"
    "layout directories, docker save archives and registry storage roots,\n"
    "detected from a bare path or named explicitly:\n"
    "  oci:DIR[:TAG]  docker-archive:FILE[:TAG]\n"
    "  registry-store:ROOT[/REPO[:TAG]]\n"
    "A running process is named pid:PID (or --pid PID): its environment\n"
    "and the files under its root directory (/proc/PID/root) are scanned.\n"
    "\n"
    "Options:\n"
    "  -f, --format FORMAT   text (default), json or jsonl\n"
    "  -o, --output FILE     write the report to FILE instead of stdout\n"
    "  -j, --jobs N          worker threads (default: one per CPU)\n"
    "      --rules PATH      add rules from a YAML file or a directory of\n"
    "                        them (repeatable)\n"
    "      --rules-only      use only the --rules rules, not the built-in\n"
    "      --no-cache        compile the rules even if a compiled copy is\n"
    "                        cached (in $KEYSIFT_CACHE_DIR, else\n"
    "                        ~/.cache/keysift)\n"
    "      --show-secrets    print secrets in full (redacted by default)\n"
    "      --platform OS/ARCH  for multi-platform images, scan only this\n"
    "                        platform (default: every platform)\n"
    "      --pid PID         scan a running process: its environment and\n"
    "                        its root filesystem (repeatable)\n"
    "      --max-depth N     open archives inside archives this deep\n"
    "                        (default 3; an input archive is depth 1)\n"
    "  -q, --quiet           no summary and no warnings on stderr\n"
    "  -v, --verbose         more detail on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 nothing found, 1 findings, 2 an error occurred (bad\n"
    "usage, bad rules, or an input that could not be read; the other inputs\n"
    "are still scanned and reported).\n";

typedef struct scan_cli {
    rule_opts rules;
    out_format format;
    const char *output;
    unsigned jobs;
    unsigned max_depth;
    const char *platform;
    char **pids;            /* "pid:N" inputs from --pid */
    size_t n_pids;
    int show_secrets;
    int level;
    report rep;
} scan_cli;

static int on_finding(const ks_finding *f, void *user)
{
    scan_cli *c = user;

    report_add(&c->rep, f);
    return 0;
}

static int on_diag(const ks_diag *d, void *user)
{
    scan_cli *c = user;

    report_add_diag(&c->rep, d);
    if (d->level == KS_DIAG_ERROR || c->level >= LEVEL_NORMAL)
        fprintf(stderr, "keysift: %s: %s: %s\n",
                d->level == KS_DIAG_ERROR ? "error" : "warning", d->where,
                d->message);
    return 0;
}

static int parse_jobs(const char *arg, unsigned *out)
{
    char *end = NULL;
    unsigned long n;

    errno = 0;
    n = strtoul(arg, &end, 10);
    if (errno || !*arg || *end || n < 1 || n > 256)
        return -1;
    *out = (unsigned)n;
    return 0;
}

/* --pid N: the input "pid:N". Returns 0, or -1 having said why not. */
static int add_pid(scan_cli *c, const char *arg)
{
    size_t len = strspn(arg, "0123456789");
    char **grown;

    if (len == 0 || arg[len] || len > 10) {
        cli_error("--pid wants a process id such as 1234, not '%s'", arg);
        return -1;
    }
    grown = realloc(c->pids, (c->n_pids + 1) * sizeof(*c->pids));
    if (!grown || !(grown[c->n_pids] = malloc(len + 5))) {
        if (grown)
            c->pids = grown;
        cli_error("out of memory");
        return -1;
    }
    c->pids = grown;
    snprintf(c->pids[c->n_pids++], len + 5, "pid:%s", arg);
    return 0;
}

/* Returns -1 to go on, or an exit status to stop with. */
static int parse_args(scan_cli *c, int argc, char **argv)
{
    enum { OPT_RULES = 256, OPT_RULES_ONLY, OPT_SHOW, OPT_PLATFORM,
           OPT_DEPTH, OPT_NO_CACHE, OPT_PID };
    static const struct option longs[] = {
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'o' },
        { "jobs", required_argument, NULL, 'j' },
        { "rules", required_argument, NULL, OPT_RULES },
        { "rules-only", no_argument, NULL, OPT_RULES_ONLY },
        { "show-secrets", no_argument, NULL, OPT_SHOW },
        { "platform", required_argument, NULL, OPT_PLATFORM },
        { "max-depth", required_argument, NULL, OPT_DEPTH },
        { "no-cache", no_argument, NULL, OPT_NO_CACHE },
        { "pid", required_argument, NULL, OPT_PID },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":f:o:j:qvh", longs, NULL)) != -1) {
        switch (opt) {
        case 'f':
            if (parse_format(optarg, &c->format) == 0)
                break;
            cli_error("unknown format '%s' (use text, json or jsonl)",
                      optarg);
            return 2;
        case 'o':
            c->output = optarg;
            break;
        case 'j':
            if (parse_jobs(optarg, &c->jobs) == 0)
                break;
            cli_error("--jobs wants a number from 1 to 256, not '%s'",
                      optarg);
            return 2;
        case OPT_RULES:
            if (rule_opts_add(&c->rules, optarg))
                return 2;
            break;
        case OPT_RULES_ONLY:
            c->rules.only = 1;
            break;
        case OPT_SHOW:
            c->show_secrets = 1;
            break;
        case OPT_PLATFORM:
            if (strchr(optarg, '/')) {
                c->platform = optarg;
                break;
            }
            cli_error("--platform wants OS/ARCH[/VARIANT], such as "
                      "linux/amd64, not '%s'", optarg);
            return 2;
        case OPT_NO_CACHE:
            c->rules.no_cache = 1;
            break;
        case OPT_PID:
            if (add_pid(c, optarg) == 0)
                break;
            return 2;
        case OPT_DEPTH:
            if (parse_jobs(optarg, &c->max_depth) == 0)
                break;
            cli_error("--max-depth wants a number from 1 to 256, not '%s'",
                      optarg);
            return 2;
        case 'q':
            c->level = LEVEL_QUIET;
            break;
        case 'v':
            c->level = LEVEL_VERBOSE;
            break;
        case 'h':
            fputs(scan_usage, stdout);
            return 0;
        case ':':
            cli_error("option '%s' needs a value; see 'keysift scan --help'",
                      argv[optind - 1]);
            return 2;
        default:
            cli_error("unknown option '%s'; see 'keysift scan --help'",
                      argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc && c->n_pids == 0) {
        cli_error("nothing to scan: name a file, directory, archive, image "
                  "or - (see 'keysift scan --help')");
        return 2;
    }
    return -1;
}

static double now_seconds(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void print_summary(const scan_cli *c)
{
    const report *r = &c->rep;
    double mb = (double)r->stats.bytes / 1e6;

    fprintf(stderr, "keysift: %zu finding%s (%zu occurrence%s) in %llu "
            "entries, %.1f MB in %.2f s (%.0f MB/s); %llu warning%s, %llu "
            "error%s\n", r->n_groups, r->n_groups == 1 ? "" : "s", r->n_occ,
            r->n_occ == 1 ? "" : "s",
            (unsigned long long)r->stats.entries, mb, r->seconds,
            r->seconds > 0 ? mb / r->seconds : 0.0,
            (unsigned long long)r->stats.warnings,
            r->stats.warnings == 1 ? "" : "s",
            (unsigned long long)r->stats.errors,
            r->stats.errors == 1 ? "" : "s");
    if (c->level >= LEVEL_VERBOSE)
        fprintf(stderr, "keysift: %llu special files and symlinks skipped\n",
                (unsigned long long)r->stats.skipped);
}

static int write_report(scan_cli *c)
{
    FILE *out = stdout;
    int rc;

    if (c->output) {
        out = fopen(c->output, "w");
        if (!out) {
            cli_error("%s: cannot write report: %s", c->output,
                      strerror(errno));
            return -1;
        }
    }
    rc = report_write(out, &c->rep, c->format, c->show_secrets);
    if (fflush(out) != 0)
        rc = -1;
    if (c->output && fclose(out) != 0)
        rc = -1;
    if (rc)
        cli_error("%s: cannot write report", c->output ? c->output
                                                       : "stdout");
    return rc;
}

static int run(scan_cli *c, ks_ruleset *rules, char **inputs, size_t n)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_status st;
    double start = now_seconds();

    ks_scan_options_init(&opts);
    opts.threads = c->jobs;
    opts.max_depth = c->max_depth;
    opts.platform = c->platform;
    opts.on_finding = on_finding;
    opts.on_diag = on_diag;
    opts.user = c;
    st = ks_scan_new(rules, &opts, &scan);
    if (st == KS_OK)
        st = ks_scan_run(scan, (const char *const *)inputs, n);
    if (st != KS_OK) {
        cli_error("scan failed: %s", ks_status_str(st));
        ks_scan_free(scan);
        return 2;
    }
    ks_scan_get_stats(scan, &c->rep.stats);
    ks_scan_free(scan);
    c->rep.seconds = now_seconds() - start;
    c->rep.rules_hash = ks_ruleset_hash(rules);
    report_group(&c->rep);
    if (c->rep.failed) {
        cli_error("out of memory collecting findings");
        return 2;
    }
    if (write_report(c))
        return 2;
    if (c->level >= LEVEL_NORMAL)
        print_summary(c);
    if (c->rep.stats.errors)
        return 2;
    return c->rep.n_groups ? 1 : 0;
}

/* The inputs named on the command line, then those of --pid. */
static char **collect_inputs(const scan_cli *c, int argc, char **argv,
                             size_t *n)
{
    size_t named = (size_t)(argc - optind);
    char **all = malloc((named + c->n_pids + 1) * sizeof(*all));

    if (!all)
        return NULL;
    for (size_t i = 0; i < named; i++)
        all[i] = argv[optind + (int)i];
    for (size_t i = 0; i < c->n_pids; i++)
        all[named + i] = c->pids[i];
    *n = named + c->n_pids;
    return all;
}

int cmd_scan(int argc, char **argv)
{
    scan_cli c;
    ks_ruleset *rules = NULL;
    char **inputs = NULL;
    size_t n_inputs = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    c.level = LEVEL_NORMAL;
    rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        goto out;
    rc = 2;
    inputs = collect_inputs(&c, argc, argv, &n_inputs);
    if (!inputs) {
        cli_error("out of memory");
        goto out;
    }
    c.rules.quiet = c.level == LEVEL_QUIET;
    rules = load_rules(&c.rules);
    if (!rules)
        goto out;
    if (c.level >= LEVEL_VERBOSE)
        fprintf(stderr, "keysift: %zu rules, rules hash %.16s\n",
                ks_ruleset_count(rules), ks_ruleset_hash(rules));
    rc = run(&c, rules, inputs, n_inputs);
out:
    report_free(&c.rep);
    ks_ruleset_free(rules);
    free(inputs);
    for (size_t i = 0; i < c.n_pids; i++)
        free(c.pids[i]);
    free(c.pids);
    free(c.rules.paths);
    return rc;
}
