/*
 * rules_cmd.c - `keysift rules list`, `keysift rules test` and
 * `keysift rules check`.
 *
 * `rules test` scans each rule's examples (each must yield a finding of
 * that rule) and negative examples (none may), exactly as `scan` would, so
 * a passing rule file behaves the same in real scans.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char rules_usage[] =
    "Usage: keysift rules list  [OPTIONS] [FILE|DIR...]\n"
    "       keysift rules test  [OPTIONS] [FILE|DIR...]\n"
    "       keysift rules check [OPTIONS] FILE|DIR...\n"
    "       keysift rules bench CORPUS --truth FILE [OPTIONS]\n"
    "       keysift rules profile CORPUS [OPTIONS]\n"
    "       keysift rules export --format yara|rg [OPTIONS]\n"
    "\n"
    "list   prints every rule in use: id, severity, confidence, family and\n"
    "       name.\n"
    "test   scans every rule's examples and negative examples and reports\n"
    "       each that does not behave; exits 1 if any fails. A path rule's\n"
    "       examples are paths; a path-filtered rule's are scanned under\n"
    "       its example_path.\n"
    "check  loads and compiles rule files and reports every problem with\n"
    "       its file, line and rule id; exits 2 if any file is bad.\n"
    "bench  measures precision, recall and per-rule cost on a labeled\n"
    "       corpus; see 'keysift rules bench --help'.\n"
    "profile\n"
    "       each rule's share of scan time, candidates and findings on a\n"
    "       corpus; see 'keysift rules profile --help'.\n"
    "export writes the rules' patterns for YARA or ripgrep; see\n"
    "       'keysift rules export --help'.\n"
    "\n"
    "Rule files named on the command line are used instead of the built-in\n"
    "rules (as with --rules-only --rules FILE); with none, the built-in\n"
    "rules plus any --rules are used.\n"
    "\n"
    "Options:\n"
    "      --rules PATH     add rules from a YAML file or directory\n"
    "                       (repeatable)\n"
    "      --rules-only     use only the --rules rules\n"
    "  -f, --format FORMAT  for list: text (default) or json\n"
    "  -q, --quiet          for test: print only failures and the total\n"
    "  -h, --help           show this help\n"
    "\n"
    "The rule format is described in docs/rules.md.\n";

typedef struct rules_cli {
    rule_opts rules;
    out_format format;
    int quiet;
} rules_cli;

static int parse_args(rules_cli *c, int argc, char **argv)
{
    enum { OPT_RULES = 256, OPT_RULES_ONLY };
    static const struct option longs[] = {
        { "rules", required_argument, NULL, OPT_RULES },
        { "rules-only", no_argument, NULL, OPT_RULES_ONLY },
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;

    opterr = 0;
    optind = 2;     /* argv[0] is "rules", argv[1] the action */
    while ((opt = getopt_long(argc, argv, ":f:qh", longs, NULL)) != -1) {
        switch (opt) {
        case OPT_RULES:
            if (rule_opts_add(&c->rules, optarg))
                return 2;
            break;
        case OPT_RULES_ONLY:
            c->rules.only = 1;
            break;
        case 'f':
            if (parse_format(optarg, &c->format) == 0 &&
                c->format != FORMAT_JSONL)
                break;
            cli_error("unknown format '%s' (use text or json)", optarg);
            return 2;
        case 'q':
            c->quiet = 1;
            break;
        case 'h':
            fputs(rules_usage, stdout);
            return 0;
        default:
            cli_error("bad option '%s'; see 'keysift rules --help'",
                      argv[optind - 1]);
            return 2;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (rule_opts_add(&c->rules, argv[i]))
            return 2;
        c->rules.only = 1;
    }
    return -1;
}

