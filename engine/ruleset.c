/*
 * ruleset.c - rule sets: loading, checking, and compiling every pattern
 * into one Hyperscan database (block and stream mode) plus one PCRE2 program
 * per rule for the capture pass.
 */
#include "alloc.h"
#include "db_cache.h"
#include "input_limits.h"
#include "path_rules.h"
#include "ruleset.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ksi_strlist_push(ksi_strlist *list, const char *s, size_t len)
{
    char *copy;

    if (ksi_grow(&list->items, &list->cap, list->count + 1,
                 sizeof(*list->items)))
        return -1;
    copy = ksi_strndup(s, len);
    if (!copy)
        return -1;
    list->items[list->count++] = copy;
    return 0;
}

void ksi_strlist_free(ksi_strlist *list)
{
    for (size_t i = 0; i < list->count; i++)
        ksi_free(list->items[i]);
    ksi_free(list->items);
    memset(list, 0, sizeof(*list));
}

void ksi_rule_clear(ksi_rule *rule)
{
    ksi_free(rule->id);
    ksi_free(rule->name);
    ksi_free(rule->description);
    ksi_free(rule->pattern);
    ksi_free(rule->path);
    ksi_free(rule->example_path);
    ksi_free(rule->hs_pattern);
    ksi_free(rule->source);
    ksi_free(rule->validate);
    ksi_free(rule->family);
    ksi_strlist_free(&rule->keywords);
    ksi_strlist_free(&rule->references);
    ksi_strlist_free(&rule->examples);
    ksi_strlist_free(&rule->negative_examples);
    pcre2_code_free(rule->re);
    memset(rule, 0, sizeof(*rule));
}

void ksi_rule_publish(ksi_rule *rule)
{
    ks_rule_info *info = &rule->info;

    info->id = rule->id;
    info->name = rule->name;
    info->description = rule->description;
    info->pattern = rule->pattern;
    info->path = rule->path;
    info->example_path = rule->example_path;
    info->source = rule->source;
    info->family = rule->family;
    info->validate = rule->validate;
    info->lower_on_invalid = rule->lower_on_invalid;
    info->keywords = (const char *const *)rule->keywords.items;
    info->n_keywords = rule->keywords.count;
    info->references = (const char *const *)rule->references.items;
    info->n_references = rule->references.count;
    info->examples = (const char *const *)rule->examples.items;
    info->n_examples = rule->examples.count;
    info->negative_examples =
        (const char *const *)rule->negative_examples.items;
    info->n_negative_examples = rule->negative_examples.count;
}

ks_status ksi_ruleset_fail(ks_ruleset *rs, ks_status status,
                           const char *fmt, ...)
{
    char msg[sizeof(rs->error)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (status != KS_ERR_RULE || rs->problems.count == 0)
        memcpy(rs->error, msg, sizeof(msg));
    /* A problem lost to a failed allocation still left the error text. */
    if (status == KS_ERR_RULE && !ksi_ruleset_problems_full(rs))
        (void)ksi_strlist_push(&rs->problems, msg, strlen(msg));
    return status;
}

void ksi_ruleset_clear_problems(ks_ruleset *rs)
{
    ksi_strlist_free(&rs->problems);
}

size_t ks_ruleset_problem_count(const ks_ruleset *rs)
{
    return rs ? rs->problems.count : 0;
}

const char *ks_ruleset_problem(const ks_ruleset *rs, size_t i)
{
    if (!rs || i >= rs->problems.count)
        return NULL;
    return rs->problems.items[i];
}

void ksi_ruleset_note(ks_ruleset *rs, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* A note lost to a failed allocation costs nothing but the note. */
    (void)ksi_strlist_push(&rs->notes, line, strlen(line));
}

size_t ks_ruleset_note_count(const ks_ruleset *rs)
{
    return rs ? rs->notes.count : 0;
}

const char *ks_ruleset_note(const ks_ruleset *rs, size_t i)
{
    if (!rs || i >= rs->notes.count)
        return NULL;
    return rs->notes.items[i];
}

ks_status ks_ruleset_new(ks_ruleset **out)
{
    if (!out)
        return KS_ERR_ARG;
    ksi_alloc_install();
    *out = ksi_calloc(1, sizeof(**out));
    if (!*out)
        return KS_ERR_NOMEM;
    if (pthread_mutex_init(&(*out)->jit_lock, NULL)) {
        ksi_free(*out);
        *out = NULL;
        return KS_ERR_NOMEM;
    }
    return KS_OK;
}

const char *ks_ruleset_error(const ks_ruleset *rs)
{
    return rs ? rs->error : "";
}

size_t ks_ruleset_count(const ks_ruleset *rs)
{
    return rs ? rs->count : 0;
}

const ks_rule_info *ks_ruleset_rule(const ks_ruleset *rs, size_t i)
{
    if (!rs || i >= rs->count)
        return NULL;
    return &rs->rules[i]->info;
}

const char *ks_ruleset_hash(const ks_ruleset *rs)
{
    return rs ? rs->hash : "";
}

static const ksi_rule *find_fresh(const ksi_rule *rules, size_t n,
                                  const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rules[i].id, id) == 0)
            return &rules[i];
    }
    return NULL;
}

