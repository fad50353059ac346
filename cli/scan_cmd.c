/*
 * scan_cmd.c - `keysift scan` (and `keysift baseline create`, the same
 * scan written as a baseline, and `keysift merge`): options, the project
 * config, the scan itself, what the gate suppresses, the report and the
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
    "       keysift scan [OPTIONS] --staged | --diff FILE|-\n"
    "\n"
    "Scans each INPUT for secrets. An INPUT is a file, a directory (walked\n"
    "recursively; symlinks are not followed), a tar or zip archive (plain,\n"
    "gzip, zstd, xz, bzip2 or lz4; detected from its content, not its\n"
    "name), a container image, or - for standard input. Images are OCI\n"
    "layout directories, docker save archives and registry storage roots,\n"
    "detected from a bare path or named explicitly:\n"
    "  oci:DIR[:TAG]  docker-archive:FILE[:TAG]\n"
    "  registry-store:ROOT[/REPO[:TAG]]\n"
    "An image in a registry is docker://HOST[:PORT]/REPO[:TAG|@DIGEST]\n"
    "(docker://alpine is Docker Hub's), or HOST[:PORT]/REPO[:TAG] when no\n"
    "such path exists; docker://HOST[:PORT] alone is every repository and\n"
    "tag of the registry. Credentials come from KEYSIFT_REGISTRY_USER and\n"
    "KEYSIFT_REGISTRY_PASSWORD, else from ~/.docker/config.json.\n"
    "A running process is named pid:PID (or --pid PID): its environment\n"
    "and the files under its root directory (/proc/PID/root) are scanned.\n"
    "--staged scans only the lines staged for the next commit (git diff\n"
    "--cached); --diff scans only the lines a unified diff adds.\n"
    "\n"
    "Options:\n"
    "  -f, --format FORMAT   text (default), json, jsonl or sarif\n"
    "  -o, --output FILE     write the report to FILE instead of stdout\n"
    "  -j, --jobs N          worker threads (default: one per CPU)\n"
    "      --rules PATH      add rules from a YAML file or a directory of\n"
    "                        them (repeatable)\n"
    "      --rules-only      use only the --rules rules, not the built-in\n"
    "      --no-cache        compile the rules even if a compiled copy is\n"
    "                        cached (in $KEYSIFT_CACHE_DIR, else\n"
    "                        $XDG_CACHE_HOME/keysift or ~/.cache/keysift)\n"
    "      --show-secrets    print secrets in full (redacted by default)\n"
    "      --platform OS/ARCH  for multi-platform images, scan only this\n"
    "                        platform (default: every platform)\n"
    "      --pid PID         scan a running process: its environment and\n"
    "                        its root filesystem (repeatable)\n"
    "      --shard K/N       scan only shard K (0 to N-1) of N: the image\n"
    "                        layers and configs, and the other inputs,\n"
    "                        that fall there. The output is then records\n"
    "                        of partial results (JSON Lines, secrets in\n"
    "                        full) for 'keysift merge'\n"
    "      --cache DIR       keep each image layer's results in DIR and\n"
    "                        take them from there instead of reading the\n"
    "                        layer again (entries hold the secrets found)\n"
    "      --registry-auth FILE  read registry credentials from this Docker\n"
    "                        config file instead of ~/.docker/config.json\n"
    "      --insecure        speak plain HTTP to registries (https://\n"
    "                        otherwise), for a test registry on localhost\n"
    "      --progress        draw the progress line even when stderr is\n"
    "                        not a terminal (it is drawn on one unless -q)\n"
    "      --max-depth N     open archives inside archives this deep\n"
    "                        (default 3, at most 22; an input archive is\n"
    "                        depth 1)\n"
    "\n"
    "Limits on hostile input (docs/security.md), per input file, file of\n"
    "a directory or image layer; 0 means no limit. SIZE takes K, M, G, T:\n"
    "      --max-bytes SIZE  bytes unpacked from its archives and\n"
    "                        compressed streams (default 64G)\n"
    "      --max-total-bytes SIZE  the same for the whole run (default 0)\n"
    "      --max-ratio N     bytes unpacked per byte read, judged past\n"
    "                        64 MiB: stops decompression bombs (default\n"
    "                        500)\n"
    "      --max-entries N   entries read from one archive (default\n"
    "                        1000000)\n"
    "      --max-time SECS   wall-clock seconds for one (default 3600)\n"
    "      --max-path N      longest entry path kept, in bytes; longer ones\n"
    "                        are cut (default and most 4096)\n"
    "      --block-max SIZE  entries up to SIZE are scanned whole, larger\n"
    "                        ones streamed (default 8M)\n"
    "A limit reached is a warning naming its option; the rest of that\n"
    "input is not scanned, and the exit status is not changed by it.\n"
    "\n"
    "Gate options (see docs/ci.md):\n"
    "      --config FILE     read the project config from FILE (default:\n"
    "                        .keysift.yaml at the root of the scanned\n"
    "                        directory, or in the working directory)\n"
    "      --no-config       read no project config\n"
    "      --baseline FILE   report only findings not in FILE (made by\n"
    "                        'keysift baseline create')\n"
    "      --min-severity S  report nothing below severity S\n"
    "      --fail-on S       exit 1 only for findings of severity S or\n"
    "                        above (default: any finding); S is info, low,\n"
    "                        medium, high or critical\n"
    "      --snapshot FILE   also write a snapshot of this scan to FILE\n"
    "                        (compare two with 'keysift diff')\n"
    "      --staged          scan the lines staged in git, not INPUTs\n"
    "      --diff FILE       scan the lines a unified diff adds (- for\n"
    "                        standard input), not INPUTs\n"
    "\n"
    "  -q, --quiet           no summary and no warnings on stderr\n"
    "  -v, --verbose         more detail on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Lines marked keysift:allow, and findings the config or the baseline\n"
    "allows, are not reported; the summary counts them.\n"
    "\n"
    "Exit status: 0 nothing at or above the fail threshold, 1 findings at\n"
    "or above it, 2 an error occurred (bad usage, bad rules or config, or\n"
    "an input that could not be read; the other inputs are still scanned\n"
    "and reported).\n";


static const char merge_usage[] =
    "Usage: keysift merge [OPTIONS] FILE...\n"
    "\n"
    "Joins the outputs of 'keysift scan --shard K/N' into one report, as\n"
    "one scan of all their inputs would have made it: each layer's\n"
    "findings under every image that holds it, files deleted by a layer\n"
    "that another shard read flagged deleted, one finding per secret.\n"
    "The rules must be those the shards used (same --rules options).\n"
    "\n"
    "Options:\n"
    "  -f, --format FORMAT   text (default), json or jsonl\n"
    "  -o, --output FILE     write the report to FILE instead of stdout\n"
    "      --rules PATH      the --rules the shards were given (repeatable)\n"
    "      --rules-only      as the shards had it\n"
    "      --show-secrets    print secrets in full (redacted by default)\n"
    "      --config FILE, --no-config, --baseline FILE, --min-severity S,\n"
    "      --fail-on S       as for 'keysift scan' (.keysift.yaml is read\n"
    "                        from the working directory)\n"
    "  -q, --quiet           no summary and no warnings on stderr\n"
    "  -v, --verbose         more detail on stderr\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 nothing found, 1 findings, 2 an error (in a shard's\n"
    "scan, or a file that is missing, damaged or made with other rules).\n";

typedef struct scan_cli {
    int merging;            /* keysift merge: inputs are records files */
    rule_opts rules;
    out_format format;
    const char *output;
    unsigned jobs;
    unsigned max_depth;
    ks_scan_options limits;     /* --max-* and --block-max, else defaults */
    const char *platform;
    char **pids;            /* "pid:N" inputs from --pid */
    size_t n_pids;
    unsigned shard_index, shard_count;
    const char *cache_dir;
    int progress_mode;      /* 1 forced, 0 off, -1 on a terminal */
    const char *registry_auth;
    int insecure;
    int format_set;         /* -f was given */
    int scan_only;          /* an option merge does not take was given */
    FILE *records;          /* where --shard writes its records */
    progress prog;
    int show_secrets;
    int level;
    enum scan_mode mode;
    const char *config;         /* --config */
    int no_config;
    const char *baseline;       /* --baseline */
    int min_severity;           /* -1 unless given */
    int fail_on;                /* -1 unless given */
    const char *snapshot;
    int staged;
    const char *diff;
    int change_failed;          /* --staged or --diff could not be read */
    char **inputs;              /* those named, then --pid's */
    size_t n_inputs;
    policy pol;
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
    if (d->level == KS_DIAG_ERROR || c->level >= LEVEL_NORMAL) {
        progress_clear(&c->prog);
        put_diag(stderr, d);
    }
    return 0;
}

