/*
 * walk.c - walks a directory input and queues its regular files.
 *
 * Symbolic links are never followed inside a tree, so a link cannot lead
 * the scan out of the tree or round in a loop; the file a link points to is
 * scanned where it really lives if that is inside the tree. FIFOs, sockets
 * and devices are skipped: reading them could block forever or never end.
 * Entries are visited in name order so that runs are reproducible.
 */
#include "scan.h"

#include "alloc.h"
#include "input_limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads and sorts a directory's names. Returns the count, or -1. */
static long list_dir(DIR *d, char ***out)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;

    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (ksi_grow(&names, &cap, n + 1, sizeof(*names)))
            goto fail;
        names[n] = ksi_strdup(de->d_name);
        if (!names[n])
            goto fail;
        n++;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), by_name);
    *out = names;
    return (long)n;

fail:
    for (size_t i = 0; i < n; i++)
        ksi_free(names[i]);
    ksi_free(names);
    return -1;
}

static void free_names(char **names, long n)
{
    for (long i = 0; i < n; i++)
        ksi_free(names[i]);
    ksi_free(names);
}

/* Joins a directory path and a name without doubling the slash. */
static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    int slash = dl > 0 && dir[dl - 1] != '/';
    char *p = ksi_malloc(dl + slash + nl + 1);

    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}

static void walk_dir(ks_scan *s, const char *input, int dfd,
                     const char *path, unsigned depth);

/*
 * The kernel's views of itself (/proc, /sys and the like) hold no stored
 * files, and some of their files never end (/proc/kcore is the size of the
 * address space), so a walk of a whole root filesystem, or of a process's
 * root, steps over them. Returns their kind, or NULL for a real one.
 */
static const char *pseudo_fs(int dfd)
{
#ifdef __linux__
    static const struct {
        unsigned long magic;
        const char *name;
    } kinds[] = {
        { 0x9fa0, "proc" },         { 0x62656572, "sysfs" },
        { 0x64626720, "debugfs" },  { 0x74726163, "tracefs" },
        { 0x73636673, "securityfs" }, { 0x27e0eb, "cgroup" },
        { 0x63677270, "cgroup2" },  { 0xcafe4a11, "bpf" },
        { 0x62656570, "configfs" }, { 0x6165676c, "pstore" },
        { 0x1cd1, "devpts" },       { 0x65735543, "fusectl" },
        { 0xde5e81e4, "efivarfs" }, { 0x42494e4d, "binfmt_misc" },
    };
    struct statfs sf;

    if (fstatfs(dfd, &sf) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if ((unsigned long)sf.f_type == kinds[i].magic)
            return kinds[i].name;
    }
#else
    (void)dfd;
#endif
    return NULL;
}

static void visit(ks_scan *s, const char *input, int dfd, const char *dir,
                  const char *name, unsigned depth)
{
    struct stat sb;
    char *path = join_path(dir, name);
    const char *chain[1] = { path };
    ksi_job *job;
    int sub;

    if (!path) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, input, NULL, 0,
                   "out of memory walking %s", dir);
        return;
    }
    if (strlen(path) >= KSI_MAX_PATH) {
        ksi_report(s, KS_DIAG_WARNING, KS_WARN_LIMIT, input, chain, 1,
                   "path longer than %u bytes; not scanned", KSI_MAX_PATH);
    } else if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        ksi_report(s, KS_DIAG_WARNING, KS_ERR_IO, input, chain, 1,
                   "cannot stat: %s", strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
        sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                     O_CLOEXEC);
        if (sub < 0)
            ksi_report(s, KS_DIAG_WARNING, KS_ERR_IO, input, chain, 1,
                       "cannot open directory: %s", strerror(errno));
        else
            walk_dir(s, input, sub, path, depth + 1);
    } else if (S_ISREG(sb.st_mode)) {
        job = ksi_job_new(KSI_JOB_FILE, input, chain, 1, NULL);
        if (job)
            ksi_queue_push(s, job);
        else
            ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, input, chain, 1,
                       "out of memory");
    } else {
        atomic_fetch_add(&s->skipped, 1);
    }
    ksi_free(path);
}

/* Walks the directory open on `dfd` (which it closes). */
static void walk_dir(ks_scan *s, const char *input, int dfd,
                     const char *path, unsigned depth)
{
    const char *chain[1] = { path };
    DIR *d;
    char **names = NULL;
    long n;

    if (depth > KSI_MAX_DIR_DEPTH) {
        ksi_report(s, KS_DIAG_WARNING, KS_WARN_LIMIT, input, chain, 1,
                   "directories nested deeper than %u; not scanned",
                   KSI_MAX_DIR_DEPTH);
        close(dfd);
        return;
    }
    if (pseudo_fs(dfd)) {
        atomic_fetch_add(&s->skipped, 1);
        ksi_report(s, KS_DIAG_WARNING, KS_WARN_SKIPPED, input, chain, 1,
                   "a kernel pseudo-filesystem (%s), not stored files; "
                   "not scanned", pseudo_fs(dfd));
        close(dfd);
        return;
    }
    d = fdopendir(dfd);
    if (!d) {
        ksi_report(s, KS_DIAG_WARNING, KS_ERR_IO, input, chain, 1,
                   "cannot read directory: %s", strerror(errno));
        close(dfd);
        return;
    }
    n = list_dir(d, &names);
    if (n < 0)
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOMEM, input, chain, 1,
                   "out of memory listing directory");
    for (long i = 0; i < n && !ksi_stopped(s); i++)
        visit(s, input, dirfd(d), path, names[i], depth);
    free_names(names, n < 0 ? 0 : n);
    closedir(d);
}

void ksi_walk(ks_scan *s, const char *input, const char *path)
{
    const char *chain[1] = { path };
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd < 0) {
        ksi_report(s, KS_DIAG_ERROR, errno == ENOENT ? KS_ERR_NOT_FOUND
                                                     : KS_ERR_IO,
                   input, chain, 1, "cannot open directory: %s",
                   strerror(errno));
        return;
    }
    walk_dir(s, input, dfd, path, 0);
}
