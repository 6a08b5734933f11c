#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(const char *fmt, ...) {
    fputs("error: ", stderr);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    } else {
        fputs(mb_last_error(), stderr);
    }
    fputc('\n', stderr);
    return 1;
}

int cli_int(const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_fail("%s expects an integer in %ld..%ld, got '%s'", flag, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(const char *flag, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_fail("%s expects a number, got '%s'", flag, s);
        return 0;
    }
    *out = v;
    return 1;
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_fail("%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *cli_default_model(void) {
    static char buf[PATH_MAX];
    const char *env = getenv("MATCHBOX_MODEL");
    if (env && *env) return env;
    const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (cache && *cache)
        snprintf(buf, sizeof buf, "%s/matchbox/models/default.gguf", cache);
    else
        snprintf(buf, sizeof buf, "%s/.cache/matchbox/models/default.gguf", home ? home : "");
    if (is_file(buf)) return buf;
    const char *shared[] = {"../shared/models/stories260K.gguf", "shared/models/stories260K.gguf"};
    for (size_t i = 0; i < sizeof shared / sizeof *shared; i++)
        if (is_file(shared[i])) return shared[i];
    cli_fail("no model given and none found.\n"
             "  Name one: matchbox run MODEL.gguf \"prompt\"\n"
             "  or set MATCHBOX_MODEL=/path/to/model.gguf,\n"
             "  or put one at ~/.cache/matchbox/models/default.gguf\n"
             "  (any llama-architecture GGUF works, e.g. stories260K.gguf from the\n"
             "  karpathy/tinyllamas checkpoints converted with `matchbox convert`).");
    return NULL;
}

int cli_looks_like_model(const char *arg) {
    size_t n = strlen(arg);
    return (n > 5 && strcmp(arg + n - 5, ".gguf") == 0) || is_file(arg);
}

char *cli_read_all(const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_fail("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || err) {
        free(buf);
        cli_fail("%s: read failed", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
