/*
 * test_rules_yaml.c - reading rule files: both top-level forms, every
 * field, the defaults, and errors that tell a rule author what to fix.
 */
#include "unit.h"

/* A `rules:` mapping with one rule using every field and one minimal. */
static const char mapping_form[] =
    "# two rules for the loader tests\n"
    "rules:\n"
    "  - id: acme.deploy-token\n"
    "    name: Acme deploy token\n"
    "    description: A token for the Acme deploy API.\n"
    "    pattern: '\\b(acme_[0-9a-f]{24})\\b'\n"
    "    severity: critical\n"
    "    confidence: high\n"
    "    entropy: 3.25\n"
    "    keywords: [acme_, deploy]\n"
    "    references:\n"
    "      - https://acme.example/docs/tokens\n"
    "    examples:\n"
    "      - 'token = acme_7f3a9c2e81d04b657f3a9c2e'\n"
    "      - 'ACME=acme_fedcba9876543210fedcba98'\n"
    "    negative_examples:\n"
    "      - 'acme_xxxxxxxxxxxxxxxxxxxxxxxx'\n"
    "    tags: [ignored, by, keysift]\n"
    "  - id: acme.plain\n"
    "    name: Acme plain marker\n"
    "    pattern: 'ACMEPLAIN[0-9]{4}'\n";

/* The same kind of content as a bare list. */
static const char list_form[] =
    "- id: widget.key\n"
    "  name: Widget key\n"
    "  pattern: 'wk-[A-Z0-9]{10}'\n"
    "  severity: LOW\n"
    "  confidence: low\n"
    "  keywords: wk-\n"
    "- id: widget.secret\n"
    "  name: Widget secret\n"
    "  pattern: 'ws-[A-Z0-9]{10}'\n"
    "  min_entropy: 2\n";

static ks_ruleset *new_set(void)
{
    ks_ruleset *rs = NULL;

    assert_int_equal(ks_ruleset_new(&rs), KS_OK);
    assert_non_null(rs);
    return rs;
}

static ks_status add_text(ks_ruleset *rs, const char *name, const char *text)
{
    return ks_ruleset_add_yaml(rs, name, text, strlen(text));
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("expected \"%s\" in \"%s\"", part, text);
}

static void mapping_form_reads_every_field(void **state)
{
    ks_ruleset *rs = new_set();
    const ks_rule_info *r;

    (void)state;
    assert_int_equal(add_text(rs, "acme.yaml", mapping_form), KS_OK);
    assert_int_equal(ks_ruleset_count(rs), 2);

    r = ks_ruleset_rule(rs, 0);
    assert_non_null(r);
    assert_string_equal(r->id, "acme.deploy-token");
    assert_string_equal(r->name, "Acme deploy token");
    assert_string_equal(r->description, "A token for the Acme deploy API.");
    assert_string_equal(r->pattern, "\\b(acme_[0-9a-f]{24})\\b");
    assert_string_equal(r->source, "acme.yaml");
    assert_int_equal(r->severity, KS_SEV_CRITICAL);
    assert_int_equal(r->confidence, KS_CONF_HIGH);
    assert_true(r->min_entropy == 3.25);
    assert_int_equal(r->n_keywords, 2);
    assert_string_equal(r->keywords[0], "acme_");
    assert_string_equal(r->keywords[1], "deploy");
    assert_int_equal(r->n_references, 1);
    assert_string_equal(r->references[0], "https://acme.example/docs/tokens");
    assert_int_equal(r->n_examples, 2);
    assert_string_equal(r->examples[0],
                        "token = acme_7f3a9c2e81d04b657f3a9c2e");
    assert_string_equal(r->examples[1], "ACME=acme_fedcba9876543210fedcba98");
    assert_int_equal(r->n_negative_examples, 1);
    assert_string_equal(r->negative_examples[0],
                        "acme_xxxxxxxxxxxxxxxxxxxxxxxx");
    ks_ruleset_free(rs);
}

