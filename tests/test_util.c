#include "test_util.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int mbt_passed, mbt_failed;

int mbt_finish(void) {
    printf("%d passed, %d failed\n", mbt_passed, mbt_failed);
    /* A test that checked nothing proved nothing: that is a failure. */
    if (mbt_passed + mbt_failed == 0) {
        printf("FAIL: the test made no check\n");
        return 1;
    }
    return mbt_failed == 0 ? 0 : 1;
}

void mbt_skip(const char *why) {
    printf("SKIP: %s\n", why);
    exit(77);
}

const char *mbt_shared_dir(void) {
    static char buf[4096];
    const char *env = getenv("MATCHBOX_SHARED");
    const char *dir = env && *env ? env : MB_SHARED_DIR;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    snprintf(buf, sizeof buf, "%s", dir);
    return buf;
}

const char *mbt_shared_path_or_skip(const char *rel) {
    static char buf[8][4096];
    static int slot;
    const char *dir = mbt_shared_dir();
    if (!dir) mbt_skip("../shared is absent (set MATCHBOX_SHARED to its path)");
    char *p = buf[slot++ % 8];
    snprintf(p, 4096, "%s/%s", dir, rel);
    if (access(p, R_OK) != 0) {
        char msg[4200];
        snprintf(msg, sizeof msg, "%s is absent", p);
        mbt_skip(msg);
    }
    return p;
}

const char *mbt_tmpdir(void) {
    static char buf[256];
    if (!buf[0]) {
        snprintf(buf, sizeof buf, "/tmp/mbtest.XXXXXX");
        if (!mkdtemp(buf)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return buf;
}

char *mbt_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len) *len = (size_t)n;
    }
    return buf;
}

int mbt_system(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc == -1) return -1;
    return WEXITSTATUS(rc);
}

uint64_t mbt_rand_u64(uint64_t *s) {
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float mbt_rand_float(uint64_t *s) {
    return (float)((double)(mbt_rand_u64(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
