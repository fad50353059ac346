/*
 * gate.c - the policy a CI gate applies to a scan's findings: which
 * locations are suppressed (and why, so that each is counted), and whether
 * what remains fails the build.
 */
#include "cli.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

void policy_init(policy *p)
{
    memset(p, 0, sizeof(*p));
    p->min_severity = -1;
    p->fail_on = -1;
}

void policy_free(policy *p)
{
    free(p->source);
    free_strings(p->rule_files, p->n_rule_files);
    free_strings(p->disabled, p->n_disabled);
    free_strings(p->allow_paths, p->n_allow_paths);
    for (size_t i = 0; i < p->n_allow_values; i++)
        pcre2_code_free(p->allow_values[i]);
    free(p->allow_values);
    free_strings(p->allow_value_text, p->n_allow_values);
    free_strings(p->allow_secrets, p->n_allow_secrets);
    free(p->baseline_path);
    baseline_free(p->base);
    policy_init(p);
}

/* ---- globs -------------------------------------------------------------- */

/*
 * Matches one "[...]" class at *pp against c and moves *pp past it.
 * Returns 1 or 0, or -1 when the class is not closed (then '[' is taken
 * literally by the caller).
 */
static int match_class(const char **pp, unsigned char c)
{
    const char *p = *pp + 1;
    int negate = *p == '!' || *p == '^';
    int hit = 0;

    if (negate)
        p++;
    for (int first = 1; *p && (first || *p != ']'); first = 0) {
        unsigned char lo = (unsigned char)*p++;
        unsigned char hi = lo;

        if (p[0] == '-' && p[1] && p[1] != ']') {
            hi = (unsigned char)p[1];
            p += 2;
        }
        hit |= c >= lo && c <= hi;
    }
    if (*p != ']')
        return -1;
    *pp = p + 1;
    return hit != negate && c != '/';
}

int glob_match(const char *p, const char *t)
{
    while (*p) {
        if (p[0] == '*' && p[1] == '*') {
            /* "**" crosses directories; "**" + "/" may match none. */
            int slash = p[2] == '/';

            p += slash ? 3 : 2;
            for (const char *s = t;; s++) {
                if ((!slash || s == t || s[-1] == '/') && glob_match(p, s))
                    return 1;
                if (!*s)
                    return 0;
            }
        }
        if (*p == '*') {
            for (const char *s = t;; s++) {
                if (glob_match(p + 1, s))
                    return 1;
                if (!*s || *s == '/')
                    return 0;
            }
        }
        if (*p == '[') {
            const char *q = p;
            int hit = *t ? match_class(&q, (unsigned char)*t) : 0;

            if (hit == 1) {
                p = q;
                t++;
                continue;
            }
            if (hit == 0)
                return 0;
        }
        if (*p == '?') {
            if (!*t || *t == '/')
                return 0;
        } else {
            if (*p == '\\' && p[1])
                p++;
            if (*p != *t)
                return 0;
        }
        p++;
        t++;
    }
    return *t == '\0';
}

/* Does the pattern match path[0..len)? */
static int match_prefix(const char *pattern, const char *path, size_t len)
{
    char *part = malloc(len + 1);
    int hit;

    if (!part)
        return 0;
    memcpy(part, path, len);
    part[len] = '\0';
    hit = glob_match(pattern, part);
    free(part);
    return hit;
}

/*
 * As in .gitignore: a pattern without a '/' matches a file or directory
 * name at any depth ("*.md", "node_modules"); one with a '/' matches from
 * the root ("vendor/lib", "/docs/examples"), and a directory it matches
 * covers everything below it. A trailing '/' matches directories only.
 */
int path_allowed(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    int dir_only = n > 1 && pattern[n - 1] == '/';
    size_t plen = strlen(path);
    char *pat;
    int anchored, hit = 0;

    pat = malloc(n + 1);
    if (!pat)
        return 0;
    memcpy(pat, pattern, n + 1);
    if (dir_only)
        pat[--n] = '\0';
    anchored = strchr(pat, '/') != NULL;
    for (size_t i = 0, seg = 0; i <= plen && !hit; i++) {
        int boundary = path[i] == '/' || path[i] == '\0';

        if (!boundary || (dir_only && path[i] == '\0'))
            continue;
        if (anchored)
            hit = match_prefix(pat[0] == '/' ? pat + 1 : pat, path, i);
        else
            hit = match_prefix(pat, path + seg, i - seg);
        seg = i + 1;
    }
    free(pat);
    return hit;
}

/* ---- judging locations -------------------------------------------------- */

static int any_glob(char *const *globs, size_t n, const char *text,
                    int (*match)(const char *, const char *))
{
    for (size_t i = 0; i < n; i++) {
        if (match(globs[i], text))
            return 1;
    }
    return 0;
}

static int value_allowed(const policy *p, const occurrence *o)
{
    for (size_t i = 0; i < p->n_allow_values; i++) {
        pcre2_code *re = p->allow_values[i];
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        int rc;

        if (!md)
            return 0;
        rc = pcre2_match(re, (PCRE2_SPTR)o->secret, o->secret_len, 0, 0, md,
                         NULL);
        pcre2_match_data_free(md);
        if (rc >= 0)
            return 1;
    }
    return 0;
}

static int secret_allowed(const policy *p, const occurrence *o)
{
    char hex[65];

    if (p->n_allow_secrets == 0)
        return 0;
    ks_sha256_hex(o->secret, o->secret_len, hex);
    for (size_t i = 0; i < p->n_allow_secrets; i++) {
        if (strcmp(p->allow_secrets[i], hex) == 0)
            return 1;
    }
    return 0;
}

suppress_reason policy_judge(const occurrence *o, void *ctx)
{
    const policy *p = ctx;

    if (any_glob(p->disabled, p->n_disabled, o->rule->id, glob_match))
        return SUPPRESS_RULE;
    if (p->min_severity >= 0 && (int)o->rule->severity < p->min_severity)
        return SUPPRESS_SEVERITY;
    if (o->flags & KS_LOC_ALLOWED)
        return SUPPRESS_INLINE;
    if (any_glob(p->allow_paths, p->n_allow_paths, o->key_path,
                 path_allowed))
        return SUPPRESS_PATH;
    if (value_allowed(p, o))
        return SUPPRESS_VALUE;
    if (secret_allowed(p, o))
        return SUPPRESS_SECRET;
    if (p->base && baseline_has(p->base, o->key))
        return SUPPRESS_BASELINE;
    return SUPPRESS_NONE;
}

int policy_fails(const policy *p, const report *r)
{
    int threshold = p->fail_on >= 0 ? p->fail_on : KS_SEV_INFO;

    for (size_t i = 0; i < r->n_occ; i++) {
        if ((int)r->occ[i].rule->severity >= threshold)
            return 1;
    }
    return 0;
}

int policy_check_rules(const policy *p, const ks_ruleset *rules)
{
    int bad = 0;

    for (size_t i = 0; i < p->n_disabled; i++) {
        size_t k = 0;

        while (k < ks_ruleset_count(rules) &&
               !glob_match(p->disabled[i], ks_ruleset_rule(rules, k)->id))
            k++;
        if (k < ks_ruleset_count(rules))
            continue;
        cli_error("%s: disable-rules: '%s' names no rule in use; run "
                  "'keysift rules list' for the ids", p->source,
                  p->disabled[i]);
        bad = 1;
    }
    return bad ? -1 : 0;
}