/* Fields left out take documented defaults: medium, medium, no floor. */
static void defaults_for_missing_fields(void **state)
{
    ks_ruleset *rs = new_set();
    const ks_rule_info *r;

    (void)state;
    assert_int_equal(add_text(rs, "acme.yaml", mapping_form), KS_OK);
    r = ks_ruleset_rule(rs, 1);
    assert_non_null(r);
    assert_string_equal(r->id, "acme.plain");
    assert_null(r->description);
    assert_int_equal(r->severity, KS_SEV_MEDIUM);
    assert_int_equal(r->confidence, KS_CONF_MEDIUM);
    assert_true(r->min_entropy == 0.0);
    assert_int_equal(r->n_keywords, 0);
    assert_int_equal(r->n_references, 0);
    assert_int_equal(r->n_examples, 0);
    assert_int_equal(r->n_negative_examples, 0);
    assert_null(ks_ruleset_rule(rs, 2));
    ks_ruleset_free(rs);
}

/* A bare list; a lone string counts as a list of one; case is ignored. */
static void list_form_reads_fields(void **state)
{
    ks_ruleset *rs = new_set();
    const ks_rule_info *r;

    (void)state;
    assert_int_equal(add_text(rs, "widget.yml", list_form), KS_OK);
    assert_int_equal(ks_ruleset_count(rs), 2);

    r = ks_ruleset_rule(rs, 0);
    assert_string_equal(r->id, "widget.key");
    assert_string_equal(r->name, "Widget key");
    assert_string_equal(r->pattern, "wk-[A-Z0-9]{10}");
    assert_int_equal(r->severity, KS_SEV_LOW);
    assert_int_equal(r->confidence, KS_CONF_LOW);
    assert_int_equal(r->n_keywords, 1);
    assert_string_equal(r->keywords[0], "wk-");

    r = ks_ruleset_rule(rs, 1);
    assert_string_equal(r->id, "widget.secret");
    assert_true(r->min_entropy == 2.0);
    assert_string_equal(r->source, "widget.yml");
    ks_ruleset_free(rs);
}

/* Rules from several adds keep the order they were added in. */
static void adds_append_in_order(void **state)
{
    ks_ruleset *rs = new_set();

    (void)state;
    assert_int_equal(add_text(rs, "widget.yml", list_form), KS_OK);
    assert_int_equal(add_text(rs, "acme.yaml", mapping_form), KS_OK);
    assert_int_equal(ks_ruleset_count(rs), 4);
    assert_string_equal(ks_ruleset_rule(rs, 0)->id, "widget.key");
    assert_string_equal(ks_ruleset_rule(rs, 1)->id, "widget.secret");
    assert_string_equal(ks_ruleset_rule(rs, 2)->id, "acme.deploy-token");
    assert_string_equal(ks_ruleset_rule(rs, 3)->id, "acme.plain");
    assert_string_equal(ks_ruleset_rule(rs, 3)->source, "acme.yaml");
    ks_ruleset_free(rs);
}

/*
 * Loads `text` as `file` into a set that already holds one rule, expects
 * KS_ERR_RULE, each of the `parts` in the error, and nothing added.
 */
static void expect_rule_error(const char *file, const char *text,
                              const char *const *parts, size_t n_parts)
{
    static const char base[] =
        "- id: base.rule\n  name: Base\n  pattern: 'BASE[0-9]{6}'\n";
    ks_ruleset *rs = new_set();
    ks_status st;

    assert_int_equal(add_text(rs, "base.yaml", base), KS_OK);
    st = add_text(rs, file, text);
    if (st != KS_ERR_RULE)
        fail_msg("%s: expected KS_ERR_RULE, got %s (%s)", file,
                 ks_status_str(st), ks_ruleset_error(rs));
    assert_contains(ks_ruleset_error(rs), file);
    for (size_t i = 0; i < n_parts; i++)
        assert_contains(ks_ruleset_error(rs), parts[i]);
    assert_int_equal(ks_ruleset_count(rs), 1);
    assert_string_equal(ks_ruleset_rule(rs, 0)->id, "base.rule");
    ks_ruleset_free(rs);
}

