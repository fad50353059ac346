/*
 * rules_export.c - `keysift rules export`: the rules' patterns in the
 * syntax of other tools, so they can be measured on the same patterns.
 *
 *   --format rg    one pattern per line, Rust regex syntax (ripgrep -f)
 *   --format yara  one YARA rule per keysift rule
 *
 * keysift's patterns are PCRE. Most of it carries over as it is; what
 * differs is rewritten: YARA has no (?:...) or (?i:...) groups, so groups
 * become plain groups and case-insensitive parts spell out both cases of
 * each letter, and '/' is escaped; Rust's classes treat '[' and doubled
 * '&', '-' and '~' as set syntax, so those are escaped, and Unicode is
 * turned off, as PCRE's \b, \w and friends are ASCII-only. A pattern using
 * something the target lacks (lookaround, back-references, atomic groups,
 * possessive repeats, \Q...\E, POSIX classes in YARA, ...) is skipped and
 * named on stderr with the reason.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char export_usage[] =
    "Usage: keysift rules export --format yara|rg [OPTIONS] [FILE|DIR...]\n"
    "\n"
    "Writes the patterns of the rules in use in another tool's syntax:\n"
    "  yara  one YARA rule per keysift rule (yara -r RULES DIR)\n"
    "  rg    one Rust-syntax regex per line (rg -f PATTERNS DIR)\n"
    "Patterns the target cannot express are skipped; stderr names each one\n"
    "and why, and ends with the count. Only the pattern is exported: the\n"
    "capture, validators, entropy floors and noise filters that keysift\n"
    "applies after a match have no equivalent, so the peers report more.\n"
    "\n"
    "Options:\n"
    "      --format FORMAT  yara or rg (required)\n"
    "  -o, --output FILE    write to FILE instead of stdout\n"
    "      --rules PATH     add rules from a YAML file or directory\n"
    "      --rules-only     use only the --rules rules\n"
    "  -h, --help           show this help\n";

typedef enum target { TARGET_YARA, TARGET_RG } target;

/* A growing string. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    char *grown;

    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;

        grown = realloc(b->p, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_chr(sbuf *b, char c)
{
    sb_add(b, &c, 1);
}

/* The translator's state over one pattern. */
typedef struct xlat {
    target to;
    const char *p;          /* next pattern byte */
    sbuf out;
    unsigned char nocase[64];   /* per open group: inside (?i:...) */
    size_t depth;
    int global_nocase;      /* (?i) at the very start (YARA: nocase) */
    const char *why;        /* reason for skipping, or NULL */
} xlat;

static int in_nocase(const xlat *x)
{
    return x->depth > 0 && x->nocase[x->depth - 1];
}

static void fail(xlat *x, const char *why)
{
    if (!x->why)
        x->why = why;
}

/* A literal letter, spelled in both cases where YARA needs it. */
static void literal(xlat *x, char c)
{
    if (c == '/' && x->to == TARGET_YARA) {
        sb_str(&x->out, "\\/");
    } else if (x->to == TARGET_YARA && in_nocase(x) &&
               isalpha((unsigned char)c)) {
        char both[5] = { '[', (char)tolower((unsigned char)c),
                         (char)toupper((unsigned char)c), ']', '\0' };

        sb_str(&x->out, both);
    } else {
        sb_chr(&x->out, c);
    }
}

