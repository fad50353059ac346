/*
 * rules_yaml.c - reads rule files.
 *
 * A rule file is YAML: either a mapping with a `rules` list, or the list
 * itself. Every error names the file, the line, the rule id when it is
 * known, and what is wrong, because the person reading it is fixing a rule
 * file by hand.
 */
#include "alloc.h"
#include "input_limits.h"
#include "ruleset.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Where the parser is, for error messages. */
typedef struct parse_ctx {
    ks_ruleset *rs;
    const char *file;
    yaml_document_t *doc;
} parse_ctx;

/* Keys other rule formats use that carry nothing keysift acts on. */
static const char *const ignored_keys[] = { "categories", "tags", NULL };

static unsigned node_line(const yaml_node_t *node)
{
    return (unsigned)node->start_mark.line + 1;
}

static const char *scalar(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

static ks_status fail_at(parse_ctx *ctx, const yaml_node_t *node,
                         const char *rule_id, const char *what)
{
    if (rule_id)
        return ksi_ruleset_fail(ctx->rs, KS_ERR_RULE, "%s:%u: rule '%s': %s",
                                ctx->file, node_line(node), rule_id, what);
    return ksi_ruleset_fail(ctx->rs, KS_ERR_RULE, "%s:%u: %s", ctx->file,
                            node_line(node), what);
}

static ks_status nomem(parse_ctx *ctx)
{
    return ksi_ruleset_fail(ctx->rs, KS_ERR_NOMEM,
                            "%s: out of memory reading rules", ctx->file);
}

static int valid_id(const char *id)
{
    if (!isalnum((unsigned char)id[0]))
        return 0;
    for (const char *p = id; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return 0;
    }
    return strlen(id) <= 128;
}

/* Reads a scalar field into an owned string. */
static ks_status read_string(parse_ctx *ctx, const yaml_node_t *value,
                             const char *rule_id, const char *key,
                             char **out)
{
    char msg[160];

    if (value->type != YAML_SCALAR_NODE) {
        snprintf(msg, sizeof(msg), "field '%s' must be a string", key);
        return fail_at(ctx, value, rule_id, msg);
    }
    if (*out) {
        snprintf(msg, sizeof(msg), "field '%s' is given twice", key);
        return fail_at(ctx, value, rule_id, msg);
    }
    *out = ksi_strndup(scalar(value), value->data.scalar.length);
    return *out ? KS_OK : nomem(ctx);
}

/* Reads a list of strings; a single string is taken as a list of one. */
static ks_status read_list(parse_ctx *ctx, const yaml_node_t *value,
                           const char *rule_id, const char *key,
                           ksi_strlist *out)
{
    char msg[160];

    if (value->type == YAML_SCALAR_NODE) {
        if (ksi_strlist_push(out, scalar(value), value->data.scalar.length))
            return nomem(ctx);
        return KS_OK;
    }
    if (value->type != YAML_SEQUENCE_NODE) {
        snprintf(msg, sizeof(msg), "field '%s' must be a list of strings",
                 key);
        return fail_at(ctx, value, rule_id, msg);
    }
    for (yaml_node_item_t *it = value->data.sequence.items.start;
         it < value->data.sequence.items.top; it++) {
        const yaml_node_t *item = yaml_document_get_node(ctx->doc, *it);

        if (!item || item->type != YAML_SCALAR_NODE) {
            snprintf(msg, sizeof(msg), "every item of '%s' must be a string",
                     key);
            return fail_at(ctx, item ? item : value, rule_id, msg);
        }
        if (ksi_strlist_push(out, scalar(item), item->data.scalar.length))
            return nomem(ctx);
    }
    return KS_OK;
}

static ks_status read_entropy(parse_ctx *ctx, const yaml_node_t *value,
                              const char *rule_id, double *out)
{
    char *end = NULL;
    double v;

    if (value->type != YAML_SCALAR_NODE)
        return fail_at(ctx, value, rule_id, "field 'entropy' must be a number");
    errno = 0;
    v = strtod(scalar(value), &end);
    if (errno || end == scalar(value) || *end || !isfinite(v) || v < 0 ||
        v > 8)
        return fail_at(ctx, value, rule_id,
                       "field 'entropy' must be a number from 0 to 8 "
                       "(bits per byte)");
    *out = v;
    return KS_OK;
}

static ks_status read_severity(parse_ctx *ctx, const yaml_node_t *value,
                               const char *rule_id, ks_severity *out)
{
    if (value->type == YAML_SCALAR_NODE && ks_severity_parse(scalar(value),
                                                             out) == 0)
        return KS_OK;
    return fail_at(ctx, value, rule_id,
                   "field 'severity' must be one of info, low, medium, high, "
                   "critical");
}

static ks_status read_bool(parse_ctx *ctx, const yaml_node_t *value,
                           const char *rule_id, const char *key, int *out)
{
    static const char *const yes[] = { "true", "yes", "on", NULL };
    static const char *const no[] = { "false", "no", "off", NULL };
    char msg[160];

    if (value->type == YAML_SCALAR_NODE) {
        for (int i = 0; yes[i]; i++) {
            if (strcasecmp(scalar(value), yes[i]) == 0) {
                *out = 1;
                return KS_OK;
            }
            if (strcasecmp(scalar(value), no[i]) == 0) {
                *out = 0;
                return KS_OK;
            }
        }
    }
    snprintf(msg, sizeof(msg), "field '%s' must be true or false", key);
    return fail_at(ctx, value, rule_id, msg);
}

static ks_status read_validate(parse_ctx *ctx, const yaml_node_t *value,
                               const char *rule_id, ksi_rule *rule)
{
    char msg[256];
    ks_status st = read_string(ctx, value, rule_id, "validate",
                               &rule->validate);

    if (st != KS_OK)
        return st;
    rule->validator = ksi_validator_find(rule->validate);
    if (rule->validator)
        return KS_OK;
    snprintf(msg, sizeof(msg), "unknown validator '%.40s' (known: %s)",
             rule->validate, ksi_validator_names());
    return fail_at(ctx, value, rule_id, msg);
}

static ks_status read_on_invalid(parse_ctx *ctx, const yaml_node_t *value,
                                 const char *rule_id, int *lower)
{
    if (value->type == YAML_SCALAR_NODE) {
        if (strcmp(scalar(value), "drop") == 0 ||
            strcmp(scalar(value), "lower") == 0) {
            *lower = strcmp(scalar(value), "lower") == 0;
            return KS_OK;
        }
    }
    return fail_at(ctx, value, rule_id,
                   "field 'on_invalid' must be 'drop' or 'lower'");
}

static ks_status read_confidence(parse_ctx *ctx, const yaml_node_t *value,
                                 const char *rule_id, ks_confidence *out)
{
    static const char *const names[] = { "low", "medium", "high" };

    if (value->type == YAML_SCALAR_NODE) {
        for (unsigned i = 0; i < 3; i++) {
            if (strcasecmp(scalar(value), names[i]) == 0) {
                *out = (ks_confidence)i;
                return KS_OK;
            }
        }
    }
    return fail_at(ctx, value, rule_id,
                   "field 'confidence' must be one of low, medium, high");
}

/* A rule's family is its file's name without directory or extension. */
static char *family_of(const char *file)
{
    const char *base = strrchr(file, '/');
    const char *dot;

    base = base ? base + 1 : file;
    dot = strrchr(base, '.');
    return ksi_strndup(base, dot && dot > base ? (size_t)(dot - base)
                                               : strlen(base));
}

/* Finds the rule's id first, so every later error can name the rule. */
static const char *peek_id(parse_ctx *ctx, const yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);

        if (k && v && k->type == YAML_SCALAR_NODE &&
            v->type == YAML_SCALAR_NODE && strcmp(scalar(k), "id") == 0)
            return scalar(v);
    }
    return NULL;
}

