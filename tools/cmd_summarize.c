/* matchbox summarize MODEL FILE|-: summarize a text longer than the
 * model's context by map-reduce (src/agent/summarize.h). One session serves
 * every call, its cache cleared before each, so memory stays that of one
 * context. With --oracle, only the final merge goes out, redacted. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/oracle.h"
#include "agent/redact.h"
#include "agent/summarize.h"
#include "cli.h"
#include "commands.h"
#include "options.h"
#include "common/tool_error.h"

static void summarize_usage(FILE *f) {
    fputs("usage: matchbox summarize [MODEL] FILE|- [options]\n"
          "\n"
          "Summarize a text of any length: it is split on paragraph, then sentence\n"
          "boundaries into chunks that fit the context, each chunk is summarized, and the\n"
          "summaries are merged the same way until one final call gives the result, which\n"
          "streams to stdout. Progress goes to stderr. The result is cut at a sentence\n"
          "boundary to at most --words words when the model writes more.\n"
          "\n"
          "  -m, --model FILE        model (GGUF)\n"
          "  --words N               target length in words (default 100)\n"
          "  --report                print the grounding score (share of the summary's names\n"
          "                          and numbers found in the source) and the call counts\n"
          "  --oracle URL            send the final merge, redacted, to an OpenAI-compatible\n"
          "                          endpoint (e.g. http://127.0.0.1:8081/v1)\n"
          "  --oracle-model NAME     the oracle's model name\n"
          "  --oracle-key-env VAR    environment variable holding the oracle's API key\n"
          "  --chat-template-file F  render the Jinja template in F instead of the model's\n"
          "  --chat-template NAME    template family instead of the model's own\n"
          "  -c, --ctx-size N        context size (default: min(4096, trained))\n"
          "  -t, --threads N         threads (default: physical cores)\n",
          f);
    cli_opts_help(f, CLI_SAMPLING);
    fputs("  -v, --verbose           print load details and each call's token counts\n", f);
}

typedef struct {
    const char *model, *file, *oracle, *oracle_model, *key_env, *tmpl, *tmpl_file;
    long words, n_ctx, n_threads;
    int report, verbose, seed_given;
    mb_model_params mp;
    mb_sampler_params sp;
} sum_opts;

static int parse(int argc, char **argv, sum_opts *o, int *rc) {
    *rc = 1;
    const char *pos[2];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = cli_sampling_flag(argc, argv, &i, &o->sp, &o->seed_given);
        if (r < 0) return 0;
        if (r > 0) continue;
#define VALUE() ((v = cli_value(argc, argv, &i)) != NULL)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            summarize_usage(stdout);
            *rc = 0;
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!VALUE()) return 0;
            o->model = v;
        } else if (!strcmp(a, "--words")) {
            if (!VALUE() || !cli_int(a, v, 1, 100000, &o->words)) return 0;
        } else if (!strcmp(a, "--report")) {
            o->report = 1;
        } else if (!strcmp(a, "--oracle")) {
            if (!VALUE()) return 0;
            o->oracle = v;
        } else if (!strcmp(a, "--oracle-model")) {
            if (!VALUE()) return 0;
            o->oracle_model = v;
        } else if (!strcmp(a, "--oracle-key-env")) {
            if (!VALUE()) return 0;
            o->key_env = v;
        } else if (!strcmp(a, "--chat-template-file")) {
            if (!VALUE()) return 0;
            o->tmpl_file = v;
        } else if (!strcmp(a, "--chat-template")) {
            if (!VALUE()) return 0;
            o->tmpl = v;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!VALUE() || !cli_int(a, v, 0, 1 << 24, &o->n_ctx)) return 0;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!VALUE() || !cli_int(a, v, 1, 1024, &o->n_threads)) return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_fail("unknown option '%s' (see matchbox summarize --help)", a), 0;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a), 0;
        }
#undef VALUE
    }
    int next = 0;
    if (!o->model && n_pos == 2) o->model = pos[next++];
    if (n_pos <= next) return cli_fail("name the text to summarize: a FILE, or - for stdin"), 0;
    o->file = pos[next];
    if (!o->model && !(o->model = cli_default_model())) return 0;
    return 1;
}

typedef struct {
    const sum_opts *o;
    mb_model *model;
    mb_session *s;
    mb_sampler *sampler;
    const char *tmpl; /* NULL: the model has no chat template; a plain prompt */
    int out_tokens;
    mb_oracle *oracle;
    mb_redactor *redactor;
    mb_summary_emit_fn emit;
    void *emit_ctx;
    /* Progress: when the run and the current level began, and its calls so
     * far; the document's tokens (what sending it whole would cost). */
    double t_start, t_level;
    int level, level_calls;
    long doc_tokens;
} sum_ctx;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static mb_status count_tokens(void *user, const char *text, size_t len, int *n) {
    sum_ctx *c = user;
    size_t need = 0;
    mb_status st = mb_tokenize(c->model, text, len, 0, 0, NULL, 0, &need);
    if (st != MB_OK && need == 0 && len > 0) return st;
    *n = need > (size_t)1 << 30 ? 1 << 30 : (int)need;
    return MB_OK;
}