static const ksi_rule *find_rule(const ks_ruleset *rs, const char *id)
{
    for (size_t i = 0; i < rs->count; i++) {
        if (strcmp(rs->rules[i]->id, id) == 0)
            return rs->rules[i];
    }
    return NULL;
}

/* Rejects ids already used in the set or earlier in the same file. */
static ks_status check_duplicates(ks_ruleset *rs, const ksi_rule *fresh,
                                  size_t n)
{
    ks_status st = KS_OK;

    for (size_t i = 0; i < n && !ksi_ruleset_problems_full(rs); i++) {
        const ksi_rule *r = &fresh[i];
        const ksi_rule *prev = find_rule(rs, r->id);

        if (!prev)
            prev = find_fresh(fresh, i, r->id);
        if (prev)
            st = ksi_ruleset_fail(rs, KS_ERR_RULE,
                                  "%s:%u: rule '%s': duplicate id (first "
                                  "defined at %s:%u)", r->source, r->line,
                                  r->id, prev->source, prev->line);
    }
    return st;
}

/* Adds one file's rules; problems add to the list the caller started. */
static ks_status add_yaml(ks_ruleset *rs, const char *name, const char *text,
                          size_t len)
{
    ksi_rule *fresh = NULL;
    size_t n = 0, cap = 0;
    ks_status st;

    if (!rs || !name || (!text && len))
        return KS_ERR_ARG;
    if (rs->compiled)
        return ksi_ruleset_fail(rs, KS_ERR_STATE,
                                "%s: rules cannot be added after compiling",
                                name);

    st = ksi_rules_parse_yaml(rs, name, text, len, &fresh, &n, &cap);
    if (st == KS_OK)
        st = check_duplicates(rs, fresh, n);
    if (st == KS_OK && rs->count + n > KSI_MAX_RULES)
        st = ksi_ruleset_fail(rs, KS_ERR_RULE, "%s: more than %u rules in "
                              "all", name, KSI_MAX_RULES);
    if (st == KS_OK &&
        ksi_grow(&rs->rules, &rs->cap, rs->count + n, sizeof(*rs->rules)))
        st = ksi_ruleset_fail(rs, KS_ERR_NOMEM, "%s: out of memory", name);
    if (st != KS_OK)
        goto fail;

    for (size_t i = 0; i < n; i++) {
        rs->rules[rs->count + i] = ksi_malloc(sizeof(**rs->rules));
        if (!rs->rules[rs->count + i]) {
            while (i-- > 0)
                ksi_free(rs->rules[rs->count + i]);
            st = ksi_ruleset_fail(rs, KS_ERR_NOMEM, "%s: out of memory",
                                  name);
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        *rs->rules[rs->count + i] = fresh[i];
        ksi_rule_publish(rs->rules[rs->count + i]);
    }
    rs->count += n;
    ksi_free(fresh);
    return KS_OK;

fail:
    for (size_t i = 0; i < n; i++)
        ksi_rule_clear(&fresh[i]);
    ksi_free(fresh);
    return st;
}

ks_status ks_ruleset_add_yaml(ks_ruleset *rs, const char *name,
                              const char *text, size_t len)
{
    if (!rs)
        return KS_ERR_ARG;
    ksi_ruleset_clear_problems(rs);
    return add_yaml(rs, name, text, len);
}

ks_status ks_ruleset_add_defaults(ks_ruleset *rs)
{
    for (size_t i = 0; i < ksi_default_rule_file_count; i++) {
        const ksi_embedded_file *f = &ksi_default_rule_files[i];
        ks_status st = ks_ruleset_add_yaml(rs, f->name, (const char *)f->data,
                                           f->len);

        if (st != KS_OK)
            return st;
    }
    return KS_OK;
}

/* Reads a whole rule file, refusing anything implausibly large. */
static ks_status read_file(ks_ruleset *rs, const char *path, char **text,
                           size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f)
        return ksi_ruleset_fail(rs, errno == ENOENT ? KS_ERR_NOT_FOUND
                                                    : KS_ERR_IO,
                                "%s: cannot open rule file: %s", path,
                                strerror(errno));
    buf = ksi_malloc(KSI_MAX_RULE_FILE + 1);
    if (!buf) {
        fclose(f);
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "%s: out of memory", path);
    }
    n = fread(buf, 1, KSI_MAX_RULE_FILE + 1, f);
    if (ferror(f) || n > KSI_MAX_RULE_FILE) {
        int was_error = ferror(f);

        fclose(f);
        ksi_free(buf);
        if (was_error)
            return ksi_ruleset_fail(rs, KS_ERR_IO, "%s: read error", path);
        return ksi_ruleset_fail(rs, KS_ERR_RULE, "%s: rule file larger than "
                                "%u bytes", path, KSI_MAX_RULE_FILE);
    }
    fclose(f);
    *text = buf;
    *len = n;
    return KS_OK;
}