static int is_ignored_key(const char *key)
{
    for (const char *const *k = ignored_keys; *k; k++) {
        if (strcmp(key, *k) == 0)
            return 1;
    }
    return 0;
}

/* Reads one field of a rule. */
static ks_status read_field(parse_ctx *ctx, ksi_rule *rule, const char *rid,
                            const char *key, const yaml_node_t *value)
{
    if (strcmp(key, "id") == 0)
        return read_string(ctx, value, rid, key, &rule->id);
    if (strcmp(key, "name") == 0)
        return read_string(ctx, value, rid, key, &rule->name);
    if (strcmp(key, "description") == 0)
        return read_string(ctx, value, rid, key, &rule->description);
    if (strcmp(key, "pattern") == 0)
        return read_string(ctx, value, rid, key, &rule->pattern);
    if (strcmp(key, "path") == 0)
        return read_string(ctx, value, rid, key, &rule->path);
    if (strcmp(key, "example_path") == 0)
        return read_string(ctx, value, rid, key, &rule->example_path);
    if (strcmp(key, "severity") == 0) {
        rule->severity_given = 1;
        return read_severity(ctx, value, rid, &rule->info.severity);
    }
    if (strcmp(key, "confidence") == 0) {
        rule->confidence_given = 1;
        return read_confidence(ctx, value, rid, &rule->info.confidence);
    }
    if (strcmp(key, "entropy") == 0 || strcmp(key, "min_entropy") == 0)
        return read_entropy(ctx, value, rid, &rule->info.min_entropy);
    if (strcmp(key, "keywords") == 0)
        return read_list(ctx, value, rid, key, &rule->keywords);
    if (strcmp(key, "references") == 0)
        return read_list(ctx, value, rid, key, &rule->references);
    if (strcmp(key, "examples") == 0)
        return read_list(ctx, value, rid, key, &rule->examples);
    /* `non_examples` is what some published rule files call them. */
    if (strcmp(key, "negative_examples") == 0 ||
        strcmp(key, "non_examples") == 0)
        return read_list(ctx, value, rid, key, &rule->negative_examples);
    if (strcmp(key, "validate") == 0)
        return read_validate(ctx, value, rid, rule);
    if (strcmp(key, "on_invalid") == 0)
        return read_on_invalid(ctx, value, rid, &rule->lower_on_invalid);
    if (strcmp(key, "generic") == 0)
        return read_bool(ctx, value, rid, key, &rule->info.generic);
    if (is_ignored_key(key))
        return KS_OK;
    /* Rule files written for other scanners carry fields of their own;
     * they load, and the author hears which fields were ignored. */
    ksi_ruleset_note(ctx->rs, "%s:%u: rule '%s': field '%.64s' is not used "
                     "by keysift; ignored", ctx->file, node_line(value),
                     rid ? rid : "?", key);
    return KS_OK;
}

