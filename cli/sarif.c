/*
 * sarif.c - the report as SARIF 2.1.0, for code-scanning UIs.
 *
 * One run; one rule descriptor per rule that has a result; one result per
 * location (a UI tracks each place on its own), in the report's order.
 * Each result carries the location key as a partial fingerprint, so a
 * UI matches it across runs however the file's lines move.
 *
 * Locations:
 *   - a file is a physical location relative to %SRCROOT% (the working
 *     directory), or a file:// URI when it was named by absolute path;
 *   - a member of an archive is an artifact whose parentIndex is the
 *     archive's artifact, one level per nesting;
 *   - in an image, the path inside the layer is the physical location
 *     (a config field's is "config/NAME") and a logical location names
 *     the image, the layer and its digest, since no file on disk holds it.
 * Lines and columns are keysift's: columns count bytes, which equals the
 * SARIF default (UTF-16 code units) on ASCII lines.
 */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SARIF_SCHEMA \
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/" \
    "sarif-schema-2.1.0.json"
#define BASE_ID "SRCROOT"

typedef struct sarif {
    json_t *rules;              /* reportingDescriptor[] */
    const ks_rule_info **used;  /* rule of each descriptor */
    size_t n_used;
    json_t *artifacts;          /* artifact[] (archive members only) */
    char **artifact_keys;       /* "parent-index\n uri", to reuse entries */
    size_t n_artifacts;
    int failed;
} sarif;

/* ---- URIs --------------------------------------------------------------- */

/* Percent-encodes a path; '/' is kept. Returns a new JSON string. */
static json_t *uri_json(const char *prefix, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path), k = strlen(prefix);
    char *out = malloc(k + 3 * n + 1);
    json_t *j;

    if (!out)
        return NULL;
    memcpy(out, prefix, k);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-._~/!$&'()*+,;=:@", c)) {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
    j = json_string(out);
    free(out);
    return j;
}

static const char *strip_dot(const char *p)
{
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    return p;
}

/* An artifactLocation for a path as named on this machine. */
static json_t *file_location(const char *path)
{
    json_t *loc = json_object();

    if (path[0] == '/') {
        json_object_set_new(loc, "uri", uri_json("file://", path));
    } else {
        json_object_set_new(loc, "uri", uri_json("", strip_dot(path)));
        json_object_set_new(loc, "uriBaseId", json_string(BASE_ID));
    }
    return loc;
}

static json_t *base_ids(void)
{
    char cwd[4096];
    json_t *ids = json_object();
    json_t *root = json_object();
    size_t n;

    if (!getcwd(cwd, sizeof(cwd) - 1))
        snprintf(cwd, sizeof(cwd), "/");
    n = strlen(cwd);
    if (n == 0 || cwd[n - 1] != '/')
        memcpy(cwd + n, "/", 2);
    json_object_set_new(root, "uri", uri_json("file://", cwd));
    json_object_set_new(root, "description",
                        json_pack("{s:s}", "text", "the directory "
                                  "keysift was run from"));
    json_object_set_new(ids, BASE_ID, root);
    return ids;
}

/* ---- rules -------------------------------------------------------------- */

static const char *level_of(ks_severity s)
{
    return s >= KS_SEV_HIGH ? "error" : s == KS_SEV_MEDIUM ? "warning"
                                                          : "note";
}

/* GitHub sorts and labels alerts by this 0-10 score. */
static const char *security_severity(ks_severity s)
{
    static const char *const score[] = { "1.0", "3.0", "5.5", "8.0", "9.5" };

    return (unsigned)s <= KS_SEV_CRITICAL ? score[s] : "5.5";
}

static json_t *text_json(const char *text)
{
    json_t *j = json_object();

    json_object_set_new(j, "text", report_json_text(text));
    return j;
}

static json_t *rule_json(const ks_rule_info *rule)
{
    json_t *d = json_object();
    json_t *cfg = json_object();
    json_t *props = json_object();
    json_t *tags = json_array();
    char help[1024];

    snprintf(help, sizeof(help), "%s. Revoke or rotate the secret, then "
             "remove it from the file and its history; if it is not a "
             "secret, mark the line with keysift:allow or add it to the "
             "baseline.", rule->name);
    json_object_set_new(d, "id", report_json_text(rule->id));
    json_object_set_new(d, "name", report_json_text(rule->name));
    json_object_set_new(d, "shortDescription", text_json(rule->name));
    json_object_set_new(d, "fullDescription",
                        text_json(rule->description ? rule->description
                                                    : rule->name));
    json_object_set_new(d, "help", text_json(help));
    if (rule->n_references)
        json_object_set_new(d, "helpUri",
                            report_json_text(rule->references[0]));
    json_object_set_new(cfg, "level", json_string(level_of(rule->severity)));
    json_object_set_new(d, "defaultConfiguration", cfg);
    json_array_append_new(tags, json_string("security"));
    json_array_append_new(tags, json_string("secret"));
    if (rule->family)
        json_array_append_new(tags, report_json_text(rule->family));
    json_object_set_new(props, "tags", tags);
    json_object_set_new(props, "precision",
                        json_string(ks_confidence_str(rule->confidence)));
    json_object_set_new(props, "security-severity",
                        json_string(security_severity(rule->severity)));
    json_object_set_new(props, "severity",
                        json_string(ks_severity_str(rule->severity)));
    json_object_set_new(d, "properties", props);
    return d;
}