/* The instruction for CALL, and the whole prompt around TEXT. */
static char *build_prompt(const sum_ctx *c, const mb_summary_call *call, const char *text,
                          size_t len, size_t *out_len) {
    char head[256];
    if (!call->final)
        snprintf(head, sizeof head,
                 "Summarize this part of a longer document in at most %d words. Reply with "
                 "the summary only.",
                 call->words);
    else if (call->level > 1)
        snprintf(head, sizeof head,
                 "These are summaries of consecutive parts of one document. Merge them into "
                 "one summary of at most %d words. Reply with the summary only.",
                 call->words);
    else
        snprintf(head, sizeof head,
                 "Summarize this text in at most %d words. Reply with the summary only.",
                 call->words);
    size_t hl = strlen(head);
    char *user = malloc(hl + len + 32);
    if (!user) return NULL;
    int n = c->tmpl ? snprintf(user, hl + 3, "%s\n\n", head) : 0;
    memcpy(user + n, text, len);
    size_t ul = (size_t)n + len;
    if (!c->tmpl) {
        /* A base model continues text: put the cue after it. */
        int k = snprintf(user + ul, 32, "\n\nSummary:");
        ul += (size_t)k;
    }
    user[ul] = '\0';
    if (!c->tmpl) {
        *out_len = ul;
        return user;
    }
    mb_chat_message m = {"user", user};
    size_t need = 0;
    mb_chat_apply(c->model, c->tmpl, &m, 1, 1, NULL, 0, &need);
    char *buf = malloc(need + 1);
    if (buf && mb_chat_apply(c->model, c->tmpl, &m, 1, 1, buf, need + 1, out_len) != MB_OK) {
        free(buf);
        buf = NULL;
    }
    free(user);
    return buf;
}

static int on_text(const char *text, size_t len, void *user) {
    sum_ctx *c = user;
    return c->emit(c->emit_ctx, text, len);
}

static mb_status run_local(sum_ctx *c, const mb_summary_call *call, const char *text, size_t len) {
    size_t plen = 0, n_ids = 0;
    char *prompt = build_prompt(c, call, text, len, &plen);
    if (!prompt) return MB_ERR_NO_MEMORY;
    int add_special = c->tmpl ? mb_chat_add_special(c->model, prompt, plen) : 1;
    int parse_special = c->tmpl != NULL;
    mb_status st = mb_tokenize(c->model, prompt, plen, add_special, parse_special, NULL, 0, &n_ids);
    mb_token *ids = malloc((n_ids + 1) * sizeof *ids);
    st = ids ? mb_tokenize(c->model, prompt, plen, add_special, parse_special, ids, n_ids, &n_ids)
             : MB_ERR_NO_MEMORY;
    free(prompt);
    int room = mb_session_n_ctx(c->s) - (int)n_ids;
    if (st == MB_OK && room < 1) st = MB_ERR_CONTEXT_FULL;
    if (st == MB_OK) st = mb_session_rewind(c->s, 0); /* a fresh cache per call */
    if (st == MB_OK) {
        if (c->o->verbose)
            fprintf(stderr, "  prompt %zu tokens, up to %d new\n", n_ids,
                    room < c->out_tokens ? room : c->out_tokens);
        mb_generate_params gp = mb_generate_default_params();
        gp.n_predict = room < c->out_tokens ? room : c->out_tokens;
        gp.on_text = on_text;
        gp.user = c;
        mb_generate_stats gs;
        st = mb_generate(c->s, c->sampler, ids, n_ids, &gp, &gs);
    }
    free(ids);
    return st;
}