/* An escape outside a class: "\x" with p at 'x'. */
static void escape(xlat *x, int in_class)
{
    char c = *x->p++;

    switch (c) {
    case '\0':
        fail(x, "pattern ends with a backslash");
        return;
    case 'x':
        if (isxdigit((unsigned char)x->p[0]) &&
            isxdigit((unsigned char)x->p[1])) {
            sb_str(&x->out, "\\x");
            sb_add(&x->out, x->p, 2);
            x->p += 2;
            return;
        }
        fail(x, "\\x{...} escapes");
        return;
    case 'n':
        if (x->to == TARGET_RG) {
            fail(x, "a line break, which ripgrep matches only in its "
                    "much slower multiline mode");
            return;
        }
        break;
    case 'z':
    case 'A':
        if (x->to == TARGET_RG)
            sb_add(&x->out, x->p - 2, 2);
        else
            sb_str(&x->out, c == 'z' ? "$" : "^");
        return;
    case 'Z':
    case 'G':
    case 'K':
    case 'Q':
    case 'E':
    case 'R':
    case 'X':
    case 'h':
    case 'H':
    case 'v':
    case 'V':
    case 'p':
    case 'P':
    case 'k':
    case 'g':
        fail(x, "an escape the target has no equivalent for");
        return;
    default:
        break;
    }
    if (isdigit((unsigned char)c)) {
        fail(x, "back-references");
        return;
    }
    if (in_class && x->to == TARGET_YARA && in_nocase(x) &&
        isalpha((unsigned char)c) && strchr("bdDsSwWtnrfae", c) == NULL) {
        literal(x, c);
        return;
    }
    if (c == '/' && x->to == TARGET_YARA) {
        sb_str(&x->out, "\\/");
        return;
    }
    sb_chr(&x->out, '\\');
    sb_chr(&x->out, c);
}

/* Letters of a class item that a case-blind class must add. */
static void add_other_case(sbuf *extra, char lo, char hi)
{
    if (islower((unsigned char)lo) && islower((unsigned char)hi)) {
        sb_chr(extra, (char)toupper((unsigned char)lo));
        if (hi != lo) {
            sb_chr(extra, '-');
            sb_chr(extra, (char)toupper((unsigned char)hi));
        }
    } else if (isupper((unsigned char)lo) && isupper((unsigned char)hi)) {
        sb_chr(extra, (char)tolower((unsigned char)lo));
        if (hi != lo) {
            sb_chr(extra, '-');
            sb_chr(extra, (char)tolower((unsigned char)hi));
        }
    }
}

/* A character class, p just past '['. */
static void char_class(xlat *x)
{
    sbuf extra = { NULL, 0, 0, 0 };
    int first = 1;

    sb_chr(&x->out, '[');
    if (*x->p == '^') {
        sb_chr(&x->out, '^');
        x->p++;
    }
    while (*x->p && (*x->p != ']' || first)) {
        char c = *x->p++;

        first = 0;
        if (c == '\\') {
            escape(x, 1);
            continue;
        }
        if (c == '[' && *x->p == ':') {
            if (x->to == TARGET_YARA)
                fail(x, "POSIX character classes");
            else
                sb_str(&x->out, "[");
            continue;
        }
        if (x->to == TARGET_RG && (c == '[' || ((c == '&' || c == '-' ||
                                                 c == '~') && *x->p == c))) {
            sb_chr(&x->out, '\\');
            sb_chr(&x->out, c);
            if (c != '[') {
                sb_chr(&x->out, '\\');
                sb_chr(&x->out, *x->p++);
            }
            continue;
        }
        if (c == '/' && x->to == TARGET_YARA) {
            sb_str(&x->out, "\\/");
            continue;
        }
        sb_chr(&x->out, c);
        if (x->to == TARGET_YARA && in_nocase(x) && isalpha((unsigned char)c))
        {
            char hi = c;

            if (x->p[0] == '-' && x->p[1] && x->p[1] != ']') {
                hi = x->p[1];
                sb_add(&x->out, x->p, 2);
                x->p += 2;
                if (!isalpha((unsigned char)hi))
                    fail(x, "a class range mixing letters and other bytes");
            }
            add_other_case(&extra, c, hi);
        }
    }
    if (*x->p != ']') {
        fail(x, "unterminated character class");
    } else {
        x->p++;
        if (extra.len)
            sb_add(&x->out, extra.p, extra.len);
        sb_chr(&x->out, ']');
    }
    if (extra.failed)
        x->out.failed = 1;
    free(extra.p);
}

