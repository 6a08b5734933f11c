/* The shared flags' table (options.h). Each row says where its value goes in
 * cli_opts, the range that makes sense, and the help text; the default shown
 * in the help is read from cli_opts_init's values, i.e. the library's. */
#include "options.h"

#include <ctype.h>
#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "matchbox/gguf.h"

typedef enum {
    OPT_SET,   /* no value: stores SET into an int */
    OPT_INT,   /* an int in LO..HI */
    OPT_U64,   /* a uint64_t in LO..HI (the seed); sets seed_given */
    OPT_FLOAT, /* a float in LO..HI (LO excluded when LO_OPEN) */
    OPT_STR,   /* a string */
    OPT_KV,    /* a KV cache type (f16, q8_0, q4_0) into sp.kv_type_k (SET 1), _v (2), both (3) */
    OPT_SIZE,  /* a uint64_t number of bytes: 300M, 1.5G, 4096 (K, M, G, T: powers of 1024) */
} opt_kind;

typedef struct {
    unsigned group;
    const char *shrt, *lng, *arg;
    opt_kind kind;
    size_t offset; /* into cli_opts */
    int set;
    double lo, hi;
    int lo_open;
    const char *range; /* what a value must be, for the error */
    const char *help;
    const char *zero; /* the default's meaning when it is 0 (or NULL): "physical cores" */
} cli_opt;

#define F(field) offsetof(cli_opts, field)