static json_t *string_list(const char *const *items, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

static int list_json(const ks_ruleset *rules)
{
    json_t *all = json_array();

    for (size_t i = 0; i < ks_ruleset_count(rules); i++) {
        const ks_rule_info *r = ks_ruleset_rule(rules, i);
        json_t *j = json_object();

        json_object_set_new(j, "id", json_string(r->id));
        json_object_set_new(j, "name", json_string(r->name));
        json_object_set_new(j, "severity",
                            json_string(ks_severity_str(r->severity)));
        json_object_set_new(j, "confidence",
                            json_string(ks_confidence_str(r->confidence)));
        json_object_set_new(j, "family", json_string(r->family));
        json_object_set_new(j, "pattern", r->pattern
                                              ? json_string(r->pattern)
                                              : json_null());
        json_object_set_new(j, "path", r->path ? json_string(r->path)
                                               : json_null());
        json_object_set_new(j, "validate", r->validate
                                               ? json_string(r->validate)
                                               : json_null());
        json_object_set_new(j, "generic", json_boolean(r->generic));
        json_object_set_new(j, "entropy", json_real(r->min_entropy));
        json_object_set_new(j, "source", json_string(r->source));
        json_object_set_new(j, "references",
                            string_list(r->references, r->n_references));
        json_array_append_new(all, j);
    }
    json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(all);
    return 0;
}

static int list_text(const ks_ruleset *rules)
{
    for (size_t i = 0; i < ks_ruleset_count(rules); i++) {
        const ks_rule_info *r = ks_ruleset_rule(rules, i);

        printf("%-40s %-8s %-6s %-16s %s\n", r->id,
               ks_severity_str(r->severity),
               ks_confidence_str(r->confidence), r->family, r->name);
    }
    return 0;
}

/* Counts findings of one rule while an example is scanned. */
typedef struct probe {
    const ks_rule_info *rule;
    size_t hits;
} probe;

static int probe_finding(const ks_finding *f, void *user)
{
    probe *p = user;

    if (f->rule == p->rule)
        p->hits++;
    return 0;
}

/*
 * Scans one example as `scan` would see it: a path rule's examples are
 * paths, scanned as empty entries of that name; a rule limited by `path`
 * sees its examples under its example_path.
 */
static int probe_text(ks_scan *scan, probe *p, const char *text,
                      size_t *hits)
{
    const ks_rule_info *r = p->rule;
    const char *name = r->example_path ? r->example_path : "example";
    ks_status st;

    p->hits = 0;
    if (!r->pattern)
        st = ks_scan_buffer(scan, text, "", 0);
    else
        st = ks_scan_buffer(scan, name, text, strlen(text));
    if (st != KS_OK)
        return -1;
    *hits = p->hits;
    return 0;
}

/* Runs one rule's examples; adds to the pass and fail counts. */
static void test_rule(ks_scan *scan, probe *p, int quiet, size_t *passed,
                      size_t *failed)
{
    const ks_rule_info *r = p->rule;
    size_t hits;

    for (size_t i = 0; i < r->n_examples; i++) {
        if (probe_text(scan, p, r->examples[i], &hits) == 0 && hits > 0) {
            (*passed)++;
            continue;
        }
        (*failed)++;
        printf("FAIL %s: example %zu is not found\n", r->id, i + 1);
    }
    for (size_t i = 0; i < r->n_negative_examples; i++) {
        if (probe_text(scan, p, r->negative_examples[i], &hits) == 0 &&
            hits == 0) {
            (*passed)++;
            continue;
        }
        (*failed)++;
        printf("FAIL %s: negative example %zu is reported\n", r->id, i + 1);
    }
    if (r->n_examples == 0 || r->n_negative_examples == 0) {
        (*failed)++;
        printf("FAIL %s: a rule needs at least one example and one "
               "negative example\n", r->id);
    } else if (!quiet) {
        printf("ok   %s (%zu examples, %zu negative)\n", r->id,
               r->n_examples, r->n_negative_examples);
    }
}

static int test_rules(const ks_ruleset *rules, int quiet)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;
    probe p = { NULL, 0 };
    size_t passed = 0, failed = 0;

    ks_scan_options_init(&opts);
    opts.on_finding = probe_finding;
    opts.user = &p;
    if (ks_scan_new(rules, &opts, &scan) != KS_OK) {
        cli_error("cannot start a scan");
        return 2;
    }
    for (size_t i = 0; i < ks_ruleset_count(rules); i++) {
        p.rule = ks_ruleset_rule(rules, i);
        test_rule(scan, &p, quiet, &passed, &failed);
    }
    ks_scan_free(scan);
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}

/* Loads each file on its own, so every bad file is reported, then all
 * together, which catches ids duplicated across files. */
static int check_rules(const rules_cli *c)
{
    int bad = 0;
    ks_ruleset *all;

    if (c->rules.n_paths == 0) {
        cli_error("'rules check' wants rule files or directories");
        return 2;
    }
    for (size_t i = 0; i < c->rules.n_paths; i++) {
        rule_opts one = { &c->rules.paths[i], 1, 1, 1, 0 };
        ks_ruleset *rules = load_rules(&one);

        bad |= rules == NULL;
        ks_ruleset_free(rules);
    }
    if (bad)
        return 2;
    all = load_rules(&c->rules);
    if (!all)
        return 2;
    printf("%zu rules in %zu file%s: ok\n", ks_ruleset_count(all),
           c->rules.n_paths, c->rules.n_paths == 1 ? "" : "s");
    ks_ruleset_free(all);
    return 0;
}

int cmd_rules(int argc, char **argv)
{
    rules_cli c;
    ks_ruleset *rules;
    const char *action = argc > 1 ? argv[1] : "";
    int rc;

    memset(&c, 0, sizeof(c));
    if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
        fputs(rules_usage, stdout);
        return 0;
    }
    if (strcmp(action, "bench") == 0)
        return cmd_rules_bench(argc, argv);
    if (strcmp(action, "profile") == 0)
        return cmd_rules_profile(argc, argv);
    if (strcmp(action, "export") == 0)
        return cmd_rules_export(argc, argv);
    if (strcmp(action, "list") != 0 && strcmp(action, "test") != 0 &&
        strcmp(action, "check") != 0) {
        cli_error("'keysift rules' wants 'list', 'test', 'check', "
                  "'bench', 'profile' or 'export'; see "
                  "'keysift rules --help'");
        return 2;
    }
    rc = parse_args(&c, argc, argv);
    if (rc < 0 && strcmp(action, "check") == 0) {
        rc = check_rules(&c);
    } else if (rc < 0) {
        rules = load_rules(&c.rules);
        if (!rules)
            rc = 2;
        else if (strcmp(action, "test") == 0)
            rc = test_rules(rules, c.quiet);
        else
            rc = c.format == FORMAT_JSON ? list_json(rules)
                                         : list_text(rules);
        ks_ruleset_free(rules);
    }
    free(c.rules.paths);
    return rc;
}