#define EXPECT_ERROR(file, text, ...)                                   \
    do {                                                                \
        const char *const parts_[] = { __VA_ARGS__ };                   \
        expect_rule_error(file, text, parts_,                           \
                          sizeof(parts_) / sizeof(parts_[0]));          \
    } while (0)

static void yaml_syntax_error(void **state)
{
    (void)state;
    /* An unclosed flow sequence on line 3. */
    EXPECT_ERROR("broken.yaml",
                 "- id: a.rule\n  name: A\n  keywords: [one, two\n"
                 "  pattern: 'A[0-9]{4}'\n",
                 "YAML");
}

static void missing_id(void **state)
{
    (void)state;
    EXPECT_ERROR("noid.yaml", "- name: No id\n  pattern: 'N[0-9]{6}'\n",
                 "'id'");
}

static void missing_name(void **state)
{
    (void)state;
    EXPECT_ERROR("noname.yaml", "- id: no.name\n  pattern: 'N[0-9]{6}'\n",
                 "no.name", "'name'");
}

static void missing_pattern(void **state)
{
    (void)state;
    EXPECT_ERROR("nopattern.yaml", "- id: no.pattern\n  name: No pattern\n",
                 "no.pattern", "'pattern'");
}

/* Every bad rule of a file is reported, the first as the error. */
static void every_problem_reported(void **state)
{
    static const char text[] =
        "- id: bad.one\n  name: One\n"
        "- id: good.rule\n  name: Good\n  pattern: 'G[0-9]{4}'\n"
        "- id: bad.two\n  name: Two\n  pattern: 'T[0-9]{4}'\n"
        "  severity: urgent\n";
    ks_ruleset *rs = new_set();

    (void)state;
    assert_int_equal(add_text(rs, "many.yaml", text), KS_ERR_RULE);
    assert_int_equal(ks_ruleset_count(rs), 0);
    assert_int_equal(ks_ruleset_problem_count(rs), 2);
    assert_contains(ks_ruleset_problem(rs, 0), "rule 'bad.one'");
    assert_contains(ks_ruleset_problem(rs, 1), "many.yaml:9: rule 'bad.two'");
    assert_string_equal(ks_ruleset_error(rs), ks_ruleset_problem(rs, 0));
    assert_null(ks_ruleset_problem(rs, 2));
    /* The next add starts a fresh list. */
    assert_int_equal(add_text(rs, "ok.yaml", list_form), KS_OK);
    assert_int_equal(ks_ruleset_problem_count(rs), 0);
    ks_ruleset_free(rs);
}

/* A path rule needs no pattern; a filtered rule names its example path. */
static void path_fields(void **state)
{
    static const char text[] =
        "rules:\n"
        "  - id: p.history\n"
        "    name: History file\n"
        "    path: '(?:^|/)\\.bash_history$'\n"
        "  - id: p.env\n"
        "    name: ENV secret\n"
        "    path: '(?:^|/)Dockerfile$'\n"
        "    example_path: app/Dockerfile\n"
        "    pattern: 'ENV S=([a-z]{8})'\n";
    ks_ruleset *rs = new_set();
    const ks_rule_info *r;

    (void)state;
    assert_int_equal(add_text(rs, "paths.yaml", text), KS_OK);
    r = ks_ruleset_rule(rs, 0);
    assert_null(r->pattern);
    assert_string_equal(r->path, "(?:^|/)\\.bash_history$");
    assert_null(r->example_path);
    r = ks_ruleset_rule(rs, 1);
    assert_string_equal(r->pattern, "ENV S=([a-z]{8})");
    assert_string_equal(r->path, "(?:^|/)Dockerfile$");
    assert_string_equal(r->example_path, "app/Dockerfile");
    ks_ruleset_free(rs);
}

