/*
 * fuzz_common.c - rule sets, counting callbacks, the scratch directory and
 * bundles for the fuzz targets (see fuzz_common.h).
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Records read from one bundle, and the longest path taken. */
#define MAX_RECORDS 64
#define MAX_PATH_LEN 1024
#define MAX_PARTS 32

static const char small_rules[] =
    "rules:\n"
    "  - id: fuzz.token\n"
    "    name: Fuzz token\n"
    "    pattern: '\\b(tok_[0-9a-f]{16})\\b'\n"
    "  - id: fuzz.aws-key-id\n"
    "    name: AWS access key id\n"
    "    pattern: '\\b((?:AKIA|ASIA)[A-Z2-7]{16})\\b'\n"
    "    validate: aws-key-id\n"
    "    confidence: high\n"
    "  - id: fuzz.env-password\n"
    "    name: Password in an env file\n"
    "    path: '\\.env$'\n"
    "    pattern: 'PASSWORD=([^\\s]{8,64})'\n"
    "    entropy: 2.5\n"
    "    generic: true\n"
    "  - id: fuzz.ssh-key-file\n"
    "    name: SSH private key file\n"
    "    path: '(?:^|/)id_rsa$'\n";

static ks_ruleset *build_rules(ksf_rules_kind kind)
{
    ks_ruleset *rs = NULL;
    ks_status st = ks_ruleset_new(&rs);

    if (st == KS_OK)
        st = kind == KSF_RULES_DEFAULT
                 ? ks_ruleset_add_defaults(rs)
                 : ks_ruleset_add_yaml(rs, "fuzz-rules.yaml", small_rules,
                                       sizeof(small_rules) - 1);
    if (st == KS_OK)
        st = ks_ruleset_compile(rs);
    if (st != KS_OK) {
        fprintf(stderr, "fuzz: cannot build rules: %s (%s)\n",
                ks_status_str(st), rs ? ks_ruleset_error(rs) : "");
        abort();
    }
    return rs;
}

/* Built once and kept for the life of the process, as a scanner would. */
const ks_ruleset *ksf_rules(ksf_rules_kind kind)
{
    static ks_ruleset *sets[2];

    if (!sets[kind])
        sets[kind] = build_rules(kind);
    return sets[kind];
}

static unsigned long sum_str(const char *s)
{
    unsigned long sum = 0;

    while (s && *s)
        sum += (unsigned char)*s++;
    return sum;
}

/* KSF_VERBOSE=1 in the environment: each finding and diagnostic on
 * standard error, for checking what a seed or a crashing input reaches. */
static int verbose(void)
{
    static int v = -1;

    if (v < 0)
        v = getenv("KSF_VERBOSE") != NULL;
    return v;
}

static int count_finding(const ks_finding *f, void *user)
{
    ksf_counts *c = user;
    const ks_location *l = &f->location;

    if (verbose())
        fprintf(stderr, "finding: %s in %s (%s)\n", f->rule->id, l->path,
                l->image ? l->image : "-");
    c->findings++;
    for (size_t i = 0; i < f->secret_len; i++)
        c->checksum += (unsigned char)f->secret[i];
    for (size_t i = 0; i < l->chain_len; i++)
        c->checksum += sum_str(l->chain[i]);
    c->checksum += sum_str(f->rule->id) + sum_str(f->fingerprint) +
                   sum_str(l->input) + sum_str(l->path) + sum_str(l->image) +
                   sum_str(l->layer_digest) + sum_str(l->config_field) +
                   l->line + l->column + l->offset;
    return 0;
}

static int count_diag(const ks_diag *d, void *user)
{
    ksf_counts *c = user;

    if (verbose())
        fprintf(stderr, "diag: %s: %s\n", d->where, d->message);
    c->diags++;
    c->checksum += sum_str(d->input) + sum_str(d->where) +
                   sum_str(d->message);
    return 0;
}