/* The final merge at the oracle: redacted out, unredacted back. */
static mb_status run_oracle(sum_ctx *c, const mb_summary_call *call, const char *text, size_t len) {
    char *red = NULL, *prompt = NULL, *back = NULL;
    size_t rlen = 0, plen = 0;
    mb_status st = mb_redact(c->redactor, text, len, &red, &rlen);
    if (st != MB_OK) return st;
    fprintf(stderr, "final merge: to the oracle, %d value(s) redacted\n",
            mb_redactor_count(c->redactor));
    const mb_summary_call fc = *call;
    /* The message: the same instruction a chat model would get. */
    size_t cap = rlen + 512;
    prompt = malloc(cap);
    if (!prompt) {
        free(red);
        return MB_ERR_NO_MEMORY;
    }
    plen = (size_t)snprintf(prompt, 512, "%s in at most %d words. Reply with the summary only.\n\n",
                            fc.level > 1 ? "These are summaries of consecutive parts of one "
                                           "document. Merge them into one summary"
                                         : "Summarize this text",
                            fc.words);
    memcpy(prompt + plen, red, rlen);
    prompt[plen + rlen] = '\0';
    free(red);
    mb_oracle_msg m = {"user", prompt};
    mb_oracle_reply reply = {0};
    int sent = 0;
    count_tokens(c, prompt, strlen(prompt), &sent);
    st = mb_oracle_chat(c->oracle, &m, 1, c->out_tokens * 2, 0.3f, NULL, NULL, &reply);
    free(prompt);
    /* The saving against sending the whole document (both counted with the
     * guardian's tokenizer; the oracle's own count of what it got too). */
    if (st == MB_OK)
        fprintf(stderr,
                "oracle: sent %d tokens (the oracle counted %d prompt + %d completion) instead "
                "of the whole document's %ld: %.1f%% of the oracle's input saved\n",
                sent, reply.prompt_tokens, reply.completion_tokens, c->doc_tokens,
                c->doc_tokens > 0 ? 100.0 * (1 - (double)sent / (double)c->doc_tokens) : 0);
    if (st == MB_OK)
        st = mb_unredact(c->redactor, reply.content, strlen(reply.content), &back, NULL);
    if (st == MB_OK) c->emit(c->emit_ctx, back, strlen(back));
    free(back);
    mb_oracle_reply_free(&reply);
    return st;
}

static mb_status summarize_cb(void *user, const mb_summary_call *call, const char *text, size_t len,
                              mb_summary_emit_fn emit, void *emit_ctx) {
    sum_ctx *c = user;
    c->emit = emit;
    c->emit_ctx = emit_ctx;
    if (call->final) {
        fprintf(stderr, "final: %zu bytes\n", len);
        if (c->oracle) {
            mb_status st = run_oracle(c, call, text, len);
            if (st == MB_OK) return st;
            fprintf(stderr, "oracle failed (%s); the final merge runs on the device\n",
                    tool_last_error());
        }
    } else {
        if (call->index == 1) fprintf(stderr, "level %d: %d chunks\n", call->level, call->n_chunks);
        if (call->level != c->level)
            c->level = call->level, c->level_calls = 0, c->t_level = now_s();
        /* The time left at this level, from its calls so far; each later
         * level merges the summaries, so it has far fewer calls. */
        if (c->level_calls > 0) {
            double per = (now_s() - c->t_level) / c->level_calls;
            fprintf(stderr,
                    "chunk %d/%d (%.1f s a chunk: about %.0f s left at this level, %.0f s "
                    "so far)\n",
                    call->index, call->n_chunks, per, per * (call->n_chunks - call->index + 1),
                    now_s() - c->t_start);
        } else {
            fprintf(stderr, "chunk %d/%d\n", call->index, call->n_chunks);
        }
        c->level_calls++;
    }
    return run_local(c, call, text, len);
}

static void on_note(void *user, const char *msg) {
    (void)user;
    fprintf(stderr, "note: %s\n", msg);
}