static ks_status add_file(ks_ruleset *rs, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    ks_status st = read_file(rs, path, &text, &len);

    if (st != KS_OK)
        return st;
    st = add_yaml(rs, path, text, len);
    ksi_free(text);
    return st;
}

static int is_rule_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);

    if (d->d_name[0] == '.')
        return 0;
    return (n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(d->d_name + n - 4, ".yml") == 0);
}

static ks_status add_dir(ks_ruleset *rs, const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_rule_file, alphasort);
    ks_status st = KS_OK;
    char path[KSI_MAX_PATH];

    if (n < 0)
        return ksi_ruleset_fail(rs, KS_ERR_IO, "%s: cannot list rule "
                                "directory: %s", dir, strerror(errno));
    if (n == 0)
        st = ksi_ruleset_fail(rs, KS_ERR_RULE, "%s: no *.yaml or *.yml rule "
                              "files in this directory", dir);
    /* A bad file does not hide the problems of the files after it. */
    for (int i = 0; i < n; i++) {
        if (st == KS_OK || (st == KS_ERR_RULE &&
                            !ksi_ruleset_problems_full(rs))) {
            ks_status one;

            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            one = add_file(rs, path);
            if (st == KS_OK || one != KS_ERR_RULE)
                st = one == KS_OK ? st : one;
        }
        free(names[i]);
    }
    free(names);
    return st;
}

