#include "cli.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "matchbox/files.h"

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

int cli_size(const char *flag, const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K': mul = 1024.0, end++; break;
    case 'm':
    case 'M': mul = 1024.0 * 1024, end++; break;
    case 'g':
    case 'G': mul = 1024.0 * 1024 * 1024, end++; break;
    case 't':
    case 'T': mul = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (mul > 1 && (*end == 'i' || *end == 'I')) end++;
    if (*end == 'b' || *end == 'B') end++;
    const double bytes = v * mul;
    if (errno || end == s || *end || !isfinite(v) || v < 0 || bytes >= 9.2e18) {
        cli_fail("%s expects a size such as 300M, 1.5G or 4096 (bytes), got '%s'", flag, s);
        return 0;
    }
    *out = (unsigned long long)bytes;
    return 1;
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_fail("%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_float_in(const char *flag, const char *s, double lo, double hi, int lo_open,
                 const char *range, double *out) {
    if (!cli_float(flag, s, out)) return 0;
    if (*out < lo || *out > hi || (lo_open && *out == lo)) {
        cli_fail("%s %s: must be %s", flag, s, range);
        return 0;
    }
    return 1;
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
    struct stat st;
    return (n > 5 && strcmp(arg + n - 5, ".gguf") == 0) || stat(arg, &st) == 0;
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

int cli_chat_template_file(mb_model *model, const char *path) {
    if (!path) return 1;
    size_t len = 0;
    char *text = cli_read_all(path, &len);
    if (!text) return 0;
    mb_status st = mb_model_set_chat_template(model, text, len);
    free(text);
    if (st) return cli_fail(NULL), 0;
    return 1;
}

mb_token *cli_chat_prompt(const mb_model *model, const char *override, const char *system,
                          const char *user, size_t *n_ids, char **text) {
    mb_chat_message msgs[2];
    size_t n = 0, need = 0, len = 0;
    if (system) msgs[n++] = (mb_chat_message){"system", system};
    msgs[n++] = (mb_chat_message){"user", user};
    const char *name = NULL;
    int fallback = 0;
    if (mb_chat_template_name(model, override, &name, &fallback) != MB_OK)
        return cli_fail(NULL), NULL;
    if (fallback)
        fprintf(stderr, "note: the model has no chat template (tokenizer.chat_template); using "
                        "ChatML. Choose another with --chat-template NAME or "
                        "--chat-template-file FILE.\n");
    mb_chat_apply(model, override, msgs, n, 1, NULL, 0, &need);
    char *buf = malloc(need + 1);
    if (!buf || mb_chat_apply(model, override, msgs, n, 1, buf, need + 1, &len) != MB_OK) {
        cli_fail(buf ? NULL : "out of memory");
        free(buf);
        return NULL;
    }
    const int add_special = mb_chat_add_special(model, buf, len);
    *n_ids = 0;
    mb_tokenize(model, buf, len, add_special, 1, NULL, 0, n_ids);
    mb_token *ids = malloc((*n_ids + 1) * sizeof *ids);
    if (!ids || mb_tokenize(model, buf, len, add_special, 1, ids, *n_ids, n_ids) != MB_OK) {
        cli_fail(ids ? NULL : "out of memory");
        free(ids);
        free(buf);
        return NULL;
    }
    if (text)
        *text = buf;
    else
        free(buf);
    return ids;
}

int cli_check_output(const char *path) {
    if (mb_outfile_check(path) != MB_OK) return cli_fail(NULL), 0;
    mb_outfile_sweep(path, stderr);
    return 1;
}

static void on_stop_signal(int sig) {
    mb_outfile_unlink_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_cleanup_on_signals(void) {
    const int sigs[] = {SIGINT, SIGTERM};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

uint64_t cli_proc_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    const size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':' && sscanf(line + n + 1, "%llu", &kib) == 1)
            break;
    fclose(f);
    return (uint64_t)kib * 1024;
}