/* The index of a rule's descriptor, adding it on first use. */
static size_t rule_index(sarif *s, const ks_rule_info *rule)
{
    const ks_rule_info **grown;

    for (size_t i = 0; i < s->n_used; i++) {
        if (s->used[i] == rule)
            return i;
    }
    grown = realloc(s->used, (s->n_used + 1) * sizeof(*s->used));
    if (!grown) {
        s->failed = 1;
        return 0;
    }
    s->used = grown;
    s->used[s->n_used] = rule;
    json_array_append_new(s->rules, rule_json(rule));
    return s->n_used++;
}

/* ---- locations ---------------------------------------------------------- */

/* The artifact for `uri` under `parent` (-1: none), added on first use. */
static long artifact_index(sarif *s, long parent, json_t *location)
{
    char *key = NULL;
    const char *uri = json_string_value(json_object_get(location, "uri"));
    size_t n = strlen(uri ? uri : "") + 32;
    char **grown;
    json_t *a;

    key = malloc(n);
    if (!key) {
        s->failed = 1;
        json_decref(location);
        return -1;
    }
    snprintf(key, n, "%ld\n%s", parent, uri ? uri : "");
    for (size_t i = 0; i < s->n_artifacts; i++) {
        if (strcmp(s->artifact_keys[i], key) == 0) {
            free(key);
            json_decref(location);
            return (long)i;
        }
    }
    grown = realloc(s->artifact_keys,
                    (s->n_artifacts + 1) * sizeof(*s->artifact_keys));
    if (!grown) {
        free(key);
        json_decref(location);
        s->failed = 1;
        return -1;
    }
    s->artifact_keys = grown;
    s->artifact_keys[s->n_artifacts] = key;
    a = json_object();
    json_object_set_new(a, "location", location);
    if (parent >= 0)
        json_object_set_new(a, "parentIndex", json_integer(parent));
    json_array_append_new(s->artifacts, a);
    return (long)s->n_artifacts++;
}

/*
 * The artifactLocation of a location whose chain, from `from` on, is a
 * file and the members nested in it. With `outer_file`, chain[from] is a
 * path on this machine; otherwise (an image layer) it is a path inside.
 */
static json_t *nested_location(sarif *s, const occurrence *o, size_t from,
                               int outer_file)
{
    long parent = -1;
    json_t *loc;

    if (from + 1 == o->chain_len)
        return outer_file ? file_location(o->chain[from])
                          : json_pack("{s:o}", "uri",
                                      uri_json("", strip_dot(o->chain[from])));
    for (size_t i = from; i + 1 < o->chain_len; i++) {
        json_t *l = i == from && outer_file
                        ? file_location(o->chain[i])
                        : json_pack("{s:o}", "uri",
                                    uri_json("", strip_dot(o->chain[i])));

        parent = artifact_index(s, parent, l);
    }
    loc = json_object();
    json_object_set_new(loc, "uri",
                        uri_json("", strip_dot(o->chain[o->chain_len - 1])));
    json_object_set_new(loc, "index",
                        json_integer(artifact_index(s, parent,
                                                    json_deep_copy(loc))));
    return loc;
}

static json_t *image_logical(const occurrence *o)
{
    json_t *l = json_object();
    json_t *props = json_object();
    char name[4096];
    size_t used = 0;

    for (size_t i = 0; i < o->chain_len && used + 1 < sizeof(name); i++)
        used += (size_t)snprintf(name + used, sizeof(name) - used, "%s%s",
                                 i ? " / " : "", o->chain[i]);
    json_object_set_new(l, "name", report_json_text(o->chain[o->chain_len -
                                                               1]));
    json_object_set_new(l, "fullyQualifiedName", report_json_text(name));
    json_object_set_new(l, "kind", json_string(o->layer_index >= 0
                                                   ? "resource"
                                                   : "property"));
    json_object_set_new(props, "image", report_json_text(o->image));
    json_object_set_new(props, "manifest_digest",
                        report_json_text(o->manifest_digest));
    json_object_set_new(props, "platform", report_json_text(o->platform));
    if (o->layer_index >= 0) {
        json_object_set_new(props, "layer_index",
                            json_integer(o->layer_index));
        json_object_set_new(props, "layer_digest",
                            report_json_text(o->layer_digest));
    } else {
        json_object_set_new(props, "config_field",
                            report_json_text(o->config_field));
    }
    json_object_set_new(props, "deleted",
                        json_boolean(o->flags & KS_LOC_DELETED));
    json_object_set_new(l, "properties", props);
    return json_pack("[o]", l);
}

