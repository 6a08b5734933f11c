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

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_fail("%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

const char cli_sampling_help[] =
    "  --temp T                temperature (0: greedy; default 0.8)\n"
    "  --top-k N               keep the N most likely tokens (0: off; default 40)\n"
    "  --top-p P               nucleus sampling (1: off; default 0.95)\n"
    "  --min-p P               drop tokens below P x the top probability (default 0.05)\n"
    "  --repeat-penalty F      penalize repeated tokens (1: off; default 1)\n"
    "  --repeat-last-n N       window the penalties look at (default 64)\n"
    "  --presence-penalty F    (default 0)\n"
    "  --frequency-penalty F   (default 0)\n"
    "  -s, --seed N            random seed (default: random, printed)\n";

/* The sampling flags with a number, where in the parameters each goes, and
 * the values that make sense (LO excluded when LO_OPEN). */
static const struct {
    const char *flag;
    size_t offset;
    double lo, hi;
    int lo_open;
    const char *range;
} float_flags[] = {
    {"--temp", offsetof(mb_sampler_params, temperature), 0, FLT_MAX, 0, "0 (greedy) or more"},
    {"--top-p", offsetof(mb_sampler_params, top_p), 0, 1, 0, "between 0 and 1"},
    {"--min-p", offsetof(mb_sampler_params, min_p), 0, 1, 0, "between 0 and 1"},
    {"--repeat-penalty", offsetof(mb_sampler_params, repeat_penalty), 0, FLT_MAX, 1,
     "more than 0 (1: off)"},
    {"--presence-penalty", offsetof(mb_sampler_params, presence_penalty), -FLT_MAX, FLT_MAX, 0,
     "a number"},
    {"--frequency-penalty", offsetof(mb_sampler_params, frequency_penalty), -FLT_MAX, FLT_MAX, 0,
     "a number"},
};

int cli_float_in(const char *flag, const char *s, double lo, double hi, int lo_open,
                 const char *range, double *out) {
    if (!cli_float(flag, s, out)) return 0;
    if (*out < lo || *out > hi || (lo_open && *out == lo)) {
        cli_fail("%s %s: must be %s", flag, s, range);
        return 0;
    }
    return 1;
}

/* A float_flags entry at argv[*i]: 1 (stored), -1 (error printed), 0 (none). */
static int float_flag(int argc, char **argv, int *i, mb_sampler_params *sp) {
    for (size_t k = 0; k < sizeof float_flags / sizeof *float_flags; k++) {
        if (strcmp(argv[*i], float_flags[k].flag)) continue;
        const char *v = cli_value(argc, argv, i);
        double d;
        if (!v || !cli_float_in(float_flags[k].flag, v, float_flags[k].lo, float_flags[k].hi,
                                float_flags[k].lo_open, float_flags[k].range, &d))
            return -1;
        *(float *)((char *)sp + float_flags[k].offset) = (float)d;
        return 1;
    }
    return 0;
}

static int int_flag(int argc, char **argv, int *i, long hi, long *out) {
    const char *flag = argv[*i], *v = cli_value(argc, argv, i);
    return v && cli_int(flag, v, 0, hi, out) ? 1 : -1;
}

int cli_sampling_flag(int argc, char **argv, int *i, mb_sampler_params *sp, int *seed_given) {
    const char *a = argv[*i];
    long l = 0;
    int r = float_flag(argc, argv, i, sp);
    if (r) return r;
    if (!strcmp(a, "--top-k")) {
        if ((r = int_flag(argc, argv, i, 1 << 30, &l)) == 1) sp->top_k = (int)l;
        return r;
    }
    if (!strcmp(a, "--repeat-last-n")) {
        if ((r = int_flag(argc, argv, i, 1 << 20, &l)) == 1) sp->repeat_last_n = (int)l;
        return r;
    }
    if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
        if ((r = int_flag(argc, argv, i, 0x7fffffffffffffffL, &l)) != 1) return r;
        sp->seed = (uint64_t)l;
        *seed_given = 1;
        return 1;
    }
    return 0;
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
