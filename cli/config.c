/*
 * config.c - the project config, .keysift.yaml.
 *
 *     rules: [ci/keysift-rules.yaml]      # more rule files
 *     disable-rules: [generic.password]   # rule ids (globs)
 *     allow-paths: ["tests/fixtures/", "*.md"]
 *     allow-values: ["^AKIAIOSFODNN7EXAMPLE$"]
 *     allow-secrets: ["sha256:<hex>"]     # SHA-256 of the secret
 *     min-severity: low                   # report nothing below this
 *     fail-on: high                       # exit 1 only from this up
 *     baseline: .keysift-baseline.json
 *
 * Every key is optional; a list may be written as one string. Paths are
 * relative to the directory holding the config. A key keysift does not
 * know is an error, not a note: a misspelt allow list would silently
 * allow nothing, and a misspelt fail-on would silently gate on everything.
 */
#include "cli.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define CONFIG_NAME ".keysift.yaml"

/* Largest config read; a real one is a few hundred bytes. */
#define CONFIG_MAX_BYTES (1u << 20)

typedef struct reader {
    const char *path;
    char *dir;                  /* the config's directory, with '/' */
    yaml_document_t doc;
    policy *p;
} reader;

static int fail_at(const reader *rd, const yaml_node_t *node,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints "keysift: error: FILE:LINE: ..." and returns -1. */
static int fail_at(const reader *rd, const yaml_node_t *node,
                   const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_error("%s:%zu: %s", rd->path, node->start_mark.line + 1, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE
               ? (const char *)node->data.scalar.value
               : NULL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);

    if (copy)
        memcpy(copy, s, n);
    return copy;
}

static int push(char ***list, size_t *n, char *item)
{
    char **grown;

    if (!item)
        return -1;
    grown = realloc(*list, (*n + 1) * sizeof(**list));
    if (!grown) {
        free(item);
        return -1;
    }
    *list = grown;
    (*list)[(*n)++] = item;
    return 0;
}

/* A path from the config: relative ones are taken from its directory. */
static char *resolve(const reader *rd, const char *path)
{
    size_t dl = strlen(rd->dir), pl = strlen(path);
    char *out;

    if (path[0] == '/' || dl == 0)
        return dup_str(path);
    out = malloc(dl + pl + 1);
    if (out) {
        memcpy(out, rd->dir, dl);
        memcpy(out + dl, path, pl + 1);
    }
    return out;
}

/* Calls each(rd, node, text) for a scalar or every scalar of a list. */
static int each_string(reader *rd, const char *key, yaml_node_t *value,
                       int (*each)(reader *, const yaml_node_t *,
                                   const char *))
{
    if (scalar(value))
        return each(rd, value, scalar(value));
    if (value->type != YAML_SEQUENCE_NODE)
        return fail_at(rd, value, "'%s' wants a string or a list of them",
                       key);
    for (yaml_node_item_t *it = value->data.sequence.items.start;
         it < value->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(&rd->doc, *it);

        if (!scalar(item))
            return fail_at(rd, item, "'%s' wants a list of strings", key);
        if (each(rd, item, scalar(item)))
            return -1;
    }
    return 0;
}

static int nomem(void)
{
    cli_error("out of memory reading the config");
    return -1;
}

static int add_rule_file(reader *rd, const yaml_node_t *n, const char *s)
{
    (void)n;
    return push(&rd->p->rule_files, &rd->p->n_rule_files, resolve(rd, s))
               ? nomem()
               : 0;
}

static int add_disabled(reader *rd, const yaml_node_t *n, const char *s)
{
    (void)n;
    return push(&rd->p->disabled, &rd->p->n_disabled, dup_str(s)) ? nomem()
                                                                  : 0;
}

static int add_path(reader *rd, const yaml_node_t *n, const char *s)
{
    if (!*s)
        return fail_at(rd, n, "an empty allowed path would allow nothing");
    return push(&rd->p->allow_paths, &rd->p->n_allow_paths, dup_str(s))
               ? nomem()
               : 0;
}

static int add_value(reader *rd, const yaml_node_t *n, const char *s)
{
    policy *p = rd->p;
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0,
                                   &code, &at, NULL);
    void **grown;

    if (!re) {
        PCRE2_UCHAR why[160];

        pcre2_get_error_message(code, why, sizeof(why));
        return fail_at(rd, n, "allowed value '%.100s' is not a regex: %s "
                       "at offset %zu", s, (const char *)why, (size_t)at);
    }
    grown = realloc(p->allow_values, (p->n_allow_values + 1) *
                                         sizeof(*p->allow_values));
    if (!grown) {
        pcre2_code_free(re);
        return nomem();
    }
    p->allow_values = grown;
    p->allow_values[p->n_allow_values] = re;
    if (push(&p->allow_value_text, &p->n_allow_values, dup_str(s))) {
        pcre2_code_free(re);
        return nomem();
    }
    return 0;
}

/* "sha256:HEX" or bare HEX, 64 digits, either case. */
static int add_secret(reader *rd, const yaml_node_t *n, const char *s)
{
    char hex[65];
    const char *h = strncmp(s, "sha256:", 7) == 0 ? s + 7 : s;

    if (strlen(h) != 64)
        return fail_at(rd, n, "allowed secret '%.80s' is not a SHA-256 "
                       "(64 hex digits; printf %%s SECRET | sha256sum)", s);
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)h[i]))
            return fail_at(rd, n, "allowed secret '%.80s' is not a SHA-256 "
                           "(64 hex digits)", s);
        hex[i] = (char)tolower((unsigned char)h[i]);
    }
    hex[64] = '\0';
    return push(&rd->p->allow_secrets, &rd->p->n_allow_secrets,
                dup_str(hex))
               ? nomem()
               : 0;
}

