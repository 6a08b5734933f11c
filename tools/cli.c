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

static int float_flag(int argc, char **argv, int *i, float *out) {
    const char *flag = argv[*i], *v = cli_value(argc, argv, i);
    double d;
    if (!v || !cli_float(flag, v, &d)) return -1;
    *out = (float)d;
    return 1;
}

static int int_flag(int argc, char **argv, int *i, long hi, long *out) {
    const char *flag = argv[*i], *v = cli_value(argc, argv, i);
    return v && cli_int(flag, v, 0, hi, out) ? 1 : -1;
}

int cli_sampling_flag(int argc, char **argv, int *i, mb_sampler_params *sp, int *seed_given) {
    const char *a = argv[*i];
    long l = 0;
    int r;
    if (!strcmp(a, "--temp")) return float_flag(argc, argv, i, &sp->temperature);
    if (!strcmp(a, "--top-p")) return float_flag(argc, argv, i, &sp->top_p);
    if (!strcmp(a, "--min-p")) return float_flag(argc, argv, i, &sp->min_p);
    if (!strcmp(a, "--repeat-penalty")) return float_flag(argc, argv, i, &sp->repeat_penalty);
    if (!strcmp(a, "--presence-penalty")) return float_flag(argc, argv, i, &sp->presence_penalty);
    if (!strcmp(a, "--frequency-penalty")) return float_flag(argc, argv, i, &sp->frequency_penalty);
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