static void bad_path_fields(void **state)
{
    (void)state;
    EXPECT_ERROR("p.yaml", "- id: p.x\n  name: X\n  path: ''\n",
                 "p.x", "'path' is empty");
    EXPECT_ERROR("p.yaml", "- id: p.x\n  name: X\n  path: 'x$'\n"
                 "  validate: hex\n", "p.x", "'validate'");
    EXPECT_ERROR("p.yaml", "- id: p.x\n  name: X\n  pattern: 'X[0-9]{4}'\n"
                 "  example_path: Dockerfile\n", "p.x", "'example_path'");
}

/*
 * Published rule files call negative examples non_examples in places and
 * may group rules under a top-level `rulesets` key: both load.
 */
static void published_format_variants(void **state)
{
    static const char text[] =
        "rules:\n"
        "  - name: Acme key\n"
        "    id: acme.1\n"
        "    pattern: |\n"
        "      (?x)\n"
        "      \\b (acme_[0-9a-f]{8}) \\b   # the key\n"
        "    categories: [api, secret]\n"
        "    examples: ['acme_0a1b2c3d']\n"
        "    non_examples: ['acme_0a1b']\n"
        "rulesets:\n"
        "  - id: acme\n"
        "    include_rule_ids: [acme.1]\n";
    ks_ruleset *rs = new_set();
    const ks_rule_info *r;

    (void)state;
    assert_int_equal(add_text(rs, "np.yml", text), KS_OK);
    r = ks_ruleset_rule(rs, 0);
    assert_int_equal(r->n_negative_examples, 1);
    assert_string_equal(r->negative_examples[0], "acme_0a1b");
    assert_int_equal(ks_ruleset_note_count(rs), 1);
    assert_contains(ks_ruleset_note(rs, 0), "'rulesets'");
    assert_int_equal(ks_ruleset_compile(rs), KS_OK);
    ks_ruleset_free(rs);
}

/*
 * Fields of other scanners' rule formats do not stop a file loading: the
 * rule loads and a note names the file, line, rule and field. The field
 * comes before `id`, which must still be named: the id is read first.
 */
static void unknown_field_is_a_note(void **state)
{
    static const char text[] =
        "- name: Extra\n  colour: red\n  id: has.extra\n"
        "  pattern: 'X[0-9]{6}'\n";
    ks_ruleset *rs = new_set();

    (void)state;
    assert_int_equal(ks_ruleset_note_count(rs), 0);
    assert_int_equal(add_text(rs, "extra.yaml", text), KS_OK);
    assert_int_equal(ks_ruleset_count(rs), 1);
    assert_string_equal(ks_ruleset_rule(rs, 0)->id, "has.extra");
    assert_int_equal(ks_ruleset_note_count(rs), 1);
    assert_contains(ks_ruleset_note(rs, 0), "extra.yaml:2:");
    assert_contains(ks_ruleset_note(rs, 0), "has.extra");
    assert_contains(ks_ruleset_note(rs, 0), "'colour'");
    assert_null(ks_ruleset_note(rs, 1));

    /* Keys other formats use for grouping load without a note. */
    assert_int_equal(add_text(rs, "acme.yaml", mapping_form), KS_OK);
    assert_int_equal(ks_ruleset_note_count(rs), 1);
    ks_ruleset_free(rs);
}

/*
 * Nothing from a file that fails to load is kept, notes included: a note
 * about a rule that was never added would send its author the wrong way.
 */
static void failing_file_leaves_no_note(void **state)
{
    static const char text[] =
        "- id: noted.rule\n  name: Noted\n  pattern: 'N[0-9]{6}'\n"
        "  colour: red\n"
        "- id: broken.rule\n  name: Broken\n";
    ks_ruleset *rs = new_set();
    size_t notes;

    (void)state;
    assert_int_equal(add_text(rs, "noted.yaml", text), KS_ERR_RULE);
    assert_int_equal(ks_ruleset_count(rs), 0);
    notes = ks_ruleset_note_count(rs);
    ks_ruleset_free(rs);
    if (notes != 0)
        fail_msg("%zu note(s) kept from a file that was not added", notes);
}

