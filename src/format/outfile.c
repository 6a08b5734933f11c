/* Output files written atomically (include/matchbox/files.h). */
#include "matchbox/files.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

enum { MAX_LIVE = 16, NAME_CAP = 4096 };

/* The temporaries being written, for a signal handler to remove. A slot's
 * name is complete before its flag is set and unused after it is cleared. */
static struct {
    char name[NAME_CAP];
    atomic_int used;
} live[MAX_LIVE];
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

static void live_add(const char *tmp) {
    if (strlen(tmp) >= NAME_CAP) return; /* written, just not removed on a signal */
    pthread_mutex_lock(&live_lock);
    for (int i = 0; i < MAX_LIVE; i++) {
        if (atomic_load(&live[i].used)) continue;
        memcpy(live[i].name, tmp, strlen(tmp) + 1);
        atomic_store(&live[i].used, 1);
        break;
    }
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(const char *tmp) {
    pthread_mutex_lock(&live_lock);
    for (int i = 0; i < MAX_LIVE; i++)
        if (atomic_load(&live[i].used) && !strcmp(live[i].name, tmp)) {
            atomic_store(&live[i].used, 0);
            break;
        }
    pthread_mutex_unlock(&live_lock);
}

void mb_outfile_unlink_all(void) {
    for (int i = 0; i < MAX_LIVE; i++)
        if (atomic_load(&live[i].used)) unlink(live[i].name);
}

/* PATH's directory into DIR ("." for a bare name); returns its base name. */
static const char *split(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

static const char *kind_of(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* PATH, if it exists, must be a regular file (or a link to one). */
static mb_status check_target(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return MB_OK;
        return mb_errorf(MB_ERR_IO, "output %s: %s", path, strerror(errno));
    }
    if (S_ISREG(st.st_mode)) return MB_OK;
    return mb_errorf(MB_ERR_INVALID_ARG,
                     "output %s exists and is %s, not a regular file; refusing to replace it", path,
                     kind_of(st.st_mode));
}

mb_status mb_outfile_check(const char *path) {
    if (!path || !*path) return mb_errorf(MB_ERR_INVALID_ARG, "no output file named");
    const size_t n = strlen(path);
    if (n >= NAME_CAP - 32)
        return mb_errorf(MB_ERR_INVALID_ARG, "output %.64s...: the name is too long", path);
    if (path[n - 1] == '/')
        return mb_errorf(MB_ERR_INVALID_ARG, "output %s names a directory, not a file", path);
    mb_status s = check_target(path);
    if (s != MB_OK) return s;
    char dir[NAME_CAP];
    split(path, dir, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0)
        return mb_errorf(MB_ERR_IO, "output %s: its directory %s: %s", path, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return mb_errorf(MB_ERR_IO, "output %s: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return mb_errorf(MB_ERR_IO, "output %s: cannot write in its directory %s: %s", path, dir,
                         strerror(errno));
    return MB_OK;
}

int mb_outfile_create(const char *path, char **tmp) {
    const size_t cap = strlen(path) + 48;
    *tmp = malloc(cap);
    if (!*tmp) return mb_errorf(MB_ERR_NO_MEMORY, "%s: cannot allocate a temp name", path), -1;
    snprintf(*tmp, cap, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    const int fd = mkstemp(*tmp);
    if (fd < 0) {
        mb_errorf(MB_ERR_IO, "%s: cannot create temporary file %s: %s", path, *tmp,
                  strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return -1;
    }
    live_add(*tmp);
    /* mkstemp makes 0600; keep an existing file's mode, else the usual 0644. */
    struct stat old;
    (void)fchmod(fd, stat(path, &old) == 0 ? (old.st_mode & 07777) : 0644);
    return fd;
}

/* fsync the directory so the rename itself survives a crash; best effort,
 * since some file systems refuse to fsync directories. */
static void sync_dir_of(const char *path) {
    char dir[NAME_CAP];
    split(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

mb_status mb_outfile_commit(char *tmp, const char *path) {
    mb_status st = check_target(path);
    if (st == MB_OK && rename(tmp, path) != 0)
        st = mb_errorf(MB_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (st != MB_OK) {
        mb_outfile_discard(tmp);
        return st;
    }
    live_remove(tmp);
    free(tmp);
    sync_dir_of(path);
    return MB_OK;
}

void mb_outfile_discard(char *tmp) {
    if (!tmp) return;
    unlink(tmp);
    live_remove(tmp);
    free(tmp);
}

/* S is N alphanumerics (mkstemp's suffix), nothing after. */
static int is_suffix(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i])) return 0;
    return s[n] == '\0';
}

/* REST (what follows "BASE.tmp.") as "PID.XXXXXX": the PID, else 0. */
static long pid_of(const char *rest) {
    char *end;
    if (!isdigit((unsigned char)rest[0])) return 0;
    const long pid = strtol(rest, &end, 10);
    /* Within pid_t, so that kill() never sees 0 or a negative (group) id. */
    return *end == '.' && is_suffix(end + 1, 6) && pid > 0 && pid <= INT_MAX ? pid : 0;
}

/* One directory entry NAME (REST follows the prefix): 1 if removed. */
static int sweep_one(const char *dir, const char *name, const char *rest, FILE *report) {
    char full[2 * NAME_CAP];
    snprintf(full, sizeof full, "%s/%s", dir, name);
    const long pid = pid_of(rest);
    if (pid == 0) {
        if (is_suffix(rest, 6) && report)
            fprintf(report,
                    "note: %s looks like the temporary of an interrupted run (its name has no "
                    "process id); remove it if nothing is writing it\n",
                    full);
        return 0;
    }
    if (pid == (long)getpid()) return 0; /* this process's own */
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
        if (report) fprintf(report, "note: %s is being written by process %ld\n", full, pid);
        return 0;
    }
    if (unlink(full) != 0) {
        if (report) fprintf(report, "note: cannot remove %s: %s\n", full, strerror(errno));
        return 0;
    }
    if (report) fprintf(report, "removed %s, left by process %ld, which has ended\n", full, pid);
    return 1;
}

int mb_outfile_sweep(const char *path, FILE *report) {
    char dir[NAME_CAP], prefix[NAME_CAP + 8];
    const char *base = split(path, dir, sizeof dir);
    const size_t n = (size_t)snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    DIR *d = *base ? opendir(dir) : NULL;
    if (!d || n >= sizeof prefix) {
        if (d) closedir(d);
        return 0;
    }
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, prefix, n))
            removed += sweep_one(dir, e->d_name, e->d_name + n, report);
    closedir(d);
    return removed;
}