static int on_progress(const ks_scan_stats *st, void *user)
{
    scan_cli *c = user;

    progress_draw(&c->prog, st);
    return 0;
}

static int on_record(const char *line, size_t len, void *user)
{
    scan_cli *c = user;

    if (fwrite(line, 1, len, c->records) != len ||
        fputc('\n', c->records) == EOF) {
        cli_error("%s: cannot write records: %s",
                  c->output ? c->output : "stdout", strerror(errno));
        return 1;
    }
    return 0;
}

static int on_image(const ks_image_info *img, void *user)
{
    scan_cli *c = user;

    report_add_image(&c->rep, img);
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

static int parse_severity(const char *opt, const char *arg, int *out)
{
    ks_severity sev;

    if (ks_severity_parse(arg, &sev) == 0) {
        *out = (int)sev;
        return 0;
    }
    cli_error("%s wants info, low, medium, high or critical, not '%s'", opt,
              arg);
    return -1;
}

static int parse_output_format(scan_cli *c, const char *arg)
{
    if (c->mode == SCAN_BASELINE) {
        cli_error("baseline create writes only the baseline format; drop "
                  "--format");
        return -1;
    }
    if (strcmp(arg, "sarif") == 0) {
        c->format = FORMAT_SARIF;
        return 0;
    }
    if (parse_format(arg, &c->format) == 0)
        return 0;
    cli_error("unknown format '%s' (use text, json, jsonl or sarif)", arg);
    return -1;
}

/* What the gate options say with the others. Returns -1 to go on, or 2. */
static int check_gate_args(const scan_cli *c, int argc)
{
    int change = c->staged || c->diff;

    if (change && (optind < argc || c->n_pids)) {
        cli_error("--staged and --diff scan a change, not INPUTs; drop "
                  "the INPUTs or the option");
        return 2;
    }
    if (c->staged && c->diff) {
        cli_error("use --staged or --diff, not both");
        return 2;
    }
    if ((c->shard_count || c->merging) && (change || c->snapshot)) {
        cli_error("--staged, --diff and --snapshot are for whole scans, "
                  "not for --shard or merge");
        return 2;
    }
    if (c->shard_count && (c->baseline || c->config || c->fail_on >= 0 ||
                           c->min_severity >= 0)) {
        cli_error("a shard's findings are judged once merged: give "
                  "--baseline, --config, --fail-on and --min-severity to "
                  "'keysift merge'");
        return 2;
    }
    if (c->mode == SCAN_BASELINE &&
        (c->baseline || c->snapshot || c->fail_on >= 0 || c->shard_count)) {
        cli_error("baseline create takes none of --baseline, --snapshot, "
                  "--fail-on and --shard; see 'keysift baseline --help'");
        return 2;
    }
    return -1;
}

/* What the options say together. Returns -1 to go on, or 2. */
static int check_args(const scan_cli *c, int argc)
{
    int rc = check_gate_args(c, argc);

    if (rc >= 0)
        return rc;
    if (c->merging && (c->scan_only || c->jobs || c->platform ||
                       c->max_depth)) {
        cli_error("merge takes the output options only; scan options "
                  "belong to the shards' 'keysift scan' (see 'keysift "
                  "merge --help')");
        return 2;
    }
    if (c->shard_count && c->format_set && c->format != FORMAT_JSONL) {
        cli_error("--shard writes records for 'keysift merge', which are "
                  "JSON Lines: leave out -f, and give -f to merge instead");
        return 2;
    }
    if (optind >= argc && c->n_pids == 0 && !c->staged && !c->diff &&
        c->mode != SCAN_BASELINE) {
        cli_error(c->merging ? "nothing to merge: name the files that "
                               "'keysift scan --shard K/N -o FILE' wrote"
                             : "nothing to scan: name a file, directory, "
                               "archive, image or - (see 'keysift scan "
                               "--help')");
        return 2;
    }
    return -1;
}

/* Returns -1 to go on, or an exit status to stop with. */
static int parse_args(scan_cli *c, int argc, char **argv)
{
    enum { OPT_RULES = 256, OPT_RULES_ONLY, OPT_SHOW, OPT_PLATFORM,
           OPT_DEPTH, OPT_NO_CACHE, OPT_PID, OPT_SHARD, OPT_CACHE,
           OPT_PROGRESS, OPT_REGISTRY_AUTH, OPT_INSECURE, OPT_CONFIG,
           OPT_NO_CONFIG, OPT_BASELINE, OPT_MIN_SEV, OPT_FAIL_ON,
           OPT_SNAPSHOT, OPT_STAGED, OPT_DIFF, OPT_LIMIT };
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
        { "shard", required_argument, NULL, OPT_SHARD },
        { "cache", required_argument, NULL, OPT_CACHE },
        { "progress", no_argument, NULL, OPT_PROGRESS },
        { "registry-auth", required_argument, NULL, OPT_REGISTRY_AUTH },
        { "insecure", no_argument, NULL, OPT_INSECURE },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "no-config", no_argument, NULL, OPT_NO_CONFIG },
        { "baseline", required_argument, NULL, OPT_BASELINE },
        { "min-severity", required_argument, NULL, OPT_MIN_SEV },
        { "fail-on", required_argument, NULL, OPT_FAIL_ON },
        { "snapshot", required_argument, NULL, OPT_SNAPSHOT },
        { "staged", no_argument, NULL, OPT_STAGED },
        { "diff", required_argument, NULL, OPT_DIFF },
        { "max-bytes", required_argument, NULL, OPT_LIMIT },
        { "max-total-bytes", required_argument, NULL, OPT_LIMIT },
        { "max-ratio", required_argument, NULL, OPT_LIMIT },
        { "max-entries", required_argument, NULL, OPT_LIMIT },
        { "max-time", required_argument, NULL, OPT_LIMIT },
        { "max-path", required_argument, NULL, OPT_LIMIT },
        { "block-max", required_argument, NULL, OPT_LIMIT },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt, which = 0;

    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":f:o:j:qvh", longs, &which)) !=
           -1) {
        switch (opt) {
        case 'f':
            c->format_set = 1;
            if (parse_output_format(c, optarg) == 0)
                break;
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
            c->scan_only = 1;
            if (add_pid(c, optarg) == 0)
                break;
            return 2;
        case OPT_SHARD:
            c->scan_only = 1;
            if (parse_shard_arg(optarg, &c->shard_index, &c->shard_count) == 0)
                break;
            cli_error("--shard wants K/N with 0 <= K < N, such as 0/4, not "
                      "'%s'", optarg);
            return 2;
        case OPT_CACHE:
            c->scan_only = 1;
            c->cache_dir = optarg;
            break;
        case OPT_PROGRESS:
            c->progress_mode = 1;
            break;
        case OPT_REGISTRY_AUTH:
            c->scan_only = 1;
            c->registry_auth = optarg;
            break;
        case OPT_INSECURE:
            c->scan_only = 1;
            c->insecure = 1;
            break;
        case OPT_DEPTH:
            if (parse_jobs(optarg, &c->max_depth) == 0 && c->max_depth <= 22)
                break;
            cli_error("--max-depth wants a number from 1 to 22, not '%s'",
                      optarg);
            return 2;
        case OPT_LIMIT:
            c->scan_only = 1;
            if (limit_arg(&c->limits, longs[which].name, optarg))
                return 2;
            break;
        case OPT_CONFIG:
            c->config = optarg;
            break;
        case OPT_NO_CONFIG:
            c->no_config = 1;
            break;
        case OPT_BASELINE:
            c->baseline = optarg;
            break;
        case OPT_MIN_SEV:
            if (parse_severity("--min-severity", optarg, &c->min_severity))
                return 2;
            break;
        case OPT_FAIL_ON:
            if (parse_severity("--fail-on", optarg, &c->fail_on))
                return 2;
            break;
        case OPT_SNAPSHOT:
            c->snapshot = optarg;
            break;
        case OPT_STAGED:
            c->staged = 1;
            break;
        case OPT_DIFF:
            c->diff = optarg;
            break;
        case 'q':
            c->level = LEVEL_QUIET;
            break;


        case 'v':
            c->level = LEVEL_VERBOSE;
            break;
        case 'h':
            if (c->mode == SCAN_BASELINE)
                baseline_help();
            else
                fputs(c->merging ? merge_usage : scan_usage, stdout);
            return 0;
        case ':':
            cli_error("option '%s' needs a value; see 'keysift %s --help'",
                      argv[optind - 1], c->merging ? "merge" : "scan");
            return 2;
        default:
            cli_error("unknown option '%s'; see 'keysift %s --help'",
                      argv[optind - 1], c->merging ? "merge" : "scan");
            return 2;
        }
    }
    return check_args(c, argc);
}

