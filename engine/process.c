/*
 * process.c - scanning a running process, named "pid:PID".
 *
 * Two things of a process can hold secrets that its image never had: the
 * environment it was started with (orchestrators inject credentials there)
 * and the files it sees, including volumes and secrets mounted into a
 * container at run time. The environment is read from /proc/PID/environ,
 * each variable scanned as an entry of its own; the files are walked from
 * /proc/PID/root, the process's own view of its root directory. The walk
 * never follows a symbolic link, so an absolute link inside a container
 * cannot lead the scan into the host's files.
 */
#include "scan.h"

#include "alloc.h"
#include "input_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "pid:1234" -> 1234; 0 for a malformed id. */
static long parse_pid(const char *text)
{
    char *end;
    long pid;

    if (text[0] < '0' || text[0] > '9')
        return 0;
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno || *end || pid <= 0 || pid > INT_MAX)
        return 0;
    return pid;
}

/* Reads the whole environment block; -1 with errno set on failure. */
static long read_environ(const char *path, unsigned char **out)
{
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t n;

        if (len == cap && ksi_grow(&buf, &cap, len + 4096, 1)) {
            errno = ENOMEM;
            break;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0 || len + (size_t)n > KSI_MAX_ENVIRON) {
            len += (size_t)n;
            close(fd);
            *out = buf;
            return (long)(len > KSI_MAX_ENVIRON ? KSI_MAX_ENVIRON : len);
        }
        len += (size_t)n;
    }
    close(fd);
    ksi_free(buf);
    return -1;
}

/* Scans each NAME=value string of the block as an entry named NAME. */
static void scan_environ(ks_scan *s, const char *input, long pid)
{
    char path[64], name[256];
    const char *chain[2] = { path, name };
    ksi_entry e = { input, chain, 2, 0, 0, NULL, NULL };
    unsigned char *env;
    long len;

    snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
    len = read_environ(path, &env);
    if (len < 0) {
        ksi_report(s, KS_DIAG_ERROR, errno == ENOENT ? KS_ERR_NOT_FOUND
                                                     : KS_ERR_IO,
                   input, chain, 1, "cannot read the environment: %s%s",
                   strerror(errno), errno == EACCES ? " (scan as root or "
                   "as the process's user)" : "");
        return;
    }
    for (long at = 0; at < len && !ksi_stopped(s);) {
        const unsigned char *var = env + at;
        const unsigned char *nul = memchr(var, '\0', (size_t)(len - at));
        size_t n = nul ? (size_t)(nul - var) : (size_t)(len - at);
        const unsigned char *eq = memchr(var, '=', n);
        size_t name_len = eq ? (size_t)(eq - var) : n;

        snprintf(name, sizeof(name), "%.*s", (int)(name_len < 255 ? name_len
                                                                   : 255),
                 (const char *)var);
        if (n > 0)
            ksi_scan_memory(&s->self, &e, var, n);
        at += (long)n + 1;
    }
    ksi_free(env);
}

int ksi_scan_process_input(ks_scan *s, const char *input)
{
    const char *chain[1] = { input };
    char root[64];
    struct stat sb;
    long pid;

    if (strncmp(input, "pid:", 4) != 0)
        return 0;
    pid = parse_pid(input + 4);
    if (!pid) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_ARG, input, chain, 1,
                   "not a process id; write pid:1234");
        return 1;
    }
    snprintf(root, sizeof(root), "/proc/%ld", pid);
    if (stat(root, &sb) != 0) {
        ksi_report(s, KS_DIAG_ERROR, KS_ERR_NOT_FOUND, input, chain, 1,
                   "no such process (%s: %s)", root, strerror(errno));
        return 1;
    }
    scan_environ(s, input, pid);
    snprintf(root, sizeof(root), "/proc/%ld/root", pid);
    ksi_walk(s, input, root);
    return 1;
}