static const cli_opt opts[] = {
    {CLI_MODEL, "-m", "--model", "FILE", OPT_STR, F(model), 0, 0, 0, 0, NULL, "model (GGUF)", NULL},
    {CLI_MODEL, NULL, "--no-mmap", NULL, OPT_SET, F(mp.use_mmap), 0, 0, 0, 0, NULL,
     "read the weights into anonymous memory (huge pages)", NULL},
    {CLI_MODEL, NULL, "--mmap", NULL, OPT_SET, F(mp.use_mmap), 1, 0, 0, 0, NULL,
     "map the file instead (default: memory when the weights fit in available RAM, "
     "mapping otherwise)",
     NULL},
    {CLI_MODEL, NULL, "--mlock", NULL, OPT_SET, F(mp.use_mlock), 1, 0, 0, 0, NULL,
     "lock the weights in RAM", NULL},
    {CLI_MODEL, NULL, "--no-repack", NULL, OPT_SET, F(mp.repack), 0, 0, 0, 0, NULL,
     "keep Q4_0, K-quant and SQ4 weights in the file's layout (default: reordered in memory "
     "for this CPU's kernels)",
     NULL},
    {CLI_MODEL, NULL, "--tokenizer-pre", "NAME", OPT_STR, F(mp.tokenizer_pre), 0, 0, 0, 0, NULL,
     "pre-tokenizer of a BPE vocabulary instead of the file's (default, gpt-2, llama-bpe, "
     "smollm, qwen2)",
     NULL},
    {CLI_MODEL | CLI_BUDGET, NULL, "--mem-budget", "SIZE", OPT_SIZE, F(mp.mem_budget), 0, 0, 0, 0,
     NULL,
     "RAM the weights may take (e.g. 300M, 1.5G): what fits stays resident, the other layers "
     "are read from the file while the model runs, MoE experts on demand (-v prints the plan)",
     NULL},
    {CLI_LORA, NULL, "--lora", "FILE", OPT_STR, F(lora), 0, 0, 0, 0, NULL,
     "apply a LoRA adapter (GGUF, e.g. from matchbox finetune)", NULL},
    {CLI_LORA, NULL, "--lora-scale", "S", OPT_FLOAT, F(lora_scale), 0, -FLT_MAX, FLT_MAX, 0,
     "a number", "scale of the adapter's update", NULL},
    {CLI_CONTEXT, "-c", "--ctx-size", "N", OPT_INT, F(sp.n_ctx), 0, 0, 1 << 24, 0, NULL,
     "context size", "min(4096, trained)"},
    {CLI_CACHE, NULL, "--swa-full", NULL, OPT_SET, F(sp.swa_full), 1, 0, 0, 0, NULL,
     "windowed layers (Gemma, Mistral-style) keep full caches instead of a ring of their "
     "window (more memory)",
     NULL},
    {CLI_CACHE, NULL, "--kv-type", "T", OPT_KV, F(sp.kv_type_k), 3, 0, 0, 0, NULL,
     "KV cache type of keys and values: f16, q8_0 (about half the memory) or q4_0 (about "
     "0.28; more loss)",
     NULL},
    {CLI_CACHE, "-ctk", "--kv-type-k", "T", OPT_KV, F(sp.kv_type_k), 1, 0, 0, 0, NULL,
     "KV cache type of the keys alone", NULL},
    {CLI_CACHE, "-ctv", "--kv-type-v", "T", OPT_KV, F(sp.kv_type_v), 2, 0, 0, 0, NULL,
     "KV cache type of the values alone", NULL},
    {CLI_THREADS, "-t", "--threads", "N", OPT_INT, F(sp.n_threads), 0, 1, 1024, 0, NULL, "threads",
     "physical cores"},
    {CLI_SAMPLING, NULL, "--temp", "T", OPT_FLOAT, F(sampling.temperature), 0, 0, FLT_MAX, 0,
     "0 (greedy) or more", "temperature (0: greedy)", NULL},
    {CLI_SAMPLING, NULL, "--top-k", "N", OPT_INT, F(sampling.top_k), 0, 0, 1 << 30, 0, NULL,
     "keep the N most likely tokens (0: off)", NULL},
    {CLI_SAMPLING, NULL, "--top-p", "P", OPT_FLOAT, F(sampling.top_p), 0, 0, 1, 0,
     "between 0 and 1", "nucleus sampling (1: off)", NULL},
    {CLI_SAMPLING, NULL, "--min-p", "P", OPT_FLOAT, F(sampling.min_p), 0, 0, 1, 0,
     "between 0 and 1", "drop tokens below P x the top probability (0: off)", NULL},
    {CLI_SAMPLING, NULL, "--repeat-penalty", "F", OPT_FLOAT, F(sampling.repeat_penalty), 0, 0,
     FLT_MAX, 1, "more than 0 (1: off)", "penalize repeated tokens (1: off)", NULL},
    {CLI_SAMPLING, NULL, "--repeat-last-n", "N", OPT_INT, F(sampling.repeat_last_n), 0, 0, 1 << 20,
     0, NULL, "window the penalties look at", NULL},
    {CLI_SAMPLING, NULL, "--presence-penalty", "F", OPT_FLOAT, F(sampling.presence_penalty), 0,
     -FLT_MAX, FLT_MAX, 0, "a number", "penalize tokens already present (0: off)", NULL},
    {CLI_SAMPLING, NULL, "--frequency-penalty", "F", OPT_FLOAT, F(sampling.frequency_penalty), 0,
     -FLT_MAX, FLT_MAX, 0, "a number", "penalize tokens by their count (0: off)", NULL},
    {CLI_SAMPLING, "-s", "--seed", "N", OPT_U64, F(sampling.seed), 0, 0, (double)INT64_MAX, 0, NULL,
     "random seed (default: random, printed)", NULL},
    {CLI_CHAT, NULL, "--chat-template", "NAME", OPT_STR, F(chat_template), 0, 0, 0, 0, NULL,
     "a built-in family instead of the model's own Jinja template: chatml, llama2, llama3, "
     "mistral, ..., or jinja (the model's)",
     NULL},
    {CLI_CHAT, NULL, "--chat-template-file", "F", OPT_STR, F(chat_template_file), 0, 0, 0, 0, NULL,
     "render the Jinja template in F instead of the file's", NULL},
    {CLI_SPECULATIVE, "-md", "--model-draft", "FILE", OPT_STR, F(draft_model), 0, 0, 0, 0, NULL,
     "speculative decoding with FILE as the draft: a smaller model with the same vocabulary "
     "drafts tokens, the model checks them in one batched pass; the output is unchanged",
     NULL},
    {CLI_SPECULATIVE, NULL, "--draft-max", "K", OPT_INT, F(spec.draft_max), 0, 1, 256, 0, NULL,
     "tokens drafted per step, at most", NULL},
    {CLI_SPECULATIVE, NULL, "--draft-min", "N", OPT_INT, F(spec.draft_min), 0, 0, 256, 0, NULL,
     "fewer drafted than N: a plain step", NULL},
    {CLI_SPECULATIVE, NULL, "--lookup", "N", OPT_INT, F(spec.lookup_n), 0, 0, 64, 0, NULL,
     "speculative decoding without a draft model: drafts are what followed the last N..1 tokens "
     "where they occurred before in the prompt or the text so far (0: off)",
     NULL},
    {CLI_GRAMMAR, NULL, "--grammar-file", "FILE", OPT_STR, F(grammar_file), 0, 0, 0, 0, NULL,
     "constrain the output to the GBNF grammar in FILE (llama.cpp's syntax; start rule root)",
     NULL},
    {CLI_GRAMMAR, NULL, "--json-schema", "FILE", OPT_STR, F(json_schema_file), 0, 0, 0, 0, NULL,
     "constrain the output to JSON valid against the JSON Schema in FILE (an unsupported "
     "keyword is an error)",
     NULL},
    {CLI_VERBOSE, "-v", "--verbose", NULL, OPT_SET, F(verbose), 1, 0, 0, 0, NULL,
     "print details to stderr (the model's load, and what the command says above)", NULL},
};