static int count_image(const ks_image_info *img, void *user)
{
    ksf_counts *c = user;

    c->images++;
    c->checksum += sum_str(img->reference) + sum_str(img->platform);
    for (size_t i = 0; i < img->n_layers; i++)
        c->checksum += sum_str(img->layers[i].digest);
    return 0;
}

void ksf_options(ks_scan_options *opts, ksf_counts *counts)
{
    ks_scan_options_init(opts);
    opts->threads = 1;
    opts->on_finding = count_finding;
    opts->on_diag = count_diag;
    opts->on_image = count_image;
    opts->user = counts;
}

void ksf_scan_input(const char *input, const char *platform, int list_only)
{
    static ksf_counts counts;
    const char *inputs[1] = { input };
    ks_scan_options opts;
    ks_scan *scan = NULL;

    ksf_options(&opts, &counts);
    opts.platform = platform;
    if (ks_scan_new(ksf_rules(KSF_RULES_SMALL), &opts, &scan) != KS_OK)
        abort();
    if (list_only)
        ks_scan_list_images(scan, inputs, 1, opts.on_image);
    else
        ks_scan_run(scan, inputs, 1);
    ks_scan_free(scan);
}

/* ---- scratch directory -------------------------------------------------- */

static char scratch[512];

static int remove_one(const char *path, const struct stat *sb, int flag,
                      struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void ksf_remove(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
    if (scratch[0])
        ksf_remove(scratch);
}

/* Memory-backed when possible: on a disk file system, making and
 * removing each input's tree costs ten times the scan. */
static const char *scratch_base(void)
{
    const char *tmp = getenv("TMPDIR");

    if (tmp && *tmp)
        return tmp;
    return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

const char *ksf_scratch(void)
{
    if (scratch[0])
        return scratch;
    snprintf(scratch, sizeof(scratch), "%s/keysift-fuzz-XXXXXX",
             scratch_base());
    if (!mkdtemp(scratch)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

/* ---- bundles ------------------------------------------------------------ */

typedef enum record_kind { REC_FILE, REC_SYMLINK, REC_HARDLINK } record_kind;

typedef struct record {
    record_kind kind;
    char path[MAX_PATH_LEN];
    char target[MAX_PATH_LEN];
    const uint8_t *data;
    size_t len;
} record;

static const uint8_t *find(const uint8_t *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle));
}

/* Copies [p, p+n) as a C string; fails on NUL bytes or overlong text. */
static int copy_text(char *out, const uint8_t *p, size_t n)
{
    if (n >= MAX_PATH_LEN || memchr(p, '\0', n))
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int parse_header(record *r, const uint8_t *h, size_t n)
{
    static const struct {
        const char *arrow;
        record_kind kind;
    } arrows[] = { { " -> ", REC_SYMLINK }, { " => ", REC_HARDLINK } };

    r->kind = REC_FILE;
    r->target[0] = '\0';
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *a = find(h, n, arrows[i].arrow);

        if (a) {
            size_t at = (size_t)(a - h);

            r->kind = arrows[i].kind;
            return copy_text(r->path, h, at) ||
                   copy_text(r->target, a + 4, n - at - 4);
        }
    }
    return copy_text(r->path, h, n);
}

/*
 * The next record of a bundle, advancing *p and *n past it. Returns 1 with
 * *r filled, 0 at the end; records with unusable headers are skipped.
 */
static int next_record(const uint8_t **p, size_t *n, record *r)
{
    while (*n > 0) {
        const uint8_t *sep = find(*p, *n, "\n%%\n");
        size_t len = sep ? (size_t)(sep - *p) : *n;
        const uint8_t *nl = memchr(*p, '\n', len);
        size_t hlen = nl ? (size_t)(nl - *p) : len;
        int ok = parse_header(r, *p, hlen) == 0 && r->path[0];

        r->data = nl ? nl + 1 : *p + len;
        r->len = nl ? len - hlen - 1 : 0;
        *p += sep ? len + 4 : len;
        *n -= sep ? len + 4 : len;
        if (ok)
            return 1;
    }
    return 0;
}

/* Splits a path into its parts, dropping "" and "."; refuses "..". */
static int split_path(char *path, char *parts[MAX_PARTS])
{
    int n = 0;

    if (path[0] == '/')
        return -1;
    for (char *save = NULL, *t = strtok_r(path, "/", &save); t;
         t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0 || n == MAX_PARTS)
            return -1;
        parts[n++] = t;
    }
    return n;
}

/* A relative target without "..": whatever it names is inside the tree. */
static int safe_target(const char *target)
{
    char copy[MAX_PATH_LEN];
    char *parts[MAX_PARTS];

    snprintf(copy, sizeof(copy), "%s", target);
    return target[0] && split_path(copy, parts) > 0;
}

/* Opens (making it if missing) each directory of parts[0..n) below
 * `root`, never through a link. Returns a descriptor or -1. */
static int open_parent(int root, char *const *parts, int n)
{
    int fd = dup(root);

    for (int i = 0; fd >= 0 && i < n; i++) {
        int next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY |
                                            O_NOFOLLOW | O_CLOEXEC);

        if (next < 0 && errno == ENOENT &&
            mkdirat(fd, parts[i], 0755) == 0)
            next = openat(fd, parts[i], O_RDONLY | O_DIRECTORY |
                                            O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int put_record(int root, record *r)
{
    char *parts[MAX_PARTS];
    int n = split_path(r->path, parts);
    int dir, fd, rc = -1;

    if (n <= 0)
        return -1;
    if (r->kind != REC_FILE && !safe_target(r->target))
        return -1;
    dir = open_parent(root, parts, n - 1);
    if (dir < 0)
        return -1;
    if (r->kind == REC_FILE) {
        fd = openat(dir, parts[n - 1], O_WRONLY | O_CREAT | O_TRUNC |
                                           O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            rc = write_all(fd, r->data, r->len);
            close(fd);
        }
    } else {
        rc = symlinkat(r->target, dir, parts[n - 1]);
    }
    close(dir);
    return rc;
}

size_t ksf_bundle_to_dir(const char *dir, const uint8_t *data, size_t size)
{
    static record r;
    size_t written = 0;
    int root;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return 0;
    root = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return 0;
    for (size_t i = 0; i < MAX_RECORDS && next_record(&data, &size, &r);
         i++)
        written += put_record(root, &r) == 0;
    close(root);
    return written;
}

static int put_entry(struct archive *a, struct archive_entry *e,
                     const record *r)
{
    archive_entry_clear(e);
    archive_entry_set_pathname(e, r->path);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (r->kind == REC_SYMLINK) {
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, r->target);
    } else if (r->kind == REC_HARDLINK) {
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, r->target);
    } else {
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t)r->len);
    }
    if (archive_write_header(a, e) < ARCHIVE_WARN)
        return -1;
    if (r->kind == REC_FILE && r->len &&
        archive_write_data(a, r->data, r->len) != (la_ssize_t)r->len)
        return -1;
    return 0;
}

long ksf_bundle_to_tar(const char *file, const uint8_t *data, size_t size,
                       int gzip)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    static record r;
    long written = -1;

    if (!a || !e)
        goto done;
    archive_write_set_format_pax_restricted(a);
    if (gzip)
        archive_write_add_filter_gzip(a);
    if (archive_write_open_filename(a, file) != ARCHIVE_OK)
        goto done;
    written = 0;
    for (size_t i = 0; i < MAX_RECORDS && next_record(&data, &size, &r);
         i++)
        written += put_entry(a, e, &r) == 0;
    if (archive_write_close(a) != ARCHIVE_OK)
        written = -1;

done:
    archive_entry_free(e);
    archive_write_free(a);
    return written;
}
