/*
 * gen_corpus - writes the benchmark corpus: directory trees that look like
 * the layers of a container image, text-heavy with binaries mixed in.
 *
 *     gen_corpus [--seed N] [--layers K] MEGABYTES OUTDIR
 *
 * OUTDIR/layer0 ... OUTDIR/layer{K-1} receive about MEGABYTES * 10^6 bytes
 * of files in all, split evenly. By bytes, about 70% is text (source code,
 * configuration, logs, prose) and 30% binary (executable-like code with
 * string tables, and incompressible blobs standing in for compressed
 * files). File sizes spread from a few hundred bytes to a megabyte, and
 * each layer holds one file bigger than the engine reads whole, so both
 * block and stream scanning are measured. A fake credential is planted
 * about every megabyte of text, so the confirmation stage has work.
 *
 * One fixed-seed generator makes everything: a seed always gives the same
 * bytes, on any machine. The only line on stdout is the byte total.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_SEED 0x62656e6368ull
#define VOCAB 4096
#define MAX_FILE (1u << 20)
#define BIG_FILE (24u << 20)    /* above the engine's 8 MiB block size */
#define PLANT_EVERY (1u << 20)

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: fast, and the same sequence everywhere. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Skewed pick: small indices are far more common, as words are in text. */
static unsigned skewed(unsigned n)
{
    uint64_t r = rnd() % n;

    return (unsigned)(r * (rnd() % n) / n);
}

static char *words[VOCAB];

static void make_vocab(void)
{
    static const char *const syl[] = {
        "ar", "be", "con", "de", "en", "fi", "ga", "hal", "in", "jo",
        "ka", "lo", "me", "no", "op", "per", "qu", "re", "st", "ti",
        "un", "ver", "wa", "x", "yo", "ze", "ion", "ing", "ed", "er",
        "al", "ic", "ty", "ment", "ble", "pro", "pre", "sys", "net", "get",
    };
    size_t ns = sizeof(syl) / sizeof(syl[0]);

    for (unsigned i = 0; i < VOCAB; i++) {
        char w[32] = "";
        unsigned parts = 1 + below(3) + (i > 256);

        for (unsigned k = 0; k < parts; k++)
            strcat(w, syl[below((unsigned)ns)]);
        words[i] = strdup(w);
        if (!words[i]) {
            perror("gen_corpus");
            exit(1);
        }
    }
}