static ks_status check_required(parse_ctx *ctx, const yaml_node_t *map,
                                const ksi_rule *rule)
{
    const char *rid = rule->id;

    if (!rule->id)
        return fail_at(ctx, map, NULL, "rule has no 'id'");
    if (!valid_id(rule->id))
        return fail_at(ctx, map, rid,
                       "id must start with a letter or digit and hold only "
                       "letters, digits, '.', '_' and '-'");
    if (!rule->name)
        return fail_at(ctx, map, rid, "missing required field 'name'");
    if (!rule->pattern && !rule->path)
        return fail_at(ctx, map, rid, "missing required field 'pattern' "
                       "(or 'path' for a rule on file names)");
    if (rule->pattern && !rule->pattern[0])
        return fail_at(ctx, map, rid, "field 'pattern' is empty");
    if (rule->path && !rule->path[0])
        return fail_at(ctx, map, rid, "field 'path' is empty");
    if (!rule->pattern && rule->validate)
        return fail_at(ctx, map, rid, "a path rule (no 'pattern') cannot "
                       "have 'validate': there is no secret to check");
    if (rule->example_path && (!rule->path || !rule->pattern))
        return fail_at(ctx, map, rid, "field 'example_path' needs both "
                       "'path' and 'pattern' (a path rule's examples are "
                       "paths themselves)");
    return KS_OK;
}

static ks_status read_rule(parse_ctx *ctx, const yaml_node_t *map,
                           ksi_rule *rule)
{
    const char *rid;
    ks_status st;

    if (map->type != YAML_MAPPING_NODE)
        return fail_at(ctx, map, NULL, "each rule must be a mapping of fields");
    rid = peek_id(ctx, map);
    rule->line = node_line(map);
    rule->info.severity = KS_SEV_MEDIUM;
    rule->info.confidence = KS_CONF_MEDIUM;

    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);

        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return fail_at(ctx, map, rid, "field names must be strings");
        st = read_field(ctx, rule, rid, scalar(k), v);
        if (st != KS_OK)
            return st;
    }

    st = check_required(ctx, map, rule);
    if (st != KS_OK)
        return st;
    rule->source = ksi_strdup(ctx->file);
    rule->family = family_of(ctx->file);
    return rule->source && rule->family ? KS_OK : nomem(ctx);
}