/* validate, on_invalid, generic, and the family taken from the file. */
static void check_fields(void **state)
{
    static const char text[] =
        "- id: checked.key\n  name: Checked\n  pattern: 'AKIA[A-Z2-7]{16}'\n"
        "  validate: aws-key-id\n  on_invalid: lower\n  generic: yes\n"
        "- id: plain.key\n  name: Plain\n  pattern: 'PLK[0-9]{9}'\n"
        "  validate: hex\n  on_invalid: drop\n  generic: false\n";
    ks_ruleset *rs = new_set();
    const ks_rule_info *r;

    (void)state;
    assert_int_equal(add_text(rs, "rules/cloud-keys.yml", text), KS_OK);
    r = ks_ruleset_rule(rs, 0);
    assert_string_equal(r->validate, "aws-key-id");
    assert_int_equal(r->lower_on_invalid, 1);
    assert_int_equal(r->generic, 1);
    assert_string_equal(r->family, "cloud-keys");
    r = ks_ruleset_rule(rs, 1);
    assert_string_equal(r->validate, "hex");
    assert_int_equal(r->lower_on_invalid, 0);
    assert_int_equal(r->generic, 0);

    assert_int_equal(add_text(rs, "acme.yaml", mapping_form), KS_OK);
    r = ks_ruleset_rule(rs, 2);
    assert_null(r->validate);
    assert_int_equal(r->lower_on_invalid, 0);
    assert_int_equal(r->generic, 0);
    assert_string_equal(r->family, "acme");
    ks_ruleset_free(rs);
}

static void bad_check_fields(void **state)
{
    (void)state;
    EXPECT_ERROR("val.yaml",
                 "- id: bad.validator\n  name: Bad\n  pattern: 'V[0-9]{6}'\n"
                 "  validate: luhn-ish\n",
                 "val.yaml:4:", "bad.validator", "luhn-ish", "crc32-base62");
    EXPECT_ERROR("inv.yaml",
                 "- id: bad.invalid\n  name: Bad\n  pattern: 'V[0-9]{6}'\n"
                 "  validate: hex\n  on_invalid: ignore\n",
                 "bad.invalid", "on_invalid");
    EXPECT_ERROR("gen.yaml",
                 "- id: bad.generic\n  name: Bad\n  pattern: 'V[0-9]{6}'\n"
                 "  generic: maybe\n",
                 "bad.generic", "generic");
}

static void bad_severity(void **state)
{
    (void)state;
    EXPECT_ERROR("sev.yaml",
                 "- id: bad.sev\n  name: Bad\n  pattern: 'S[0-9]{6}'\n"
                 "  severity: catastrophic\n",
                 "bad.sev", "severity");
}

static void bad_confidence(void **state)
{
    (void)state;
    EXPECT_ERROR("conf.yaml",
                 "- id: bad.conf\n  name: Bad\n  pattern: 'C[0-9]{6}'\n"
                 "  confidence: certain\n",
                 "bad.conf", "confidence");
}

static void entropy_out_of_range(void **state)
{
    (void)state;
    EXPECT_ERROR("hot.yaml",
                 "- id: hot.entropy\n  name: Hot\n  pattern: 'H[0-9]{6}'\n"
                 "  entropy: 8.5\n",
                 "hot.entropy", "entropy");
    EXPECT_ERROR("cold.yaml",
                 "- id: cold.entropy\n  name: Cold\n  pattern: 'H[0-9]{6}'\n"
                 "  entropy: -1\n",
                 "cold.entropy", "entropy");
    EXPECT_ERROR("word.yaml",
                 "- id: word.entropy\n  name: Word\n  pattern: 'H[0-9]{6}'\n"
                 "  entropy: high\n",
                 "word.entropy", "entropy");
}

