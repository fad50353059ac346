/*
 * diff_input.c - scanning only what a change adds: a unified diff read
 * from a file or standard input (`scan --diff FILE`), or the changes
 * staged for the next commit (`scan --staged`, which reads
 * `git diff --cached`).
 *
 * Each file's added lines are laid out at their line numbers in the new
 * file, with every other line left empty, and that text is scanned as one
 * entry named by the file's path. So a finding's line and column are those
 * of the new file, a keysift:allow mark on the added line works, and a
 * secret that was already there before the change (on an unchanged line)
 * is not reported again. The byte offset is within that laid-out text,
 * not the file.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* A file of the diff being read: its new path and its added lines. */
typedef struct diff_file {
    char *path;             /* NULL: deleted, or no "+++" line yet */
    char *text;
    size_t len;
    size_t cap;
    uint64_t lines;         /* newlines in text */
    int had_a_prefix;       /* the "---" line began with "a/" */
} diff_file;

typedef struct diff_reader {
    ks_scan *scan;
    report *rep;
    const char *source;     /* the diff as named in messages */
    int level;              /* display level for warnings */
    diff_file file;
    int in_hunk;
    long old_left;
    long new_left;
    uint64_t new_line;      /* line number of the next new-side line */
    int failed;
} diff_reader;

static int append(diff_file *f, const char *s, size_t n)
{
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        char *grown;

        while (cap < f->len + n)
            cap *= 2;
        grown = realloc(f->text, cap);
        if (!grown)
            return -1;
        f->text = grown;
        f->cap = cap;
    }
    memcpy(f->text + f->len, s, n);
    f->len += n;
    return 0;
}

/* Puts an added line's content at line `at` of the laid-out text. */
static int place_line(diff_file *f, uint64_t at, const char *s, size_t n)
{
    while (f->lines + 1 < at) {
        if (append(f, "\n", 1))
            return -1;
        f->lines++;
    }
    if (n && s[n - 1] == '\n')
        n--;
    if (append(f, s, n) || append(f, "\n", 1))
        return -1;
    f->lines++;
    return 0;
}

static void warn(diff_reader *rd, const char *where, const char *message)
{
    ks_diag d = { KS_DIAG_WARNING, KS_WARN_SKIPPED, rd->source, where,
                  message };

    report_add_diag(rd->rep, &d);
    rd->rep->cli_warnings++;
    if (rd->level >= LEVEL_NORMAL)
        put_diag(stderr, &d);
}

/* Scans what was gathered for the current file and starts afresh. */
static void flush_file(diff_reader *rd)
{
    diff_file *f = &rd->file;

    if (f->path && f->len) {
        ks_status st = ks_scan_buffer(rd->scan, f->path, f->text, f->len);

        if (st != KS_OK && st != KS_STOPPED) {
            cli_error("%s: scan failed: %s", f->path, ks_status_str(st));
            rd->failed = 1;
        }
    }
    free(f->path);
    free(f->text);
    memset(f, 0, sizeof(*f));
    rd->in_hunk = 0;
}

/* Undoes git's C-style quoting of a path ("a\tb", "\303\251"). */
static char *unquote(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0;

    if (!out)
        return NULL;
    for (size_t i = 1; i < n && s[i] != '"'; i++) {
        char c = s[i];

        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            if (c >= '0' && c <= '7') {
                int v = 0;

                for (int d = 0; d < 3 && i < n && s[i] >= '0' && s[i] <= '7';
                     d++)
                    v = v * 8 + (s[i++] - '0');
                i--;
                c = (char)v;
            } else if (c == 't') {
                c = '\t';
            } else if (c == 'n') {
                c = '\n';
            }
        }
        out[k++] = c;
    }
    out[k] = '\0';
    return out;
}

/* The path of a "--- " or "+++ " line: quoted, or up to a tab. */
static char *header_path(const char *line)
{
    const char *p = line + 4;
    size_t n = strcspn(p, "\n");
    char *path;

    if (n && p[n - 1] == '\r')
        n--;
    if (p[0] == '"')
        return unquote(p, n);
    n = strcspn(p, "\t\n");
    if (n && p[n - 1] == '\r')
        n--;
    path = malloc(n + 1);
    if (path) {
        memcpy(path, p, n);
        path[n] = '\0';
    }
    return path;
}

static int new_path(diff_reader *rd, const char *line)
{
    diff_file *f = &rd->file;
    char *path = header_path(line);

    if (!path)
        return -1;
    free(f->path);
    f->path = NULL;
    if (strcmp(path, "/dev/null") == 0) {
        free(path);     /* a deleted file adds nothing */
        return 0;
    }
    if (f->had_a_prefix && strncmp(path, "b/", 2) == 0)
        memmove(path, path + 2, strlen(path) - 1);
    f->path = path;
    return 0;
}

/* "@@ -A[,B] +C[,D] @@": counts default to 1. */
static int hunk_header(diff_reader *rd, const char *line)
{
    unsigned long b = 1, c, d = 1;
    const char *p = line + 3;
    char *end;

    if (*p++ != '-')
        return -1;
    (void)strtoul(p, &end, 10);     /* the old side's start: not needed */
    if (*end == ',')
        b = strtoul(end + 1, &end, 10);
    if (end[0] != ' ' || end[1] != '+')
        return -1;
    c = strtoul(end + 2, &end, 10);
    if (*end == ',')
        d = strtoul(end + 1, &end, 10);
    if (*end != ' ')
        return -1;
    rd->old_left = (long)b;
    rd->new_left = (long)d;
    rd->new_line = c ? c : 1;
    rd->in_hunk = rd->old_left > 0 || rd->new_left > 0;
    return 0;
}