/* Finds the list of rules: the root itself, or the root's `rules` key. */
static ks_status find_rule_list(parse_ctx *ctx, const yaml_node_t *root,
                                const yaml_node_t **list)
{
    *list = NULL;
    if (root->type == YAML_SEQUENCE_NODE) {
        *list = root;
        return KS_OK;
    }
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(ctx, root, NULL,
                       "a rule file must hold a 'rules:' list");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(ctx->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(ctx->doc, p->value);
        char msg[160];

        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return fail_at(ctx, root, NULL, "top-level keys must be strings");
        /* Published rule files may also group rules into named sets;
         * keysift uses every rule of the file. */
        if (strcmp(scalar(k), "rulesets") == 0) {
            ksi_ruleset_note(ctx->rs, "%s:%u: top-level 'rulesets' is not "
                             "used by keysift; ignored", ctx->file,
                             node_line(k));
            continue;
        }
        if (strcmp(scalar(k), "rules") != 0) {
            snprintf(msg, sizeof(msg),
                     "unknown top-level key '%.64s' (expected 'rules')",
                     scalar(k));
            return fail_at(ctx, k, NULL, msg);
        }
        if (v->type != YAML_SEQUENCE_NODE)
            return fail_at(ctx, v, NULL, "'rules' must be a list");
        *list = v;
    }
    if (!*list)
        return fail_at(ctx, root, NULL, "no 'rules:' list in this file");
    return KS_OK;
}

/*
 * Reads every rule of the list. A rule with a problem is left out and the
 * next one read, so that one pass reports every bad rule of the file; the
 * file then fails as a whole.
 */
static ks_status read_rule_list(parse_ctx *ctx, const yaml_node_t *list,
                                ksi_rule **out, size_t *count, size_t *cap)
{
    size_t before = ctx->rs->problems.count;

    for (yaml_node_item_t *it = list->data.sequence.items.start;
         it < list->data.sequence.items.top; it++) {
        const yaml_node_t *node = yaml_document_get_node(ctx->doc, *it);
        ks_status st;

        if (!node)
            continue;
        if (*count >= KSI_MAX_RULES)
            return fail_at(ctx, node, NULL, "too many rules in one file");
        if (ksi_grow(out, cap, *count + 1, sizeof(**out)))
            return nomem(ctx);
        memset(&(*out)[*count], 0, sizeof(**out));
        (*count)++;
        st = read_rule(ctx, node, &(*out)[*count - 1]);
        if (st == KS_ERR_RULE && !ksi_ruleset_problems_full(ctx->rs)) {
            ksi_rule_clear(&(*out)[--(*count)]);
            continue;
        }
        if (st != KS_OK)
            return st;
    }
    return ksi_ruleset_problems_since(ctx->rs, before) ? KS_ERR_RULE : KS_OK;
}

ks_status ksi_rules_parse_yaml(ks_ruleset *rs, const char *name,
                               const char *text, size_t len,
                               ksi_rule **out, size_t *count, size_t *cap)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    const yaml_node_t *root, *list;
    parse_ctx ctx = { rs, name, &doc };
    size_t notes_before = rs->notes.count;
    ks_status st;

    if (!yaml_parser_initialize(&parser))
        return nomem(&ctx);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        st = ksi_ruleset_fail(rs, KS_ERR_RULE, "%s:%zu:%zu: YAML error: %s%s%s",
                              name, parser.problem_mark.line + 1,
                              parser.problem_mark.column + 1,
                              parser.problem ? parser.problem : "unreadable",
                              parser.context ? " " : "",
                              parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }

    root = yaml_document_get_root_node(&doc);
    if (!root) {
        st = ksi_ruleset_fail(rs, KS_ERR_RULE, "%s: file holds no rules",
                              name);
        goto out;
    }
    st = find_rule_list(&ctx, root, &list);
    if (st == KS_OK)
        st = read_rule_list(&ctx, list, out, count, cap);
out:
    /* Nothing from a failing file is kept, its notes included. */
    while (st != KS_OK && rs->notes.count > notes_before)
        ksi_free(rs->notes.items[--rs->notes.count]);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}