/*
 * The project config, then the options over it: an option given on the
 * command line wins. Returns 0, or -1 with the error printed.
 */
static int load_policy(scan_cli *c)
{
    policy *p = &c->pol;
    char *found = NULL;
    const char *path = c->config;

    if (!path && !c->no_config) {
        if (config_find(c->staged || c->diff ? NULL : c->inputs,
                        c->staged || c->diff ? 0 : c->n_inputs, &found))
            return -1;
        path = found;
    }
    if (path && config_load(p, path)) {
        free(found);
        return -1;
    }
    free(found);
    if (p->source && c->level >= LEVEL_VERBOSE)
        fprintf(stderr, "keysift: project config %s\n", p->source);
    if (c->min_severity >= 0)
        p->min_severity = c->min_severity;
    if (c->fail_on >= 0)
        p->fail_on = c->fail_on;
    if (c->mode == SCAN_BASELINE) {
        free(p->baseline_path);
        p->baseline_path = NULL;
    }
    path = c->baseline ? c->baseline : p->baseline_path;
    if (path && !(p->base = baseline_load(path)))
        return -1;
    for (size_t i = 0; i < p->n_rule_files; i++) {
        if (rule_opts_add(&c->rules, p->rule_files[i]))
            return -1;
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* "2 critical, 5 high": the findings by severity, worst first. */
static void severity_counts(const report *r, char *out, size_t cap)
{
    size_t count[KS_SEV_CRITICAL + 1] = { 0 }, used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < r->n_groups; i++)
        count[r->groups[i].first->rule->severity]++;
    for (int sev = KS_SEV_CRITICAL; sev >= KS_SEV_INFO && used < cap; sev--) {
        if (count[sev])
            used += (size_t)snprintf(out + used, cap - used, "%s%zu %s",
                                     used ? ", " : "", count[sev],
                                     ks_severity_str((ks_severity)sev));
    }
}

static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

/* "; 3 suppressed (2 baseline, 1 inline_allow)" */
static void print_suppressed(const report *r)
{
    size_t total = report_suppressed_total(r);
    const char *sep = "";

    if (total == 0)
        return;
    fprintf(stderr, "keysift: %zu suppressed (", total);
    for (int i = 1; i < SUPPRESS_COUNT; i++) {
        if (!r->suppressed[i])
            continue;
        fprintf(stderr, "%s%zu ", sep, r->suppressed[i]);
        for (const char *n = suppress_name((suppress_reason)i); *n; n++)
            fputc(*n == '_' ? ' ' : *n, stderr);
        sep = ", ";
    }
    fputs("); not reported\n", stderr);
}

static void print_summary(const scan_cli *c)
{
    const report *r = &c->rep;
    const ks_scan_stats *st = &r->stats;
    double mb = (double)st->bytes / 1e6;
    char sev[128];

    if (c->records) {
        fprintf(stderr, "keysift: shard %u/%u: %llu finding%s made; %llu "
                "layer%s, config%s and input%s left to other shards; merge "
                "the shards' outputs with 'keysift merge' for the report\n",
                c->shard_index, c->shard_count,
                (unsigned long long)(st->findings + st->layer_findings),
                plural(st->findings + st->layer_findings),
                (unsigned long long)st->units_other_shard,
                plural(st->units_other_shard), plural(st->units_other_shard),
                plural(st->units_other_shard));
    } else {
        severity_counts(r, sev, sizeof(sev));
        fprintf(stderr, "keysift: %zu finding%s%s%s%s in %zu place%s\n",
                r->n_groups, plural(r->n_groups), sev[0] ? " (" : "", sev,
                sev[0] ? ")" : "", r->n_occ, plural(r->n_occ));
    }
    if (st->images)
        fprintf(stderr, "keysift: %llu image%s, %llu layer%s read, %llu "
                "from the cache, %llu more use%s of layers already read\n",
                (unsigned long long)st->images, plural(st->images),
                (unsigned long long)st->layers_scanned,
                plural(st->layers_scanned),
                (unsigned long long)st->layers_cached,
                (unsigned long long)st->layers_reused,
                plural(st->layers_reused));
    fprintf(stderr, "keysift: %llu entries", (unsigned long long)st->entries);
    if (st->stored_bytes)
        fprintf(stderr, ", %.1f MB of layers read", st->stored_bytes / 1e6);
    fprintf(stderr, ", %.1f MB scanned in %.2f s (%.0f MB/s); %llu "
            "warning%s, %llu error%s\n", mb, r->seconds,
            r->seconds > 0 ? mb / r->seconds : 0.0,
            (unsigned long long)st->warnings, plural(st->warnings),
            (unsigned long long)st->errors, plural(st->errors));
    print_suppressed(r);
    if (c->level >= LEVEL_VERBOSE)
        fprintf(stderr, "keysift: %llu special files, symlinks and "
                "pseudo-filesystems skipped\n",
                (unsigned long long)st->skipped);
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
    rc = c->mode == SCAN_BASELINE
             ? baseline_write(out, &c->rep)
             : report_write(out, &c->rep, c->format, c->show_secrets);
    if (fflush(out) != 0)
        rc = -1;
    if (c->output && fclose(out) != 0)
        rc = -1;
    if (rc)
        cli_error("%s: cannot write report", c->output ? c->output
                                                       : "stdout");
    return rc;
}

/* With --shard, records go where the report would: -o FILE or stdout. */
static int open_records(scan_cli *c)
{
    if (c->shard_count == 0)
        return 0;
    c->records = stdout;
    if (c->output && !(c->records = fopen(c->output, "w"))) {
        cli_error("%s: cannot write records: %s", c->output,
                  strerror(errno));
        return -1;
    }
    return 0;
}

static int close_records(scan_cli *c)
{
    int rc = fflush(c->records) != 0 || ferror(c->records);

    if (c->records != stdout)
        rc |= fclose(c->records) != 0;
    if (rc)
        cli_error("%s: cannot write records", c->output ? c->output
                                                        : "stdout");
    return rc ? -1 : 0;
}

static int write_snapshot(scan_cli *c, const ks_ruleset *rules)
{
    const char *diff_inputs[1] = { c->staged ? "git diff --cached"
                                             : c->diff };
    snapshot_info info = {
        c->staged || c->diff ? diff_inputs : (const char *const *)c->inputs,
        c->staged || c->diff ? 1 : c->n_inputs,
        c->rules.paths, c->rules.n_paths, !c->rules.only,
        ks_ruleset_count(rules), c->pol.source,
        c->baseline ? c->baseline : c->pol.baseline_path,
    };

    return snapshot_write(c->snapshot, &c->rep, &info, c->show_secrets);
}

/* Scans only what a change adds; a diff that cannot be read is noted. */
static void scan_change(scan_cli *c, ks_scan *scan)
{
    int rc = c->staged ? staged_scan(scan, &c->rep, c->level)
                       : diff_scan(scan, &c->rep, c->diff, c->level);

    if (rc)
        c->change_failed = 1;
}

static ks_status scan_or_merge(scan_cli *c, ks_ruleset *rules,
                               char **inputs, size_t n,
                               ks_scan_stats *stats)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;
    ks_status st;

    ks_scan_options_init(&opts);
    opts.threads = c->jobs;
    opts.max_depth = c->max_depth;
    opts.block_max = c->limits.block_max;
    opts.max_unpacked = c->limits.max_unpacked;
    opts.max_total_unpacked = c->limits.max_total_unpacked;
    opts.max_ratio = c->limits.max_ratio;
    opts.max_entries = c->limits.max_entries;
    opts.max_seconds = c->limits.max_seconds;
    opts.max_path = c->limits.max_path;
    opts.platform = c->platform;
    opts.shard_index = c->shard_index;
    opts.shard_count = c->shard_count;
    opts.cache_dir = c->cache_dir;
    set_registry_options(&opts, c->registry_auth, c->insecure);
    opts.on_record = c->records ? on_record : NULL;
    opts.on_finding = on_finding;
    opts.on_diag = on_diag;
    opts.on_image = on_image;
    opts.on_progress = c->prog.on ? on_progress : NULL;
    opts.user = c;
    st = ks_scan_new(rules, &opts, &scan);
    if (st == KS_OK && c->merging)
        st = ks_scan_merge(scan, (const char *const *)inputs, n);
    else if (st == KS_OK && (c->staged || c->diff))
        scan_change(c, scan);
    else if (st == KS_OK)
        st = ks_scan_run(scan, (const char *const *)inputs, n);
    if (st == KS_OK)
        ks_scan_get_stats(scan, stats);
    ks_scan_free(scan);
    return st;
}