ks_status ks_ruleset_add_path(ks_ruleset *rs, const char *path)
{
    struct stat sb;

    if (!rs || !path)
        return KS_ERR_ARG;
    ksi_ruleset_clear_problems(rs);
    if (stat(path, &sb) != 0)
        return ksi_ruleset_fail(rs, errno == ENOENT ? KS_ERR_NOT_FOUND
                                                    : KS_ERR_IO,
                                "%s: cannot open rules: %s", path,
                                strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return add_dir(rs, path);
    return add_file(rs, path);
}

/* ---- compiling ---------------------------------------------------------- */

static void *pcre_alloc(size_t size, void *unused)
{
    (void)unused;
    return ksi_malloc(size);
}

static void pcre_release(void *ptr, void *unused)
{
    (void)unused;
    ksi_free(ptr);
}

/*
 * Whether a pattern starts with inline flags that turn on extended mode,
 * "(?x)" or "(?ix)", as published rule files often do: '#' then starts a
 * comment that runs to the end of the line.
 */
static int is_extended(const char *pattern)
{
    if (strncmp(pattern, "(?", 2) != 0)
        return 0;
    for (const char *p = pattern + 2; *p && *p != ')' && *p != ':'; p++) {
        if (*p == '-')
            return 0;
        if (*p == 'x')
            return 1;
    }
    return 0;
}

/*
 * Hyperscan compiles a large bounded repeat such as [A-Za-z0-9+/=\s]{64,8192}
 * into a big automaton: a handful of private-key rules took seconds to
 * compile. The candidate stage does not need the upper bound, since PCRE2
 * re-checks every candidate with the exact pattern, so Hyperscan gets the
 * pattern with each upper bound above KSI_HS_REPEAT_CAP removed ({m,}).
 * That only adds candidates, never loses one.
 */
static char *widen_repeats(const char *pattern)
{
    size_t len = strlen(pattern);
    char *out = ksi_malloc(len + 1);
    size_t o = 0;
    int in_class = 0;
    int extended = is_extended(pattern);

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = pattern[i];
        unsigned long lo, hi;
        int used = 0;

        if (c == '\\' && i + 1 < len) {
            out[o++] = c;
            out[o++] = pattern[++i];
            continue;
        }
        /* A comment of an extended pattern is copied as it is. */
        if (extended && !in_class && c == '#') {
            while (i < len && pattern[i] != '\n')
                out[o++] = pattern[i++];
            if (i < len)
                out[o++] = pattern[i];
            continue;
        }
        if (in_class) {
            in_class = c != ']';
        } else if (c == '[') {
            in_class = 1;
            out[o++] = c;
            /* A ']' right after '[' or '[^' is a literal. */
            if (pattern[i + 1] == '^')
                out[o++] = pattern[++i];
            if (pattern[i + 1] == ']')
                out[o++] = pattern[++i];
            continue;
        } else if (c == '{' &&
                   sscanf(pattern + i, "{%lu,%lu}%n", &lo, &hi, &used) == 2 &&
                   used > 0 && hi > KSI_HS_REPEAT_CAP) {
            o += (size_t)sprintf(out + o, "{%lu,}", lo);
            i += (size_t)used - 1;
            continue;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

static ks_status compile_capture(ks_ruleset *rs, ksi_rule *rule)
{
    int code;
    PCRE2_SIZE at;
    uint32_t captures = 0;
    PCRE2_UCHAR msg[256];

    if (!rule->pattern)
        return KS_OK;       /* a path rule: nothing to capture */
    rule->re = pcre2_compile((PCRE2_SPTR)rule->pattern, PCRE2_ZERO_TERMINATED,
                             0, &code, &at, rs->pcre_cctx);
    if (!rule->re && (code == PCRE2_ERROR_HEAP_FAILED ||
                      code == PCRE2_ERROR_NOMEMORY))
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                                "rule '%s'", rule->id);
    if (!rule->re) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        return ksi_ruleset_fail(rs, KS_ERR_RULE, "%s:%u: rule '%s': invalid "
                                "pattern at offset %zu: %s", rule->source,
                                rule->line, rule->id, (size_t)at, msg);
    }
    rule->hs_pattern = widen_repeats(rule->pattern);
    if (!rule->hs_pattern)
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory");
    pcre2_pattern_info(rule->re, PCRE2_INFO_CAPTURECOUNT, &captures);
    if (captures > rs->max_captures)
        rs->max_captures = captures;
    return KS_OK;
}

/* Hyperscan reports running out of memory as a compile error. */
static int hs_out_of_memory(hs_error_t rc, const hs_compile_error_t *err)
{
    return rc == HS_NOMEM ||
           (err && err->message && strstr(err->message, "allocate memory"));
}

/*
 * Asks Hyperscan about the pattern alone, so a failure names its rule, and
 * learns its longest match, which sizes the capture window. A pattern
 * Hyperscan cannot take exactly (say, with a lookaround) is compiled in
 * prefilter mode: a superset of its matches becomes candidates, which the
 * PCRE2 pass then decides.
 */
static ks_status check_candidate(ks_ruleset *rs, ksi_rule *rule)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *err = NULL;
    unsigned flags = 0;
    hs_error_t rc;

    rc = hs_expression_info(rule->pattern, flags, &info, &err);
    if (rc != HS_SUCCESS && !hs_out_of_memory(rc, err)) {
        hs_free_compile_error(err);
        err = NULL;
        flags = HS_FLAG_PREFILTER;
        rc = hs_expression_info(rule->pattern, flags, &info, &err);
    }
    if (hs_out_of_memory(rc, err)) {
        hs_free_compile_error(err);
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                                "rule '%s'", rule->id);
    }
    if (rc != HS_SUCCESS) {
        ks_status st = ksi_ruleset_fail(
            rs, KS_ERR_RULE, "%s:%u: rule '%s': pattern not supported by "
            "the matcher: %s", rule->source, rule->line, rule->id,
            err ? err->message : "unknown error");

        hs_free_compile_error(err);
        return st;
    }
    if (info->min_width == 0) {
        ksi_free(info);
        return ksi_ruleset_fail(rs, KS_ERR_RULE, "%s:%u: rule '%s': pattern "
                                "can match empty text", rule->source,
                                rule->line, rule->id);
    }
    rule->hs_flags = flags;
    rule->lookback = info->max_width > KSI_MAX_MATCH_WINDOW
                         ? KSI_MAX_MATCH_WINDOW
                         : info->max_width;
    rule->merge_gap = rule->lookback;
    ksi_free(info);
    return KS_OK;
}

