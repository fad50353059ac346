/*
 * main.c - the keysift command: subcommand dispatch, help, and what the
 * subcommands share (loading rules, printing errors).
 */
#include "cli.h"

#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "keysift - find secrets in files, directories, container images and\n"
    "registries\n"
    "\n"
    "Usage:\n"
    "  keysift scan [OPTIONS] INPUT...    scan files, directories, archives,\n"
    "                                     container images (OCI layouts,\n"
    "                                     docker save archives, registry\n"
    "                                     stores), processes, or - for\n"
    "                                     standard input\n"
    "  keysift plan SOURCE...             list the unique layers of image\n"
    "                                     sources and the images using each\n"
    "  keysift merge FILE...              join the outputs of sharded\n"
    "                                     scans (scan --shard K/N) into one\n"
    "                                     report\n"
    "  keysift scan --staged | --diff F   scan only the lines a change adds\n"
    "  keysift baseline create [INPUT...] record today's findings so that a\n"
    "                                     gate fails only on new ones\n"
    "  keysift diff OLD NEW               compare two scan snapshots\n"
    "  keysift rules list [OPTIONS]       list the rules in use\n"
    "  keysift rules test [OPTIONS]       check every rule against its\n"
    "                                     examples and negative examples\n"
    "  keysift rules check FILE...        load and compile rule files,\n"
    "                                     reporting every problem\n"
    "  keysift rules bench CORPUS --truth FILE\n"
    "                                     precision, recall and cost of the\n"
    "                                     rules on a labeled corpus\n"
    "  keysift rules profile CORPUS       each rule's share of scan time\n"
    "  keysift rules export --format yara|rg\n"
    "                                     the patterns for YARA or ripgrep\n"
    "  keysift version                    print the version\n"
    "  keysift help [COMMAND]             show help for a command\n"
    "\n"
    "Examples:\n"
    "  keysift scan .                         scan the current directory\n"
    "  keysift scan layer.tar.gz -f json      scan a layer, JSON report\n"
    "  keysift scan /srv/registry             scan a registry's storage\n"
    "  docker save img | keysift scan -       scan a tar from a pipe\n"
    "  keysift scan --rules my-rules.yaml src/\n"
    "  keysift scan -f sarif -o keysift.sarif --baseline base.json .\n"
    "\n"
    "Exit status: 0 nothing found, 1 findings (for scan: at or above\n"
    "--fail-on; for diff: new ones), 2 an error occurred.\n"
    "Run 'keysift scan --help' for scan options; docs/ has the details\n"
    "(docs/ci.md for CI gates and pre-commit).\n";

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("keysift: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void set_registry_options(ks_scan_options *opts, const char *auth_file,
                          int insecure)
{
    opts->registry_auth = auth_file;
    opts->registry_user = getenv("KEYSIFT_REGISTRY_USER");
    opts->registry_password = getenv("KEYSIFT_REGISTRY_PASSWORD");
    opts->registry_plain_http = insecure;
}

int parse_shard_arg(const char *arg, unsigned *k, unsigned *n)
{
    char *end = NULL;
    unsigned long a, b;

    errno = 0;
    a = strtoul(arg, &end, 10);
    if (errno || end == arg || *end != '/' || arg[0] == '-')
        return -1;
    arg = end + 1;
    b = strtoul(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-' || b < 1 ||
        b > 65536 || a >= b)
        return -1;
    *k = (unsigned)a;
    *n = (unsigned)b;
    return 0;
}

int parse_format(const char *name, out_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = FORMAT_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = FORMAT_JSON;
    else if (strcmp(name, "jsonl") == 0)
        *out = FORMAT_JSONL;
    else
        return -1;
    return 0;
}

int rule_opts_add(rule_opts *ro, const char *path)
{
    const char **grown = realloc(ro->paths,
                                 (ro->n_paths + 1) * sizeof(*ro->paths));

    if (!grown)
        return -1;
    ro->paths = grown;
    ro->paths[ro->n_paths++] = path;
    return 0;
}

/*
 * Where compiled rules are cached: $KEYSIFT_CACHE_DIR, else
 * $XDG_CACHE_HOME/keysift, else ~/.cache/keysift. KEYSIFT_CACHE_DIR set
 * to "" (or --no-cache) turns the cache off.
 */
