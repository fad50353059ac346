/*
 * fuzz_rules.c - the rules loader: YAML rule text (engine/rules_yaml.c)
 * and the checks on every rule (engine/ruleset.c).
 *
 * Every input is loaded as a rule file, and what the loader kept is read
 * back (rules, notes, problems). A file of a few rules is also compiled,
 * which checks its patterns with PCRE2 and Hyperscan, and its examples and
 * negative examples are scanned with it, as `keysift rules test` does: so
 * the matcher also meets patterns it was never written for.
 */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

/* Compiling more rules than this per input would cost more than it
 * finds: Hyperscan's compile time grows with the pattern count. */
#define MAX_COMPILED_RULES 4

static unsigned long sum(const char *s)
{
    unsigned long n = 0;

    while (s && *s)
        n += (unsigned char)*s++;
    return n;
}

static unsigned long read_back(const ks_ruleset *rs)
{
    unsigned long n = sum(ks_ruleset_error(rs));

    for (size_t i = 0; i < ks_ruleset_count(rs); i++) {
        const ks_rule_info *r = ks_ruleset_rule(rs, i);

        n += sum(r->id) + sum(r->name) + sum(r->pattern) + sum(r->path) +
             sum(r->validate) + sum(r->family) + r->n_keywords +
             r->n_references;
        for (size_t k = 0; k < r->n_examples; k++)
            n += sum(r->examples[k]);
    }
    for (size_t i = 0; i < ks_ruleset_note_count(rs); i++)
        n += sum(ks_ruleset_note(rs, i));
    for (size_t i = 0; i < ks_ruleset_problem_count(rs); i++)
        n += sum(ks_ruleset_problem(rs, i));
    return n;
}

static void scan_texts(ks_scan *scan, const char *name,
                       const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ks_scan_buffer(scan, name, texts[i], strlen(texts[i]));
}

/* What `rules test` does: each rule's examples, under its example path. */
static void scan_examples(const ks_ruleset *rs, ksf_counts *counts)
{
    ks_scan_options opts;
    ks_scan *scan = NULL;

    ksf_options(&opts, counts);
    if (ks_scan_new(rs, &opts, &scan) != KS_OK)
        abort();
    for (size_t i = 0; i < ks_ruleset_count(rs); i++) {
        const ks_rule_info *r = ks_ruleset_rule(rs, i);
        const char *name = r->example_path ? r->example_path : "example";

        if (!r->pattern) {
            for (size_t k = 0; k < r->n_examples; k++)
                ks_scan_buffer(scan, r->examples[k], "", 0);
            continue;
        }
        scan_texts(scan, name, r->examples, r->n_examples);
        scan_texts(scan, name, r->negative_examples,
                   r->n_negative_examples);
    }
    ks_scan_free(scan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ksf_counts counts;
    ks_ruleset *rs = NULL;
    ks_status st;

    if (ks_ruleset_new(&rs) != KS_OK)
        abort();
    st = ks_ruleset_add_yaml(rs, "fuzz.yaml", (const char *)data, size);
    counts.checksum += read_back(rs);
    if (st == KS_OK && ks_ruleset_count(rs) > 0 &&
        ks_ruleset_count(rs) <= MAX_COMPILED_RULES) {
        st = ks_ruleset_compile(rs);
        counts.checksum += read_back(rs) + sum(ks_ruleset_hash(rs));
        if (st == KS_OK)
            scan_examples(rs, &counts);
    }
    ks_ruleset_free(rs);
    return 0;
}