/* Whether a rule belongs to the gated (path-filtered) content group. */
static int in_group(const ksi_rule *r, int gated)
{
    return r->pattern && (r->path != NULL) == gated;
}

static ks_status compile_database(ks_ruleset *rs, unsigned mode, int gated,
                                  hs_database_t **db)
{
    const char **exprs = ksi_calloc(rs->count, sizeof(*exprs));
    unsigned *flags = ksi_calloc(rs->count, sizeof(*flags));
    unsigned *ids = ksi_calloc(rs->count, sizeof(*ids));
    hs_compile_error_t *err = NULL;
    ks_status st = KS_OK;
    unsigned n = 0;
    hs_error_t rc;

    if (!exprs || !flags || !ids) {
        st = ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                              "rules");
        goto out;
    }
    for (size_t i = 0; i < rs->count; i++) {
        if (!in_group(rs->rules[i], gated))
            continue;
        exprs[n] = rs->rules[i]->hs_pattern;
        flags[n] = rs->rules[i]->hs_flags;
        ids[n++] = (unsigned)i;
    }
    if (n == 0)
        goto out;           /* no rule in this group: no database */
    rc = hs_compile_multi(exprs, flags, ids, n, mode, NULL, db, &err);
    if (rc != HS_SUCCESS) {
        if (hs_out_of_memory(rc, err)) {
            st = ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                                  "rules");
        } else if (err && err->expression >= 0 &&
            (unsigned)err->expression < n) {
            const ksi_rule *r = rs->rules[ids[err->expression]];

            st = ksi_ruleset_fail(rs, KS_ERR_RULE, "%s:%u: rule '%s': %s",
                                  r->source, r->line, r->id, err->message);
        } else {
            st = ksi_ruleset_fail(rs, KS_ERR_COMPILE, "compiling %zu rules "
                                  "failed: %s", rs->count,
                                  err ? err->message : "unknown error");
        }
        hs_free_compile_error(err);
    }
out:
    ksi_free(exprs);
    ksi_free(flags);
    ksi_free(ids);
    return st;
}

/* Hashes a string, or a marker that no NUL-terminated string can be. */
static void hash_string(ksi_sha256 *ctx, const char *s)
{
    if (s)
        ksi_sha256_update(ctx, s, strlen(s) + 1);
    else
        ksi_sha256_update(ctx, "\0\1", 2);
}

static void compute_hash(ks_ruleset *rs)
{
    ksi_sha256 ctx;
    unsigned char digest[32];
    char num[128];

    ksi_sha256_init(&ctx);
    ksi_sha256_update(&ctx, KS_VERSION, sizeof(KS_VERSION));
    for (size_t i = 0; i < rs->count; i++) {
        const ksi_rule *r = rs->rules[i];

        ksi_sha256_update(&ctx, r->id, strlen(r->id) + 1);
        hash_string(&ctx, r->pattern);
        hash_string(&ctx, r->path);
        snprintf(num, sizeof(num), "%d/%d/%.6f/%s/%d/%d",
                 (int)r->info.severity, (int)r->info.confidence,
                 r->info.min_entropy, r->validate ? r->validate : "",
                 r->lower_on_invalid, r->info.generic);
        ksi_sha256_update(&ctx, num, strlen(num) + 1);
    }
    ksi_sha256_final(&ctx, digest);
    ksi_hex(digest, 32, rs->hash);
}

/*
 * The cache key of a group's databases: everything that shapes them — the
 * Hyperscan version, the group, and each expression, flag and id as
 * compiled.
 */
