/*
 * hs_limit - the matcher's ceiling: how fast the compiled default rule
 * database alone runs over bytes already in memory.
 *
 *     hs_limit [--runs N] [--threads T] FILE
 *
 * Reads FILE whole into memory, compiles the built-in rules (through the
 * cache in $KEYSIFT_CACHE_DIR when set), then runs only the candidate
 * stage (ks_ruleset_count_matches) over the bytes, in pieces of the size a
 * scan reads whole (8 MiB), split evenly over T threads. Prints one line:
 *
 *     threads=T mbps=MEDIAN seconds=S1,S2,... matches=M
 *
 * MB/s are 10^6 bytes of FILE per second, the median of N runs.
 */
#include "keysift.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIECE (8u << 20)

typedef struct part {
    const ks_ruleset *rules;
    const unsigned char *data;
    size_t len;
    uint64_t matches;
    int failed;
} part;

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *run_part(void *arg)
{
    part *p = arg;

    p->matches = 0;
    for (size_t off = 0; off < p->len; off += PIECE) {
        size_t n = p->len - off < PIECE ? p->len - off : PIECE;
        uint64_t m = 0;

        if (ks_ruleset_count_matches(p->rules, p->data + off, n, &m) !=
            KS_OK) {
            p->failed = 1;
            break;
        }
        p->matches += m;
    }
    return NULL;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)size)) &&
        fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)size : 0;
    return buf;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* One timed pass over the whole buffer with `threads` threads. */
static int one_run(const ks_ruleset *rules, const unsigned char *data,
                   size_t len, unsigned threads, double *secs,
                   uint64_t *matches)
{
    pthread_t tid[64];
    part parts[64];
    size_t share = (len / threads + PIECE - 1) / PIECE * PIECE;
    double t0 = now();
    int failed = 0;

    for (unsigned i = 0; i < threads; i++) {
        size_t from = share * i < len ? share * i : len;
        size_t to = from + share < len ? from + share : len;

        parts[i] = (part){ rules, data + from, to - from, 0, 0 };
        if (pthread_create(&tid[i], NULL, run_part, &parts[i]))
            return -1;
    }
    *matches = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        failed |= parts[i].failed;
        *matches += parts[i].matches;
    }
    *secs = now() - t0;
    return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned runs = 3, threads = 1;
    const char *cache = getenv("KEYSIFT_CACHE_DIR");
    ks_ruleset *rules = NULL;
    unsigned char *data;
    double secs[32];
    uint64_t matches = 0;
    size_t len;
    int i = 1;

    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "--runs") == 0)
            runs = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = (unsigned)atoi(argv[i + 1]);
    }
    if (i + 1 != argc || runs < 1 || runs > 32 || threads < 1 ||
        threads > 64) {
        fprintf(stderr, "usage: hs_limit [--runs N] [--threads T] FILE\n");
        return 2;
    }
    data = read_all(argv[i], &len);
    if (!data) {
        fprintf(stderr, "hs_limit: cannot read %s\n", argv[i]);
        return 1;
    }
    if (ks_ruleset_new(&rules) != KS_OK ||
        (cache && cache[0] && ks_ruleset_set_cache_dir(rules, cache)) ||
        ks_ruleset_add_defaults(rules) != KS_OK ||
        ks_ruleset_compile(rules) != KS_OK) {
        fprintf(stderr, "hs_limit: %s\n",
                rules ? ks_ruleset_error(rules) : "out of memory");
        return 1;
    }
    for (unsigned r = 0; r < runs; r++) {
        if (one_run(rules, data, len, threads, &secs[r], &matches)) {
            fprintf(stderr, "hs_limit: the matcher failed\n");
            return 1;
        }
    }
    printf("threads=%u mbps=", threads);
    {
        double sorted[32];

        memcpy(sorted, secs, runs * sizeof(*secs));
        qsort(sorted, runs, sizeof(*sorted), by_value);
        printf("%.1f seconds=", (double)len / sorted[runs / 2] / 1e6);
    }
    for (unsigned r = 0; r < runs; r++)
        printf("%s%.3f", r ? "," : "", secs[r]);
    printf(" matches=%llu\n", (unsigned long long)matches);
    ks_ruleset_free(rules);
    free(data);
    return 0;
}