static json_t *location_json(sarif *s, const occurrence *o)
{
    json_t *loc = json_object();
    json_t *phys = json_object();
    json_t *region = json_object();
    json_t *where;

    if (!o->image)
        where = nested_location(s, o, 0, 1);
    else if (o->layer_index >= 0 && o->chain_len > 2)
        where = nested_location(s, o, 2, 0);
    else
        where = json_pack("{s:o}", "uri", uri_json("", o->key_path));
    json_object_set_new(phys, "artifactLocation", where);
    json_object_set_new(region, "startLine",
                        json_integer((json_int_t)o->line));
    json_object_set_new(region, "startColumn",
                        json_integer((json_int_t)o->column));
    json_object_set_new(phys, "region", region);
    json_object_set_new(loc, "physicalLocation", phys);
    if (o->image)
        json_object_set_new(loc, "logicalLocations", image_logical(o));
    return loc;
}

/* ---- results ------------------------------------------------------------ */

static json_t *message_json(const occurrence *o, int show)
{
    char redacted[16];
    char text[512];
    size_t keep = redact_keep(o->secret_len);

    memcpy(redacted, o->secret, keep);
    memcpy(redacted + keep, "******", 7);
    if (show)
        snprintf(text, sizeof(text), "%s found (%zu bytes).", o->rule->name,
                 o->secret_len);
    else
        snprintf(text, sizeof(text), "%s found: %s (%zu bytes, redacted).",
                 o->rule->name, redacted, o->secret_len);
    return text_json(text);
}

static json_t *result_json(sarif *s, const occurrence *o, int show)
{
    json_t *r = json_object();
    json_t *fps = json_object();
    json_t *props = json_object();

    json_object_set_new(r, "ruleId", report_json_text(o->rule->id));
    json_object_set_new(r, "ruleIndex",
                        json_integer((json_int_t)rule_index(s, o->rule)));
    json_object_set_new(r, "level", json_string(level_of(o->rule->severity)));
    json_object_set_new(r, "message", message_json(o, show));
    json_object_set_new(r, "locations", json_pack("[o]",
                                                  location_json(s, o)));
    json_object_set_new(fps, "keysiftLocation/v1", json_string(o->key));
    json_object_set_new(fps, "keysiftSecret/v1",
                        json_string(o->fingerprint));
    json_object_set_new(r, "partialFingerprints", fps);
    json_object_set_new(props, "confidence",
                        json_string(ks_confidence_str(o->confidence)));
    json_object_set_new(props, "secret_length",
                        json_integer((json_int_t)o->secret_len));
    if (show)
        json_object_set_new(props, "secret",
                            report_json_bytes(o->secret, o->secret_len));
    json_object_set_new(r, "properties", props);
    return r;
}

static json_t *run_properties(const report *r)
{
    json_t *p = json_object();

    json_object_set_new(p, "rules_hash", report_json_text(r->rules_hash));
    json_object_set_new(p, "suppressed", report_suppressed_json(r));
    return p;
}

int sarif_write(FILE *out, const report *r, int show)
{
    sarif s = { json_array(), NULL, 0, json_array(), NULL, 0, 0 };
    json_t *results = json_array();
    json_t *run, *driver, *root;
    int rc;

    for (size_t g = 0; g < r->n_groups; g++) {
        const finding_group *grp = &r->groups[g];

        for (size_t k = 0; k < grp->count; k++)
            json_array_append_new(results,
                                  result_json(&s, &grp->first[k], show));
    }
    driver = json_pack("{s:s, s:s, s:s, s:o}", "name", "keysift", "version",
                       KS_VERSION, "semanticVersion", KS_VERSION, "rules",
                       s.rules);
    run = json_object();
    json_object_set_new(run, "tool", json_pack("{s:o}", "driver", driver));
    json_object_set_new(run, "originalUriBaseIds", base_ids());
    if (s.n_artifacts)
        json_object_set_new(run, "artifacts", s.artifacts);
    else
        json_decref(s.artifacts);
    json_object_set_new(run, "results", results);
    json_object_set_new(run, "columnKind", json_string("utf16CodeUnits"));
    json_object_set_new(run, "properties", run_properties(r));
    root = json_pack("{s:s, s:s, s:[o]}", "$schema", SARIF_SCHEMA, "version",
                     "2.1.0", "runs", run);
    rc = s.failed || !root ? -1
                           : json_dumpf(root, out,
                                        JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
    for (size_t i = 0; i < s.n_artifacts; i++)
        free(s.artifact_keys[i]);
    free(s.artifact_keys);
    free(s.used);
    return rc;
}