static void database_key(const ks_ruleset *rs, int gated, char out[65])
{
    ksi_sha256 ctx;
    unsigned char digest[32];
    char num[32];

    ksi_sha256_init(&ctx);
    ksi_sha256_update(&ctx, hs_version(), strlen(hs_version()) + 1);
    ksi_sha256_update(&ctx, gated ? "gated" : "all", gated ? 6 : 4);
    for (size_t i = 0; i < rs->count; i++) {
        const ksi_rule *r = rs->rules[i];

        if (!in_group(r, gated))
            continue;
        snprintf(num, sizeof(num), "%zu/%u", i, r->hs_flags);
        ksi_sha256_update(&ctx, num, strlen(num) + 1);
        ksi_sha256_update(&ctx, r->hs_pattern, strlen(r->hs_pattern) + 1);
    }
    ksi_sha256_final(&ctx, digest);
    ksi_hex(digest, 32, out);
}

ks_status ks_ruleset_set_cache_dir(ks_ruleset *rs, const char *dir)
{
    char *copy = NULL;

    if (!rs)
        return KS_ERR_ARG;
    if (dir && !(copy = ksi_strdup(dir)))
        return KS_ERR_NOMEM;
    ksi_free(rs->cache_dir);
    rs->cache_dir = copy;
    return KS_OK;
}

/*
 * Fetches one group's databases from the cache, or compiles and caches
 * them. The cache keeps what compiling learnt of each rule of the group,
 * in rule order.
 */
static ks_status load_or_compile(ks_ruleset *rs, int gated,
                                 hs_database_t **block,
                                 hs_database_t **stream)
{
    size_t n = gated ? rs->n_gated : rs->n_content, k = 0;
    ksi_rule_meta *meta;
    char key[65];
    ks_status st = KS_OK;

    if (n == 0)
        return KS_OK;       /* no rule in this group: no database */
    meta = ksi_calloc(n, sizeof(*meta));
    if (!meta)
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory");
    database_key(rs, gated, key);
    if (ksi_db_cache_load(rs->cache_dir, key, block, stream, meta, n) == 0) {
        for (size_t i = 0; i < rs->count; i++) {
            ksi_rule *r = rs->rules[i];

            if (!in_group(r, gated))
                continue;
            r->hs_flags = meta[k].hs_flags;
            r->lookback = meta[k].lookback;
            r->merge_gap = meta[k++].lookback;
        }
        goto out;
    }
    for (size_t i = 0; i < rs->count && st != KS_ERR_NOMEM &&
                       !ksi_ruleset_problems_full(rs); i++) {
        if (in_group(rs->rules[i], gated) &&
            check_candidate(rs, rs->rules[i]) == KS_ERR_NOMEM)
            st = KS_ERR_NOMEM;
    }
    if (st == KS_OK && rs->problems.count)
        st = KS_ERR_RULE;
    if (st == KS_OK)
        st = compile_database(rs, HS_MODE_BLOCK, gated, block);
    if (st == KS_OK)
        st = compile_database(rs, HS_MODE_STREAM, gated, stream);
    if (st != KS_OK)
        goto out;
    for (size_t i = 0; i < rs->count; i++) {
        const ksi_rule *r = rs->rules[i];

        if (!in_group(r, gated))
            continue;
        meta[k].hs_flags = r->hs_flags;
        meta[k++].lookback = (uint32_t)r->lookback;
    }
    ksi_db_cache_store(rs->cache_dir, key, *block, *stream, meta, n);
out:
    ksi_free(meta);
    return st;
}

void ksi_rule_jit(const ks_ruleset *rs, ksi_rule *rule)
{
    ks_ruleset *m = (ks_ruleset *)rs;   /* only the JIT lock is written */

    if (atomic_load_explicit(&rule->jit_done, memory_order_acquire))
        return;
    pthread_mutex_lock(&m->jit_lock);
    if (!atomic_load_explicit(&rule->jit_done, memory_order_relaxed)) {
        /* Without JIT the interpreter still works, only slower. */
        (void)pcre2_jit_compile(rule->re, PCRE2_JIT_COMPLETE);
        atomic_store_explicit(&rule->jit_done, 1, memory_order_release);
    }
    pthread_mutex_unlock(&m->jit_lock);
}

static ks_status compile_all(ks_ruleset *rs);

/* Grows a scratch space to serve `db` too; a missing database needs none. */
static int alloc_scratch(const hs_database_t *db, hs_scratch_t **scratch)
{
    return db && hs_alloc_scratch(db, scratch) != HS_SUCCESS;
}