/* A growable output buffer for one file. */
typedef struct out {
    char *p;
    size_t len;
    size_t cap;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->p = realloc(o->p, o->cap);
        if (!o->p) {
            perror("gen_corpus");
            exit(1);
        }
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void word(out *o)
{
    puts_(o, words[skewed(VOCAB)]);
}

static void number(out *o, unsigned max)
{
    char n[16];

    snprintf(n, sizeof(n), "%u", below(max));
    puts_(o, n);
}

static void random_chars(out *o, const char *alphabet, unsigned n)
{
    size_t k = strlen(alphabet);

    for (unsigned i = 0; i < n; i++)
        put(o, &alphabet[below((unsigned)k)], 1);
}

#define UPPER32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#define B62 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define B64 B62 "+/"
#define HEX "0123456789abcdef"

/* A line with a credential-shaped value, for the capture stage. */
static void plant(out *o)
{
    switch (below(5)) {
    case 0:
        puts_(o, "aws_access_key_id = AKIA");
        random_chars(o, UPPER32, 16);
        break;
    case 1:
        puts_(o, "export GITHUB_TOKEN=ghp_");
        random_chars(o, B62, 36);
        break;
    case 2:
        puts_(o, "password: \"");
        random_chars(o, B62, 18);
        puts_(o, "\"");
        break;
    case 3:
        puts_(o, "slack_webhook: https://hooks.slack.com/services/T");
        random_chars(o, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 8);
        puts_(o, "/B");
        random_chars(o, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 8);
        puts_(o, "/");
        random_chars(o, B62, 24);
        break;
    default:
        puts_(o, "-----BEGIN RSA PRIVATE KEY-----\n");
        for (int i = 0; i < 12; i++) {
            random_chars(o, B64, 64);
            puts_(o, "\n");
        }
        puts_(o, "-----END RSA PRIVATE KEY-----");
        break;
    }
    puts_(o, "\n");
}

static void code_line(out *o)
{
    static const char *const kw[] = {
        "if (", "return ", "for (", "def ", "const ", "import ", "while (",
        "static int ", "self.", "var ", "} else {", "#include <",
    };
    unsigned indent = below(4) * 4;

    for (unsigned i = 0; i < indent; i++)
        put(o, " ", 1);
    puts_(o, kw[below(sizeof(kw) / sizeof(kw[0]))]);
    for (unsigned n = 1 + below(6); n > 0; n--) {
        word(o);
        puts_(o, below(3) ? "_" : ".");
        word(o);
        puts_(o, below(2) ? "(" : " = ");
        if (below(3) == 0)
            number(o, 4096);
        puts_(o, below(2) ? ", " : ") ");
    }
    puts_(o, below(2) ? ";\n" : ":\n");
}

static void config_line(out *o)
{
    word(o);
    puts_(o, below(2) ? "." : "_");
    word(o);
    puts_(o, below(2) ? " = " : ": ");
    if (below(2))
        number(o, 100000);
    else
        word(o);
    puts_(o, "\n");
}

static void log_line(out *o)
{
    char ts[64];

    snprintf(ts, sizeof(ts), "2024-%02u-%02uT%02u:%02u:%02u.%03uZ ",
             1 + below(12), 1 + below(28), below(24), below(60), below(60),
             below(1000));
    puts_(o, ts);
    puts_(o, below(8) ? "INFO " : "WARN ");
    puts_(o, "10.");
    number(o, 256);
    puts_(o, ".");
    number(o, 256);
    puts_(o, ".");
    number(o, 256);
    puts_(o, " ");
    for (unsigned n = 3 + below(9); n > 0; n--) {
        word(o);
        puts_(o, " ");
    }
    puts_(o, "took ");
    number(o, 5000);
    puts_(o, "ms\n");
}

static void prose_line(out *o)
{
    for (unsigned n = 6 + below(10); n > 0; n--) {
        word(o);
        puts_(o, below(12) ? " " : ", ");
    }
    word(o);
    puts_(o, ".\n");
}

/* Text of one kind up to `size` bytes, with planted lines. */
static void text_file(out *o, size_t size, unsigned kind,
                      size_t *since_plant)
{
    while (o->len < size) {
        size_t before = o->len;

        if (*since_plant >= PLANT_EVERY) {
            plant(o);
            *since_plant = 0;
        }
        switch (kind) {
        case 0:
            code_line(o);
            break;
        case 1:
            config_line(o);
            break;
        case 2:
            log_line(o);
            break;
        default:
            prose_line(o);
            break;
        }
        *since_plant += o->len - before;
    }
    o->len = size;
}

/* Code-like bytes: a small opcode alphabet, zero runs, string tables. */
static void binary_file(out *o, size_t size)
{
    static const char magic[] = "\x7f" "ELF\x02\x01\x01";
    unsigned char op[64];

    for (unsigned i = 0; i < sizeof(op); i++)
        op[i] = (unsigned char)rnd();
    put(o, magic, sizeof(magic) - 1);
    while (o->len < size) {
        unsigned pick = below(16);

        if (pick == 0) {
            char z[64] = { 0 };

            put(o, z, 8 + below(56));
        } else if (pick == 1) {
            word(o);
            put(o, "", 1);
        } else {
            unsigned char b[8];

            for (unsigned i = 0; i < 8; i++)
                b[i] = below(4) ? op[skewed(sizeof(op))]
                                : (unsigned char)rnd();
            put(o, (const char *)b, sizeof(b));
        }
    }
    o->len = size;
}

static void blob_file(out *o, size_t size)
{
    while (o->len < size) {
        uint64_t r = rnd();

        put(o, (const char *)&r, sizeof(r));
    }
    o->len = size;
}

static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static size_t file_size(void)
{
    /* Log-uniform from 256 bytes to 1 MiB. */
    unsigned bits = 8 + below(13);
    size_t size = ((size_t)1 << bits) + below(1u << bits);

    return size > MAX_FILE ? MAX_FILE : size;
}

static const char *const dirs[] = {
    "usr/lib/python3/dist-packages", "usr/share/doc", "usr/bin",
    "etc/app", "var/log/app", "opt/service/lib", "usr/share/locale",
    "srv/www/static", "usr/include", "home/app/.config",
};
static const char *const text_ext[] = { ".py", ".yaml", ".log", ".md" };

/* One file of the layer; returns its size. */
static size_t write_one(const char *root, unsigned n, size_t size,
                        size_t *since_plant)
{
    char path[4096];
    unsigned roll = below(10);
    unsigned kind = below(4);
    const char *ext = roll < 7 ? text_ext[kind] : roll < 9 ? ".so" : ".gz";
    out o = { NULL, 0, 0 };
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s/%s%u/%s_%u%s", root,
             dirs[below(sizeof(dirs) / sizeof(dirs[0]))], words[below(64)],
             below(16), words[skewed(VOCAB)], n, ext);
    if (make_dirs(path) != 0) {
        perror(path);
        exit(1);
    }
    if (roll < 7)
        text_file(&o, size, kind, since_plant);
    else if (roll < 9)
        binary_file(&o, size);
    else
        blob_file(&o, size);
    f = fopen(path, "wb");
    if (!f || fwrite(o.p, 1, o.len, f) != o.len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    free(o.p);
    return size;
}

static uint64_t write_layer(const char *outdir, unsigned index,
                            uint64_t bytes)
{
    char root[4096];
    uint64_t done = 0;
    size_t since_plant = 0;
    unsigned n = 0;

    snprintf(root, sizeof(root), "%s/layer%u/", outdir, index);
    /* The big file comes first so even a tiny corpus streams once. */
    if (bytes > 4ull * BIG_FILE)
        done += write_one(root, n++, BIG_FILE, &since_plant);
    while (done < bytes) {
        size_t size = file_size();

        if (size > bytes - done)
            size = (size_t)(bytes - done);
        done += write_one(root, n++, size, &since_plant);
    }
    return done;
}

int main(int argc, char **argv)
{
    unsigned layers = 4;
    uint64_t seed = DEFAULT_SEED, total = 0, megabytes;
    int i = 1;

    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--layers") == 0)
            layers = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else
            break;
    }
    if (argc - i != 2 || layers == 0 || layers > 64 ||
        (megabytes = strtoull(argv[i], NULL, 10)) == 0) {
        fprintf(stderr, "usage: gen_corpus [--seed N] [--layers K] "
                        "MEGABYTES OUTDIR\n");
        return 2;
    }
    rng_state = seed ? seed : DEFAULT_SEED;
    make_vocab();
    for (unsigned l = 0; l < layers; l++)
        total += write_layer(argv[i + 1], l, megabytes * 1000000 / layers);
    printf("%llu\n", (unsigned long long)total);
    for (unsigned w = 0; w < VOCAB; w++)
        free(words[w]);
    return 0;
}