static int run(scan_cli *c, ks_ruleset *rules, char **inputs, size_t n)
{
    double start = now_seconds();
    ks_status st;

    progress_init(&c->prog, c->level == LEVEL_QUIET ? 0 : c->progress_mode);
    if (open_records(c))
        return 2;
    st = scan_or_merge(c, rules, inputs, n, &c->rep.stats);
    progress_clear(&c->prog);
    if (c->records && close_records(c) && st == KS_OK)
        st = KS_ERR_IO;
    if (st != KS_OK) {
        cli_error("%s failed: %s", c->merging ? "merge" : "scan",
                  ks_status_str(st));
        return 2;
    }
    if (c->change_failed)
        return 2;
    c->rep.stats.warnings += c->rep.cli_warnings;
    c->rep.seconds = now_seconds() - start;
    c->rep.rules_hash = ks_ruleset_hash(rules);
    report_filter(&c->rep, policy_judge, &c->pol);
    report_group(&c->rep);
    if (c->rep.failed) {
        cli_error("out of memory collecting findings");
        return 2;
    }
    if (!c->records && write_report(c))
        return 2;
    if (c->snapshot && write_snapshot(c, rules))
        return 2;
    if (c->level >= LEVEL_NORMAL)
        print_summary(c);
    if (c->rep.stats.errors)
        return 2;
    /* A shard's findings are judged once merged. */
    if (c->mode == SCAN_BASELINE || c->records)
        return 0;
    return policy_fails(&c->pol, &c->rep) ? 1 : 0;
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

static int scan_main(int argc, char **argv, int merging,
                     enum scan_mode mode)
{
    scan_cli c;
    ks_ruleset *rules = NULL;
    char **inputs = NULL;
    size_t n_inputs = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    ks_scan_options_init(&c.limits);
    c.merging = merging;
    c.mode = mode;
    c.level = LEVEL_NORMAL;
    c.min_severity = -1;
    c.fail_on = -1;
    policy_init(&c.pol);
    c.progress_mode = -1;
    rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        goto out;
    rc = 2;
    inputs = collect_inputs(&c, argc, argv, &n_inputs);
    if (!inputs) {
        cli_error("out of memory");
        goto out;
    }
    if (n_inputs == 0 && mode == SCAN_BASELINE) {
        static char here[] = ".";

        inputs[n_inputs++] = here;
    }
    c.inputs = inputs;
    c.n_inputs = n_inputs;
    if (load_policy(&c))
        goto out;
    c.rules.quiet = c.level == LEVEL_QUIET;
    rules = load_rules(&c.rules);
    if (!rules || policy_check_rules(&c.pol, rules))
        goto out;
    if (c.level >= LEVEL_VERBOSE)
        fprintf(stderr, "keysift: %zu rules, rules hash %.16s\n",
                ks_ruleset_count(rules), ks_ruleset_hash(rules));
    rc = run(&c, rules, inputs, n_inputs);
out:
    report_free(&c.rep);
    ks_ruleset_free(rules);
    policy_free(&c.pol);
    free(inputs);
    for (size_t i = 0; i < c.n_pids; i++)
        free(c.pids[i]);
    free(c.pids);
    free(c.rules.paths);
    return rc;
}

int scan_command(int argc, char **argv, enum scan_mode mode)
{
    return scan_main(argc, argv, 0, mode);
}

int cmd_scan(int argc, char **argv)
{
    return scan_main(argc, argv, 0, SCAN_REPORT);
}

int cmd_merge(int argc, char **argv)
{
    return scan_main(argc, argv, 1, SCAN_REPORT);
}