ks_status ks_ruleset_compile(ks_ruleset *rs)
{
    ks_status st;

    if (!rs)
        return KS_ERR_ARG;
    if (rs->compiled || rs->compile_failed || rs->count == 0)
        return compile_all(rs);
    st = compile_all(rs);
    /* Half-built state is freed with the set, never rebuilt over. */
    rs->compile_failed = st != KS_OK;
    return st;
}

/*
 * After a bad capture pattern, looks for the problems the later steps
 * would find (patterns Hyperscan rejects, bad paths), so that one check
 * lists them all. Compiles nothing.
 */
static ks_status report_the_rest(ks_ruleset *rs)
{
    for (size_t i = 0; i < rs->count && !ksi_ruleset_problems_full(rs); i++) {
        ksi_rule *r = rs->rules[i];

        if (r->pattern && r->re && check_candidate(rs, r) == KS_ERR_NOMEM)
            return KS_ERR_NOMEM;
    }
    if (ksi_path_compile(rs) == KS_ERR_NOMEM)
        return KS_ERR_NOMEM;
    return KS_ERR_RULE;
}

static ks_status compile_all(ks_ruleset *rs)
{
    ks_status st;

    if (!rs)
        return KS_ERR_ARG;
    if (rs->compiled)
        return ksi_ruleset_fail(rs, KS_ERR_STATE, "rules already compiled");
    if (rs->compile_failed)
        return ksi_ruleset_fail(rs, KS_ERR_STATE, "an earlier compile of "
                                "these rules failed; start a new rule set");
    if (rs->count == 0)
        return ksi_ruleset_fail(rs, KS_ERR_STATE, "no rules to compile");
    ksi_ruleset_clear_problems(rs);

    rs->pcre_gctx = pcre2_general_context_create(pcre_alloc, pcre_release,
                                                 NULL);
    if (rs->pcre_gctx)
        rs->pcre_cctx = pcre2_compile_context_create(rs->pcre_gctx);
    if (!rs->pcre_cctx)
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "out of memory compiling "
                                "rules");

    /* Every bad pattern is reported, not only the first. */
    for (size_t i = 0; i < rs->count && !ksi_ruleset_problems_full(rs); i++) {
        st = compile_capture(rs, rs->rules[i]);
        if (st == KS_ERR_NOMEM)
            return st;
        rs->n_content += in_group(rs->rules[i], 0);
        rs->n_gated += in_group(rs->rules[i], 1);
    }
    if (rs->problems.count)
        return report_the_rest(rs);
    st = load_or_compile(rs, 0, &rs->db_block, &rs->db_stream);
    if (st == KS_OK)
        st = load_or_compile(rs, 1, &rs->db_block_gated,
                             &rs->db_stream_gated);
    if (st == KS_OK)
        st = ksi_path_compile(rs);
    if (st != KS_OK)
        return st;

    if (alloc_scratch(rs->db_block, &rs->scratch_proto) ||
        alloc_scratch(rs->db_stream, &rs->scratch_proto) ||
        alloc_scratch(rs->db_block_gated, &rs->scratch_proto) ||
        alloc_scratch(rs->db_stream_gated, &rs->scratch_proto) ||
        alloc_scratch(rs->db_path, &rs->scratch_proto))
        return ksi_ruleset_fail(rs, KS_ERR_NOMEM, "cannot allocate matcher "
                                "scratch space");
    compute_hash(rs);
    rs->compiled = 1;
    return KS_OK;
}

void ks_ruleset_free(ks_ruleset *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->count; i++) {
        ksi_rule_clear(rs->rules[i]);
        ksi_free(rs->rules[i]);
    }
    ksi_free(rs->rules);
    hs_free_database(rs->db_block);
    hs_free_database(rs->db_stream);
    hs_free_database(rs->db_block_gated);
    hs_free_database(rs->db_stream_gated);
    hs_free_database(rs->db_path);
    ksi_free(rs->gate_rules);
    ksi_free(rs->path_only);
    hs_free_scratch(rs->scratch_proto);
    ksi_strlist_free(&rs->notes);
    ksi_strlist_free(&rs->problems);
    ksi_free(rs->cache_dir);
    pthread_mutex_destroy(&rs->jit_lock);
    pcre2_compile_context_free(rs->pcre_cctx);
    pcre2_general_context_free(rs->pcre_gctx);
    ksi_free(rs);
}