static int cache_dir(char *out, size_t cap)
{
    const char *env = getenv("KEYSIFT_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");

    if (env)
        return env[0] && snprintf(out, cap, "%s", env) < (int)cap ? 0 : -1;
    if (xdg && xdg[0])
        return snprintf(out, cap, "%s/keysift", xdg) < (int)cap ? 0 : -1;
    if (home && home[0])
        return snprintf(out, cap, "%s/.cache/keysift", home) < (int)cap
                   ? 0
                   : -1;
    return -1;
}

ks_ruleset *load_rules(const rule_opts *ro)
{
    ks_ruleset *rules = NULL;
    ks_status st = ks_ruleset_new(&rules);
    char dir[4096];

    if (st != KS_OK) {
        cli_error("%s", ks_status_str(st));
        return NULL;
    }
    if (!ro->no_cache && cache_dir(dir, sizeof(dir)) == 0 &&
        ks_ruleset_set_cache_dir(rules, dir) != KS_OK)
        goto fail;
    if (ro->only && ro->n_paths == 0) {
        cli_error("--rules-only needs at least one --rules FILE|DIR");
        goto fail;
    }
    if (!ro->only && ks_ruleset_add_defaults(rules) != KS_OK)
        goto fail_detail;
    for (size_t i = 0; i < ro->n_paths; i++) {
        if (ks_ruleset_add_path(rules, ro->paths[i]) != KS_OK)
            goto fail_detail;
    }
    if (ks_ruleset_compile(rules) != KS_OK)
        goto fail_detail;
    if (!ro->quiet) {
        for (size_t i = 0; i < ks_ruleset_note_count(rules); i++)
            fprintf(stderr, "keysift: note: %s\n", ks_ruleset_note(rules, i));
    }
    return rules;

fail_detail:
    /* Every problem found, so that one run shows all a file needs. */
    if (ks_ruleset_problem_count(rules) == 0)
        cli_error("%s", ks_ruleset_error(rules));
    for (size_t i = 0; i < ks_ruleset_problem_count(rules); i++)
        cli_error("%s", ks_ruleset_problem(rules, i));
fail:
    ks_ruleset_free(rules);
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    char help[] = "--help";
    char *sub[] = { argc > 1 ? argv[1] : NULL, help, NULL };

    if (argc > 1 && strcmp(argv[1], "scan") == 0)
        return cmd_scan(2, sub);
    if (argc > 1 && strcmp(argv[1], "rules") == 0)
        return cmd_rules(2, sub);
    if (argc > 1 && strcmp(argv[1], "plan") == 0)
        return cmd_plan(2, sub);
    if (argc > 1 && strcmp(argv[1], "merge") == 0)
        return cmd_merge(2, sub);
    if (argc > 1 && strcmp(argv[1], "baseline") == 0)
        return cmd_baseline(2, sub);
    if (argc > 1 && strcmp(argv[1], "diff") == 0)
        return cmd_diff(2, sub);
    fputs(usage_text, stdout);
    return 0;
}

/*
 * libarchive turns archive member names into the locale's character set.
 * A program starts in the C locale, where a UTF-8 name (a zip's, a pax
 * header's) cannot be turned into ASCII: every such member would be a
 * warning. Reports are UTF-8 whatever the user's locale, so names are read
 * as UTF-8; where no UTF-8 locale exists the C locale stays.
 */
static void read_names_as_utf8(void)
{
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "C.utf8");
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;

    read_names_as_utf8();
    if (!cmd) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
        return cmd_help(0, NULL);
    if (strcmp(cmd, "help") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 ||
        strcmp(cmd, "-V") == 0) {
        printf("keysift %s\n", KS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "scan") == 0)
        return cmd_scan(argc - 1, argv + 1);
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(argc - 1, argv + 1);
    if (strcmp(cmd, "plan") == 0)
        return cmd_plan(argc - 1, argv + 1);
    if (strcmp(cmd, "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    if (strcmp(cmd, "baseline") == 0)
        return cmd_baseline(argc - 1, argv + 1);
    if (strcmp(cmd, "diff") == 0)
        return cmd_diff(argc - 1, argv + 1);
    cli_error("unknown command '%s'; run 'keysift --help' for the list",
              cmd);
    return 2;
}