#undef F

void cli_opts_init(cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->mp = mb_model_default_params();
    o->mp.repack = 1; /* these commands only run the model */
    o->sp = mb_session_default_params();
    o->sampling = mb_sampler_default_params();
    o->lora_scale = 1.0f;
    o->spec = mb_speculative_default_params();
}

/* "300M", "1.5G", "2GiB", "4096": bytes, K/M/G/T as powers of 1024. */
static int matches(const cli_opt *op, const char *a) {
    return (op->shrt && !strcmp(a, op->shrt)) || !strcmp(a, op->lng);
}

int cli_opts_flag(cli_opts *o, unsigned groups, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) {
        const cli_opt *op = &opts[k];
        if (!(op->group & groups) || !matches(op, a)) continue;
        void *dst = (char *)o + op->offset;
        if (op->kind == OPT_SET) {
            *(int *)dst = op->set;
            return 1;
        }
        const char *v = cli_value(argc, argv, i);
        if (!v) return -1;
        long l;
        double d;
        switch (op->kind) {
        case OPT_STR: *(const char **)dst = v; return 1;
        case OPT_KV: {
            const int t = mb_gguf_tensor_type_from_name(v);
            if (t != MB_KV_TYPE_F16 && t != MB_KV_TYPE_Q8_0 && t != MB_KV_TYPE_Q4_0) {
                cli_fail("%s expects a KV cache type (f16, q8_0 or q4_0), got '%s'", a, v);
                return -1;
            }
            if (op->set & 1) o->sp.kv_type_k = (uint32_t)t;
            if (op->set & 2) o->sp.kv_type_v = (uint32_t)t;
            return 1;
        }
        case OPT_INT:
            if (!cli_int(a, v, (long)op->lo, (long)op->hi, &l)) return -1;
            *(int *)dst = (int)l;
            return 1;
        case OPT_U64:
            if (!cli_int(a, v, (long)op->lo, INT64_MAX, &l)) return -1;
            *(uint64_t *)dst = (uint64_t)l;
            o->seed_given = 1;
            return 1;
        case OPT_FLOAT:
            if (!cli_float_in(a, v, op->lo, op->hi, op->lo_open, op->range, &d)) return -1;
            *(float *)dst = (float)d;
            return 1;
        case OPT_SIZE: {
            unsigned long long bytes = 0;
            if (!cli_size(a, v, &bytes)) return -1;
            if (bytes == 0)
                return cli_fail("%s expects a size of at least 1 byte, got '%s'", a, v), -1;
            *(uint64_t *)dst = bytes;
            return 1;
        }
        case OPT_SET: break;
        }
    }
    return 0;
}

