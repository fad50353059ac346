/*
 * fuzz_matcher.c - the confirm stage on arbitrary bytes: Hyperscan
 * candidates for every built-in rule, the PCRE2 capture in its bounded
 * window, entropy floors, validators and noise filters, shadowing between
 * overlapping rules, and locations.
 *
 * Each input is scanned twice, in one block and streamed in chunks whose
 * size the input chooses, and the two must report the same findings at
 * the same places: streaming promises the answer does not depend on where
 * chunks end. Every validator and the noise filter also get the bytes.
 *
 * Input: byte 0 picks the entry's name (which opens path-filtered rules
 * and path rules), bytes 1-2 the chunk size; the rest is the entry.
 */
#include "fuzz_common.h"
#include "matcher.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Findings compared per entry; inputs are far too short to reach it. */
#define MAX_KEPT 4096

typedef struct kept {
    const char *rule;
    uint64_t line, column, offset;
    size_t len;
    unsigned flags;
    ks_confidence confidence;
    char fingerprint[65];
} kept;

typedef struct kept_list {
    kept items[MAX_KEPT];
    size_t count;
    int overflow;
} kept_list;

static int keep(void *ctx, const ksi_entry *e, const ks_finding *f)
{
    kept_list *l = ctx;
    kept *k;

    (void)e;
    if (l->count == MAX_KEPT) {
        l->overflow = 1;
        return 0;
    }
    k = &l->items[l->count++];
    *k = (kept){ f->rule->id, f->location.line, f->location.column,
                 f->location.offset, f->secret_len, f->location.flags,
                 f->confidence, "" };
    snprintf(k->fingerprint, sizeof(k->fingerprint), "%s", f->fingerprint);
    return 0;
}

static int ignore_diag(void *ctx, const ksi_entry *e, ks_diag_level level,
                       ks_status status, const char *message)
{
    (void)ctx;
    (void)e;
    (void)level;
    (void)status;
    (void)message;
    return 0;
}

static int by_place(const void *a, const void *b)
{
    const kept *x = a, *y = b;

    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return strcmp(x->rule, y->rule);
}

static void describe(const char *what, const kept_list *l)
{
    fprintf(stderr, "%s: %zu findings\n", what, l->count);
    for (size_t i = 0; i < l->count; i++)
        fprintf(stderr, "  %s at %llu:%llu +%llu len %zu flags %u\n",
                l->items[i].rule, (unsigned long long)l->items[i].line,
                (unsigned long long)l->items[i].column,
                (unsigned long long)l->items[i].offset, l->items[i].len,
                l->items[i].flags);
}

static void compare(kept_list *block, kept_list *stream)
{
    int same = block->count == stream->count;

    if (block->overflow || stream->overflow)
        return;
    qsort(block->items, block->count, sizeof(kept), by_place);
    qsort(stream->items, stream->count, sizeof(kept), by_place);
    for (size_t i = 0; same && i < block->count; i++) {
        const kept *x = &block->items[i], *y = &stream->items[i];

        same = strcmp(x->rule, y->rule) == 0 && x->line == y->line &&
               x->column == y->column && x->offset == y->offset &&
               x->len == y->len && x->flags == y->flags &&
               x->confidence == y->confidence &&
               strcmp(x->fingerprint, y->fingerprint) == 0;
    }
    if (same)
        return;
    describe("block", block);
    describe("stream", stream);
    fprintf(stderr, "fuzz_matcher: streaming and block scans disagree\n");
    abort();
}

static void stream(ksi_matcher *m, const ksi_entry *e, const uint8_t *data,
                   size_t size, size_t step, const ksi_sink *sink)
{
    ks_status st = ksi_stream_open(m, e, sink);

    for (size_t off = 0; st == KS_OK && off < size;) {
        size_t n = size - off < step ? size - off : step;
        void *space;
        size_t room;

        ksi_stream_space(m, &space, &room);
        if (n > room)
            n = room;
        memcpy(space, data + off, n);
        st = ksi_stream_commit(m, n);
        off += n;
    }
    ksi_stream_close(m);
}

static void validators(const uint8_t *data, size_t size)
{
    static char names[1024];
    unsigned char out[256];

    if (!names[0])
        snprintf(names, sizeof(names), "%s", ksi_validator_names());
    for (const char *p = names; *p;) {
        size_t n = strcspn(p, ", ");
        char name[64];

        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (name[0] && ksi_validator_find(name))
            ksi_validator_find(name)(data, size);
        p += n;
        p += strspn(p, ", ");
    }
    ksi_is_noise(data, size, 0);
    ksi_is_noise(data, size, 1);
    ksi_base64_decode(data, size, 0, out, sizeof(out));
    ksi_base64_decode(data, size, 1, NULL, 0);
}

static ksi_matcher *m;

/* The built-in rules take seconds to compile under the sanitizers: once,
 * before the first input, so that no input is charged for it. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    m = ksi_matcher_new(ksf_rules(KSF_RULES_DEFAULT), 0);
    if (!m)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {
        "input", "app/.env", "home/user/.ssh/id_rsa", "src/Dockerfile",
        "home/user/.npmrc", "root/.aws/credentials", "config/app.yaml",
        "terraform.tfstate",
    };
    static kept_list block, streamed;
    const char *chain[1];
    ksi_entry e = { "input", chain, 1, 0, 0, NULL, NULL };
    ksi_sink sink = { keep, ignore_diag, NULL };
    size_t step;

    if (size < 3)
        return 0;
    chain[0] = names[data[0] % (sizeof(names) / sizeof(names[0]))];
    step = 1 + ((size_t)data[1] | (size_t)data[2] << 8) % 8192;
    data += 3;
    size -= 3;

    block.count = streamed.count = 0;
    block.overflow = streamed.overflow = 0;
    sink.ctx = &block;
    ksi_match_block(m, &e, data, size, &sink);
    sink.ctx = &streamed;
    stream(m, &e, data, size, step < 16 ? 16 : step, &sink);
    compare(&block, &streamed);
    validators(data, size);
    return 0;
}