static int set_severity(reader *rd, const char *key, yaml_node_t *value,
                        int *out)
{
    ks_severity sev;

    if (!scalar(value) || ks_severity_parse(scalar(value), &sev) != 0)
        return fail_at(rd, value, "'%s' wants one of info, low, medium, "
                       "high, critical", key);
    *out = (int)sev;
    return 0;
}

static int set_baseline(reader *rd, yaml_node_t *value)
{
    if (!scalar(value) || !*scalar(value))
        return fail_at(rd, value, "'%s' wants a file name", "baseline");
    free(rd->p->baseline_path);
    rd->p->baseline_path = resolve(rd, scalar(value));
    return rd->p->baseline_path ? 0 : nomem();
}

static const char known_keys[] = "rules, disable-rules, allow-paths, "
                                 "allow-values, allow-secrets, "
                                 "min-severity, fail-on, baseline";

static int read_key(reader *rd, yaml_node_t *keynode, yaml_node_t *value)
{
    const char *key = scalar(keynode);

    if (!key)
        return fail_at(rd, keynode, "keys must be plain names");
    if (strcmp(key, "rules") == 0)
        return each_string(rd, key, value, add_rule_file);
    if (strcmp(key, "disable-rules") == 0)
        return each_string(rd, key, value, add_disabled);
    if (strcmp(key, "allow-paths") == 0)
        return each_string(rd, key, value, add_path);
    if (strcmp(key, "allow-values") == 0)
        return each_string(rd, key, value, add_value);
    if (strcmp(key, "allow-secrets") == 0)
        return each_string(rd, key, value, add_secret);
    if (strcmp(key, "min-severity") == 0)
        return set_severity(rd, key, value, &rd->p->min_severity);
    if (strcmp(key, "fail-on") == 0)
        return set_severity(rd, key, value, &rd->p->fail_on);
    if (strcmp(key, "baseline") == 0)
        return set_baseline(rd, value);
    return fail_at(rd, keynode, "unknown key '%.80s' (known keys: %s)", key,
                   known_keys);
}

static int read_document(reader *rd)
{
    yaml_node_t *root = yaml_document_get_root_node(&rd->doc);

    if (!root || (root->type == YAML_SCALAR_NODE &&
                  root->data.scalar.length == 0))
        return 0;   /* an empty file sets nothing */
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(rd, root, "the config must be a mapping of keys "
                       "(see docs/ci.md)");
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        if (read_key(rd, yaml_document_get_node(&rd->doc, pair->key),
                     yaml_document_get_node(&rd->doc, pair->value)))
            return -1;
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(n + 1);

    if (dir) {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return dir;
}

static int parse_file(reader *rd, FILE *f)
{
    yaml_parser_t parser;
    int rc;

    if (!yaml_parser_initialize(&parser))
        return nomem();
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &rd->doc)) {
        cli_error("%s:%zu: not valid YAML: %s", rd->path,
                  parser.problem_mark.line + 1,
                  parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    rc = read_document(rd);
    yaml_document_delete(&rd->doc);
    return rc;
}

int config_load(policy *p, const char *path)
{
    reader rd;
    struct stat sb;
    FILE *f;
    int rc;

    memset(&rd, 0, sizeof(rd));
    rd.path = path;
    rd.p = p;
    f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &sb) != 0) {
        cli_error("%s: cannot read the config: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > CONFIG_MAX_BYTES) {
        cli_error("%s: the config must be a regular file of at most 1 MiB",
                  path);
        fclose(f);
        return -1;
    }
    rd.dir = dir_of(path);
    free(p->source);
    p->source = dup_str(path);
    rc = !rd.dir || !p->source ? nomem() : parse_file(&rd, f);
    free(rd.dir);
    fclose(f);
    return rc;
}

static int is_dir(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static char *config_in(const char *dir)
{
    size_t n = strlen(dir);
    char *path = malloc(n + sizeof(CONFIG_NAME) + 1);
    struct stat sb;

    if (!path)
        return NULL;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    memcpy(path, dir, n);
    snprintf(path + n, sizeof(CONFIG_NAME) + 1, "/%s", CONFIG_NAME);
    if (stat(path, &sb) == 0)
        return path;
    free(path);
    return NULL;
}

int config_find(char *const *inputs, size_t n, char **found)
{
    int any_dir = 0;

    *found = NULL;
    for (size_t i = 0; i < n; i++) {
        char *path;

        if (!is_dir(inputs[i]))
            continue;
        any_dir = 1;
        path = config_in(inputs[i]);
        if (!path)
            continue;
        if (*found && strcmp(*found, path) != 0) {
            cli_error("%s and %s both apply to this scan; name one with "
                      "--config FILE, or --no-config", *found, path);
            free(path);
            free(*found);
            *found = NULL;
            return -1;
        }
        free(*found);
        *found = path;
    }
    if (!any_dir && !*found) {
        struct stat sb;

        if (stat(CONFIG_NAME, &sb) == 0 && !(*found = dup_str(CONFIG_NAME)))
            return nomem();
    }
    return 0;
}