static int print_result(void *user, const char *piece, size_t len) {
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* Room for the answer: about two tokens a word, within a third of the context. */
static int answer_tokens(long words, int n_ctx) {
    long t = words * 2 + 16;
    return (int)(t < n_ctx / 3 ? t : n_ctx / 3);
}

static int summarize_run(sum_opts *o, sum_ctx *c, const char *text, size_t len) {
    int fallback = 0;
    if (mb_chat_template_name(c->model, o->tmpl, &c->tmpl, &fallback) != MB_OK)
        return cli_fail("%s", tool_last_error());
    if (fallback) c->tmpl = NULL; /* no template in the file: a plain prompt */
    fprintf(stderr, "prompt: %s\n", c->tmpl ? c->tmpl : "plain (the model has no chat template)");
    mb_session_params ssp = mb_session_default_params();
    ssp.n_ctx = (int)o->n_ctx;
    ssp.n_threads = (int)o->n_threads;
    ssp.verbose = o->verbose;
    if (mb_session_new(c->model, &ssp, &c->s) != MB_OK ||
        mb_sampler_new(&o->sp, mb_model_n_vocab(c->model), &c->sampler) != MB_OK)
        return cli_fail("%s", tool_last_error());
    int n_ctx = mb_session_n_ctx(c->s);
    c->out_tokens = answer_tokens(o->words, n_ctx);
    /* The prompt's own tokens, measured around an empty text, and a margin
     * for tokens that merge differently at the text's edges. */
    mb_summary_call probe = {2, 1, 1, true, (int)o->words};
    size_t plen = 0, n_over = 0;
    char *p = build_prompt(c, &probe, "", 0, &plen);
    if (!p) return cli_fail("out of memory");
    mb_tokenize(c->model, p, plen, 1, c->tmpl != NULL, NULL, 0, &n_over);
    free(p);
    int budget = n_ctx - (int)n_over - c->out_tokens - 8;
    if (budget < 32)
        return cli_fail("context %d is too small: the prompt takes %zu tokens and --words %ld "
                        "needs %d for the answer",
                        n_ctx, n_over, o->words, c->out_tokens);
    fprintf(stderr, "context %d: chunks of up to %d tokens, answers up to %d\n", n_ctx, budget,
            c->out_tokens);
    mb_summary_params sp = {.chunk_tokens = budget,
                            .words = (int)o->words,
                            .count = count_tokens,
                            .summarize = summarize_cb,
                            .user = c,
                            .on_result = print_result,
                            .on_note = on_note};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    c->t_start = c->t_level = now_s();
    int doc = 0;
    count_tokens(c, text, len, &doc);
    c->doc_tokens = doc;
    char *out = NULL;
    size_t out_len = 0;
    mb_summary_stats st;
    if (mb_summarize(&sp, text, len, &out, &out_len, &st) != MB_OK)
        return cli_fail("%s", tool_last_error());
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fputc('\n', stdout);
    fflush(stdout);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "done: %d level(s), %d call(s), %d word(s)%s in %.1f s\n", st.levels, st.calls,
            st.result_words, st.cut ? " (cut to --words)" : "", secs);
    if (o->report) {
        int ents = 0, found = 0;
        double g = mb_summary_grounding(text, len, out, out_len, &ents, &found);
        if (ents == 0)
            fprintf(stderr, "grounding: n/a (no names or numbers in the summary)\n");
        else
            fprintf(stderr,
                    "grounding: %.2f (%d of %d names and numbers in the summary occur in the "
                    "source)\n",
                    g, found, ents);
        if (st.forced) fprintf(stderr, "forced progress: %d time(s)\n", st.forced);
    }
    free(out);
    return 0;
}

/* TEXT holds nothing but white space (or nothing at all). */
static int is_blank(const char *text, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)text[i])) return 0;
    return 1;
}

int cmd_summarize(int argc, char **argv) {
    sum_opts o = {.words = 100};
    o.mp = mb_model_default_params();
    o.mp.repack = 1; /* it only runs the model */
    o.sp = mb_sampler_default_params();
    o.sp.temperature = 0.3f; /* summaries want little invention */
    int rc;
    if (!parse(argc, argv, &o, &rc)) return rc;
    if (!o.seed_given) o.sp.seed = cli_random_seed();
    o.mp.verbose = o.verbose;
    sum_ctx c = {.o = &o};
    const char *key = NULL;
    if (o.key_env && !(key = getenv(o.key_env)))
        return cli_fail("--oracle-key-env %s: the variable is not set", o.key_env);
    if (o.oracle) {
        mb_oracle_config oc = {
            .base_url = o.oracle, .model = o.oracle_model, .api_key = key, .max_retries = -1};
        if (mb_oracle_new(&oc, &c.oracle) != MB_OK || mb_redactor_new(&c.redactor) != MB_OK) {
            mb_oracle_free(c.oracle);
            return cli_fail("%s", tool_last_error());
        }
    }
    size_t len = 0;
    char *text = cli_read_all(o.file, &len);
    if (text && is_blank(text, len)) {
        cli_fail("%s: the text is empty%s; there is nothing to summarize",
                 strcmp(o.file, "-") ? o.file : "stdin", len ? " (only white space)" : "");
        free(text);
        text = NULL;
    }
    rc = 1;
    if (text && mb_model_load(o.model, &o.mp, &c.model) == MB_OK)
        rc = cli_chat_template_file(c.model, o.tmpl_file) ? summarize_run(&o, &c, text, len) : 1;
    else if (text)
        rc = cli_fail("%s", tool_last_error());
    mb_sampler_free(c.sampler);
    mb_session_free(c.s);
    mb_model_free(c.model);
    mb_oracle_free(c.oracle);
    mb_redactor_free(c.redactor);
    free(text);
    return rc;
}