/* A line inside a hunk. Returns 1 when it was not one (the hunk ended). */
static int hunk_line(diff_reader *rd, const char *line, size_t n)
{
    switch (line[0]) {
    case '+':
        if (rd->file.path &&
            place_line(&rd->file, rd->new_line, line + 1, n - 1)) {
            rd->failed = 1;
            cli_error("out of memory reading %s", rd->source);
        }
        rd->new_line++;
        rd->new_left--;
        break;
    case ' ':
        rd->new_line++;
        rd->new_left--;
        rd->old_left--;
        break;
    case '-':
        rd->old_left--;
        break;
    case '\\':      /* "\ No newline at end of file" */
        return 0;
    default:
        rd->in_hunk = 0;
        return 1;
    }
    if (rd->old_left <= 0 && rd->new_left <= 0)
        rd->in_hunk = 0;
    return 0;
}

/* "Binary files a/x and b/x differ": named by the new side. */
static void binary_change(diff_reader *rd, const char *line)
{
    const char *name = strstr(line, " and ");
    size_t n;
    char *path;

    name = name ? name + 5 : "";
    if (strncmp(name, "b/", 2) == 0)
        name += 2;
    n = strcspn(name, "\n");
    if (n >= 7 && strncmp(name + n - 7, " differ", 7) == 0)
        n -= 7;
    path = malloc(n + 1);
    if (path) {
        memcpy(path, name, n);
        path[n] = '\0';
    }
    warn(rd, path && *path ? path : rd->source,
         "binary change not scanned (scan the file itself instead)");
    free(path);
}

static void header_line(diff_reader *rd, const char *line)
{
    if (strncmp(line, "diff ", 5) == 0) {
        flush_file(rd);
    } else if (strncmp(line, "--- ", 4) == 0) {
        flush_file(rd);
        rd->file.had_a_prefix = strncmp(line + 4, "a/", 2) == 0 ||
                                strncmp(line + 4, "/dev/null", 9) == 0;
    } else if (strncmp(line, "+++ ", 4) == 0) {
        if (new_path(rd, line)) {
            rd->failed = 1;
            cli_error("out of memory reading %s", rd->source);
        }
    } else if (strncmp(line, "@@ ", 3) == 0) {
        if (hunk_header(rd, line)) {
            warn(rd, rd->source, "a hunk header could not be read; the "
                 "lines after it up to the next file are not scanned");
        }
    } else if (strncmp(line, "Binary files ", 13) == 0) {
        binary_change(rd, line);
    }
}

static int read_diff(diff_reader *rd, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, in)) > 0 && !rd->failed) {
        if (rd->in_hunk && hunk_line(rd, line, (size_t)n) == 0)
            continue;
        header_line(rd, line);
    }
    if (ferror(in)) {
        cli_error("%s: cannot read the diff: %s", rd->source,
                  strerror(errno));
        rd->failed = 1;
    }
    free(line);
    flush_file(rd);
    return rd->failed ? -1 : 0;
}

int diff_scan(ks_scan *scan, report *rep, const char *source, int level)
{
    diff_reader rd;
    FILE *in = strcmp(source, "-") == 0 ? stdin : fopen(source, "r");
    int rc;

    memset(&rd, 0, sizeof(rd));
    rd.scan = scan;
    rd.rep = rep;
    rd.source = source;
    rd.level = level;
    if (!in) {
        cli_error("%s: cannot open the diff: %s", source, strerror(errno));
        return -1;
    }
    rc = read_diff(&rd, in);
    if (in != stdin)
        fclose(in);
    return rc;
}

/* The staged changes, as `git diff --cached` shows them. */
#define GIT_STAGED                                                       \
    "git -c core.quotepath=off diff --cached --no-color --no-ext-diff " \
    "--no-textconv --unified=0 --src-prefix=a/ --dst-prefix=b/"

int staged_scan(ks_scan *scan, report *rep, int level)
{
    diff_reader rd;
    FILE *in;
    int rc, status;

    memset(&rd, 0, sizeof(rd));
    rd.scan = scan;
    rd.rep = rep;
    rd.source = "git diff --cached";
    rd.level = level;
    fflush(NULL);
    if (system("git rev-parse --is-inside-work-tree >/dev/null 2>&1") != 0) {
        cli_error("--staged reads 'git diff --cached', but this is not "
                  "inside a git work tree (or git is not installed); use "
                  "--diff FILE for other diffs");
        return -1;
    }
    in = popen(GIT_STAGED, "r");
    if (!in) {
        cli_error("cannot run git: %s", strerror(errno));
        return -1;
    }
    rc = read_diff(&rd, in);
    status = pclose(in);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        cli_error("'git diff --cached' failed (exit %d); see git's message "
                  "above",
                  status != -1 && WIFEXITED(status) ? WEXITSTATUS(status)
                                                    : -1);
        rc = -1;
    }
    return rc;
}