/* "default: X" for a value option, from the library's defaults; "" for others. */
static void default_text(const cli_opt *op, const cli_opts *d, char *buf, size_t cap) {
    const void *src = (const char *)d + op->offset;
    buf[0] = '\0';
    if (op->kind == OPT_INT) {
        int v = *(const int *)src;
        if (v == 0 && op->zero)
            snprintf(buf, cap, "default: %s", op->zero);
        else
            snprintf(buf, cap, "default: %d", v);
    } else if (op->kind == OPT_FLOAT) {
        snprintf(buf, cap, "default: %g", (double)*(const float *)src);
    } else if (op->kind == OPT_KV) {
        /* "f16", as the flag takes it. */
        int n = snprintf(buf, cap, "default: %s", mb_gguf_tensor_type_name(*(const uint32_t *)src));
        for (int i = 9; i < n && (size_t)i < cap; i++)
            buf[i] = (char)tolower((unsigned char)buf[i]);
    }
}

enum { HELP_COL = 26, HELP_WIDTH = 80 - HELP_COL };

/* Help lines as "  -c, --ctx-size N        text (default: ...)", the text
 * wrapped at 80 columns under its own column. */
void cli_opts_help(FILE *f, unsigned groups) {
    cli_opts d;
    cli_opts_init(&d);
    for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) {
        const cli_opt *op = &opts[k];
        if (!(op->group & groups)) continue;
        char head[64], def[64], text[512];
        snprintf(head, sizeof head, "%s%s%s%s%s", op->shrt ? op->shrt : "", op->shrt ? ", " : "",
                 op->lng, op->arg ? " " : "", op->arg ? op->arg : "");
        default_text(op, &d, def, sizeof def);
        /* "text (0: off)" + "default: 40" gives "text (0: off; default: 40)". */
        size_t hl = strlen(op->help);
        if (!def[0])
            snprintf(text, sizeof text, "%s", op->help);
        else if (hl && op->help[hl - 1] == ')')
            snprintf(text, sizeof text, "%.*s; %s)", (int)hl - 1, op->help, def);
        else
            snprintf(text, sizeof text, "%s (%s)", op->help, def);
        int col = fprintf(f, "  %s", head);
        if (col >= HELP_COL - 1) { /* a long flag gets a line of its own */
            fputc('\n', f);
            col = 0;
        }
        const char *p = text;
        while (*p) {
            fprintf(f, "%*s", HELP_COL - col, "");
            size_t cut = strlen(p);
            if (cut > HELP_WIDTH) { /* break at the last space that fits */
                cut = HELP_WIDTH;
                while (cut > 0 && p[cut] != ' ')
                    cut--;
                if (cut == 0) cut = HELP_WIDTH;
            }
            fprintf(f, "%.*s\n", (int)cut, p);
            col = 0;
            p += cut;
            while (*p == ' ')
                p++;
        }
    }
}

int cli_opts_load_model(const cli_opts *o, mb_model **out) {
    mb_model_params mp = o->mp;
    mp.verbose = o->verbose;
    *out = NULL;
    mb_model *model = NULL;
    if (mb_model_load(o->model, &mp, &model) != MB_OK) return cli_fail(NULL), 0;
    if (o->lora && mb_model_load_lora(model, o->lora, o->lora_scale) != MB_OK) {
        cli_fail(NULL);
        mb_model_free(model);
        return 0;
    }
    if (!cli_chat_template_file(model, o->chat_template_file)) {
        mb_model_free(model);
        return 0;
    }
    *out = model;
    return 1;
}