/* A group opening, p just past '('. */
static void group_open(xlat *x)
{
    int nocase = in_nocase(x);

    if (x->depth >= sizeof(x->nocase)) {
        fail(x, "groups nested too deep");
        return;
    }
    if (*x->p != '?') {
        sb_chr(&x->out, '(');
    } else if (x->p[1] == ':') {
        sb_str(&x->out, x->to == TARGET_YARA ? "(" : "(?:");
        x->p += 2;
    } else if (x->p[1] == 'i' && x->p[2] == ':') {
        sb_str(&x->out, x->to == TARGET_YARA ? "(" : "(?i:");
        x->p += 3;
        nocase = 1;
    } else if (x->p[1] == '=' || x->p[1] == '!' ||
               (x->p[1] == '<' && (x->p[2] == '=' || x->p[2] == '!'))) {
        fail(x, "lookaround");
        return;
    } else if (x->p[1] == '>') {
        fail(x, "atomic groups");
        return;
    } else {
        fail(x, "inline options other than a leading (?i) or (?i:...)");
        return;
    }
    x->nocase[x->depth++] = (unsigned char)nocase;
}

/* A quantifier's trailing '+' makes it possessive, which neither has. */
static void quantifier_suffix(xlat *x)
{
    if (*x->p == '+') {
        fail(x, "possessive repeats");
        return;
    }
    if (*x->p == '?')
        sb_chr(&x->out, *x->p++);
}

static char *translate(const char *pattern, target to, int *nocase,
                       const char **why)
{
    xlat x;

    memset(&x, 0, sizeof(x));
    x.to = to;
    x.p = pattern;
    /* PCRE's \b, \w, \d, \s and classes are ASCII and byte-wise, as
     * Rust's are with Unicode off (and its fast DFA then applies). */
    if (to == TARGET_RG)
        sb_str(&x.out, "(?-u)");
    if (strncmp(x.p, "(?i)", 4) == 0) {
        x.p += 4;
        if (to == TARGET_YARA)
            x.global_nocase = 1;
        else
            sb_str(&x.out, "(?i)");
    }
    while (*x.p && !x.why) {
        char c = *x.p++;

        switch (c) {
        case '\\':
            escape(&x, 0);
            break;
        case '[':
            char_class(&x);
            break;
        case '(':
            group_open(&x);
            break;
        case ')':
            if (x.depth == 0)
                fail(&x, "unbalanced parenthesis");
            else
                x.depth--;
            sb_chr(&x.out, ')');
            break;
        case '*':
        case '+':
        case '?':
            sb_chr(&x.out, c);
            quantifier_suffix(&x);
            break;
        case '{': {
            const char *end = strchr(x.p, '}');

            if (!end) {
                literal(&x, c);
                break;
            }
            sb_add(&x.out, x.p - 1, (size_t)(end - x.p) + 2);
            x.p = end + 1;
            quantifier_suffix(&x);
            break;
        }
        default:
            if (c == '\n')
                fail(&x, "a line break in the pattern");
            else if (c == '.' || c == '^' || c == '$' || c == '|')
                sb_chr(&x.out, c);
            else
                literal(&x, c);
            break;
        }
    }
    if (!x.why && x.depth)
        fail(&x, "unbalanced parenthesis");
    if (!x.why && x.out.failed)
        fail(&x, "out of memory");
    *why = x.why;
    *nocase = x.global_nocase;
    if (x.why) {
        free(x.out.p);
        return NULL;
    }
    return x.out.p ? x.out.p : strdup("");
}

/* A YARA identifier for a rule id: letters, digits and '_'. */
static void yara_name(const char *id, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "keysift_");

    for (const char *p = id; *p && n + 1 < cap; p++)
        out[n++] = isalnum((unsigned char)*p) ? *p : '_';
    out[n] = '\0';
}