static void duplicate_id_in_one_file(void **state)
{
    (void)state;
    EXPECT_ERROR("dup.yaml",
                 "- id: twice.here\n  name: One\n  pattern: 'T[0-9]{6}'\n"
                 "- id: twice.here\n  name: Two\n  pattern: 'U[0-9]{6}'\n",
                 "dup.yaml:4:", "twice.here", "duplicate id", "dup.yaml:1");
}

/* The clash is with base.rule, added from base.yaml before. */
static void duplicate_id_across_adds(void **state)
{
    (void)state;
    EXPECT_ERROR("again.yaml",
                 "- id: base.rule\n  name: Again\n  pattern: 'G[0-9]{6}'\n",
                 "base.rule", "duplicate id", "base.yaml");
}

/* Two good rules then a bad one: the good ones must not be kept either. */
static void failing_file_adds_nothing(void **state)
{
    (void)state;
    EXPECT_ERROR("partly.yaml",
                 "rules:\n"
                 "  - id: good.one\n    name: One\n    pattern: 'P[0-9]{6}'\n"
                 "  - id: good.two\n    name: Two\n    pattern: 'Q[0-9]{6}'\n"
                 "  - id: bad.three\n    name: Three\n",
                 "bad.three", "'pattern'");
}

static void wrong_shapes(void **state)
{
    (void)state;
    EXPECT_ERROR("scalar.yaml", "just some text\n", "rules");
    EXPECT_ERROR("topkey.yaml", "rulez:\n  - id: x\n", "rulez");
    EXPECT_ERROR("notmap.yaml", "- just a string\n", "mapping");
    EXPECT_ERROR("badid.yaml",
                 "- id: 'has space'\n  name: Bad id\n  pattern: 'I[0-9]{6}'\n",
                 "id");
    EXPECT_ERROR("twice.yaml",
                 "- id: two.names\n  name: A\n  name: B\n"
                 "  pattern: 'W[0-9]{6}'\n",
                 "two.names", "'name'");
}

/* A rule already fetched must stay readable while more rules are added. */
static void rule_view_survives_later_adds(void **state)
{
    ks_ruleset *rs = new_set();
    const ks_rule_info *first;
    char text[128];

    (void)state;
    assert_int_equal(add_text(rs, "acme.yaml", mapping_form), KS_OK);
    first = ks_ruleset_rule(rs, 0);
    for (int i = 0; i < 40; i++) {
        snprintf(text, sizeof(text),
                 "- id: more.r%d\n  name: R\n  pattern: 'R%d[0-9]{6}'\n", i,
                 i);
        assert_int_equal(add_text(rs, "more.yaml", text), KS_OK);
    }
    /* Comparing addresses needs no read through a stale pointer. */
    assert_ptr_equal(first, ks_ruleset_rule(rs, 0));
    ks_ruleset_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mapping_form_reads_every_field),
        cmocka_unit_test(defaults_for_missing_fields),
        cmocka_unit_test(list_form_reads_fields),
        cmocka_unit_test(adds_append_in_order),
        cmocka_unit_test(yaml_syntax_error),
        cmocka_unit_test(missing_id),
        cmocka_unit_test(missing_name),
        cmocka_unit_test(missing_pattern),
        cmocka_unit_test(unknown_field_is_a_note),
        cmocka_unit_test(every_problem_reported),
        cmocka_unit_test(path_fields),
        cmocka_unit_test(bad_path_fields),
        cmocka_unit_test(published_format_variants),
        cmocka_unit_test(failing_file_leaves_no_note),
        cmocka_unit_test(check_fields),
        cmocka_unit_test(bad_check_fields),
        cmocka_unit_test(bad_severity),
        cmocka_unit_test(bad_confidence),
        cmocka_unit_test(entropy_out_of_range),
        cmocka_unit_test(duplicate_id_in_one_file),
        cmocka_unit_test(duplicate_id_across_adds),
        cmocka_unit_test(failing_file_adds_nothing),
        cmocka_unit_test(wrong_shapes),
        cmocka_unit_test(rule_view_survives_later_adds),
    };

    return cmocka_run_group_tests_name("rule loading (YAML)", tests, NULL,
                                       NULL);
}