int cli_sampling_flag(int argc, char **argv, int *i, mb_sampler_params *sp, int *seed_given) {
    cli_opts o;
    cli_opts_init(&o);
    o.sampling = *sp;
    int r = cli_opts_flag(&o, CLI_SAMPLING, argc, argv, i);
    if (r > 0) {
        *sp = o.sampling;
        if (o.seed_given) *seed_given = 1;
    }
    return r;
}

uint64_t cli_random_seed(void) {
    return ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32)) & 0x7fffffffffffffffULL;
}

void cli_opts_seed(cli_opts *o, int print_random) {
    if (!o->seed_given) o->sampling.seed = cli_random_seed();
    if (o->verbose || (print_random && !o->seed_given))
        fprintf(stderr, "seed: %llu\n", (unsigned long long)o->sampling.seed);
}

int cli_opts_load_draft(const cli_opts *o, mb_model **draft_model) {
    *draft_model = NULL;
    if (!o->draft_model) return 1;
    mb_model_params mp = o->mp;
    mp.verbose = o->verbose;
    mp.mem_budget = 0; /* --mem-budget is the model's; a draft is small and read whole */
    if (mb_model_load(o->draft_model, &mp, draft_model) != MB_OK)
        return cli_fail("draft model %s: %s", o->draft_model, mb_last_error()), 0;
    return 1;
}

int cli_opts_speculative(const cli_opts *o, mb_model **draft_model, mb_session **draft,
                         mb_speculative_params *spec) {
    *draft = NULL;
    *spec = o->spec;
    if (!cli_opts_load_draft(o, draft_model)) return 0;
    if (!*draft_model) return 1;
    mb_session_params sp = o->sp;
    sp.verbose = o->verbose;
    /* One thread: a draft is small, and a second pool's workers, waiting
     * for work while the model's run, would take the cores from them. */
    sp.n_threads = 1;
    /* The draft's cache is small: F16 keeps its acceptance (--kv-type is
     * the model's), and any draft head size runs. */
    sp.kv_type_k = sp.kv_type_v = MB_KV_TYPE_F16;
    if (mb_session_new(*draft_model, &sp, draft) != MB_OK) {
        cli_fail("draft model %s: %s", o->draft_model, mb_last_error());
        mb_model_free(*draft_model);
        *draft_model = NULL;
        return 0;
    }
    spec->draft = *draft;
    return 1;
}

void cli_print_speculative(FILE *f, const mb_generate_stats *st) {
    if (st->n_drafted == 0) return;
    fprintf(f,
            "speculative: %d drafted, %d accepted (%.1f%%), %d tokens in %d forward passes "
            "(%.2f per pass)\n",
            st->n_drafted, st->n_accepted, 100.0 * st->n_accepted / st->n_drafted, st->n_generated,
            st->n_forwards, st->n_forwards ? (double)st->n_generated / st->n_forwards : 0.0);
}

void cli_print_stream(FILE *f, const mb_model *model) {
    mb_stream_stats ss;
    mb_model_stream_stats(model, &ss);
    if (!ss.budget) return;
    fprintf(f, "weights: %.1f MB read from the file in %llu forward passes (%.2f MB per pass)",
            (double)ss.bytes_read / 1e6, (unsigned long long)ss.passes,
            ss.passes ? (double)ss.bytes_read / 1e6 / (double)ss.passes : 0.0);
    if (ss.expert_hits + ss.expert_misses)
        fprintf(f, "; expert cache %d of %d experts, hit rate %.1f%% (%llu of %llu)",
                ss.n_cache_experts, ss.n_experts,
                100.0 * (double)ss.expert_hits / (double)(ss.expert_hits + ss.expert_misses),
                (unsigned long long)ss.expert_hits,
                (unsigned long long)(ss.expert_hits + ss.expert_misses));
    fputc('\n', f);
}