static void write_rule(FILE *out, target to, const ks_rule_info *r,
                       const char *re, int nocase)
{
    char name[128];

    if (to == TARGET_RG) {
        fprintf(out, "%s\n", re);
        return;
    }
    yara_name(r->id, name, sizeof(name));
    fprintf(out, "rule %s\n{\n    meta:\n        id = \"%s\"\n", name,
            r->id);
    fprintf(out, "    strings:\n        $p = /%s/%s\n", re,
            nocase ? " nocase" : "");
    fprintf(out, "    condition:\n        $p\n}\n\n");
}

static int export_rules(const ks_ruleset *rules, target to, FILE *out)
{
    size_t n = ks_ruleset_count(rules), written = 0, skipped = 0;

    if (to == TARGET_YARA)
        fprintf(out, "// keysift %s rules exported for YARA; patterns "
                "only (no captures, validators or entropy floors)\n\n",
                KS_VERSION);
    for (size_t i = 0; i < n; i++) {
        const ks_rule_info *r = ks_ruleset_rule(rules, i);
        const char *why = NULL;
        int nocase = 0;
        char *re;

        if (!r->pattern) {
            fprintf(stderr, "keysift: note: %s skipped: a path rule, with "
                    "no pattern to export\n", r->id);
            skipped++;
            continue;
        }
        re = translate(r->pattern, to, &nocase, &why);

        if (!re) {
            fprintf(stderr, "keysift: note: %s skipped: %s\n", r->id, why);
            skipped++;
            continue;
        }
        write_rule(out, to, r, re, nocase);
        free(re);
        written++;
    }
    fprintf(stderr, "keysift: exported %zu of %zu rules; skipped %zu that "
            "%s cannot express\n", written, n, skipped,
            to == TARGET_YARA ? "YARA" : "ripgrep");
    return ferror(out) ? 2 : 0;
}

int cmd_rules_export(int argc, char **argv)
{
    enum { OPT_RULES = 256, OPT_RULES_ONLY, OPT_FORMAT };
    static const struct option longs[] = {
        { "format", required_argument, NULL, OPT_FORMAT },
        { "output", required_argument, NULL, 'o' },
        { "rules", required_argument, NULL, OPT_RULES },
        { "rules-only", no_argument, NULL, OPT_RULES_ONLY },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    rule_opts ro = { NULL, 0, 0, 1, 0 };
    const char *format = NULL, *output = NULL;
    ks_ruleset *rules = NULL;
    FILE *out = stdout;
    int opt, rc = 2;
    target to;

    opterr = 0;
    optind = 2;
    while ((opt = getopt_long(argc, argv, ":o:h", longs, NULL)) != -1) {
        switch (opt) {
        case OPT_FORMAT:
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case OPT_RULES:
            if (rule_opts_add(&ro, optarg))
                goto out;
            break;
        case OPT_RULES_ONLY:
            ro.only = 1;
            break;
        case 'h':
            fputs(export_usage, stdout);
            rc = 0;
            goto out;
        default:
            cli_error("bad option '%s'; see 'keysift rules export --help'",
                      argv[optind - 1]);
            goto out;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (rule_opts_add(&ro, argv[i]))
            goto out;
        ro.only = 1;
    }
    if (!format || (strcmp(format, "yara") && strcmp(format, "rg"))) {
        cli_error("'rules export' wants --format yara or --format rg");
        goto out;
    }
    to = strcmp(format, "yara") == 0 ? TARGET_YARA : TARGET_RG;
    rules = load_rules(&ro);
    if (!rules)
        goto out;
    if (output && !(out = fopen(output, "w"))) {
        cli_error("cannot write %s: %s", output, strerror(errno));
        goto out;
    }
    rc = export_rules(rules, to, out);
    if (out != stdout && fclose(out) != 0)
        rc = 2;
    if (rc)
        cli_error("writing the export failed");
out:
    ks_ruleset_free(rules);
    free(ro.paths);
    return rc;
}
