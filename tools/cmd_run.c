/* matchbox run MODEL [PROMPT]: stream a continuation of the prompt. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/files.h"
#include "options.h"
#include "matchbox.h"

/* The shared flags run takes (options.h). */
#define RUN_FLAGS (CLI_RUNNING | CLI_SAMPLING | CLI_CHAT | CLI_SPECULATIVE | CLI_GRAMMAR)

static void run_usage(FILE *f) {
    fputs("usage: matchbox run [MODEL] [PROMPT] [options]\n"
          "\n"
          "Generate text. The prompt comes from PROMPT, -p, -f FILE, or stdin.\n"
          "Without MODEL, $MATCHBOX_MODEL, ~/.cache/matchbox/models/default.gguf or\n"
          "../shared/models/stories260K.gguf is used.\n"
          "\n"
          "  -p, --prompt TEXT       prompt\n"
          "  -f, --file FILE         read the prompt from FILE\n"
          "  -n, --n-predict N       tokens to generate (-1: until end of text; default -1)\n"
          "  --chat                  the prompt is a user message in the model's chat\n"
          "                          template (its own Jinja template, as Hugging Face\n"
          "                          renders it; --chat-template and --chat-template-file\n"
          "                          imply it)\n"
          "  --system TEXT           a system message too (implies --chat)\n"
          "  -r, --stop TEXT         stop when TEXT is generated (repeatable)\n"
          "  --no-display-prompt     print only the generated text\n"
          "  --logits-out FILE       write the float32 logits of every step (n_vocab each)\n",
          f);
    cli_opts_help(f, RUN_FLAGS);
}

typedef struct {
    cli_opts c;
    const char *prompt, *prompt_file, *logits_out;
    const char *system; /* --chat: the template's prompt */
    int chat;
    long n_predict;
    int display_prompt;
    const char *stop[17];
    int n_stop;
} run_opts;

/* Returns 1 to continue, 0 to exit with *rc. */
static int parse(int argc, char **argv, run_opts *o, int *rc) {
    *rc = 1;
    const char *positional[2];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = cli_opts_flag(&o->c, RUN_FLAGS, argc, argv, &i);
        if (r < 0) return 0;
        if (r > 0) {
            if (o->c.chat_template || o->c.chat_template_file) o->chat = 1;
            continue;
        }
#define VALUE() ((v = cli_value(argc, argv, &i)) != NULL)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_usage(stdout);
            *rc = 0;
            return 0;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!VALUE()) return 0;
            o->prompt = v;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!VALUE()) return 0;
            o->prompt_file = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!VALUE() || !cli_int(a, v, -1, 1 << 30, &o->n_predict)) return 0;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--stop")) {
            if (!VALUE()) return 0;
            if (o->n_stop == 16) return cli_fail("at most 16 stop strings"), 0;
            if (!*v) return cli_fail("%s: the stop string is empty", a), 0;
            o->stop[o->n_stop++] = v;
        } else if (!strcmp(a, "--logits-out")) {
            if (!VALUE()) return 0;
            o->logits_out = v;
        } else if (!strcmp(a, "--no-display-prompt")) {
            o->display_prompt = 0;
        } else if (!strcmp(a, "--chat")) {
            o->chat = 1;
        } else if (!strcmp(a, "--system")) {
            if (!VALUE()) return 0;
            o->system = v, o->chat = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_fail("unknown option '%s' (see matchbox run --help)", a);
            return 0;
        } else if (n_pos < 2) {
            positional[n_pos++] = a;
        } else {
            cli_fail("unexpected argument '%s'", a);
            return 0;
        }
#undef VALUE
    }
    int next = 0;
    if (!o->c.model && n_pos > next && cli_looks_like_model(positional[next]))
        o->c.model = positional[next++];
    if (n_pos > next) {
        if (o->prompt || o->prompt_file) return cli_fail("give the prompt once"), 0;
        o->prompt = positional[next++];
    }
    if (n_pos > next) return cli_fail("unexpected argument '%s'", positional[next]), 0;
    if (!o->c.model && !(o->c.model = cli_default_model())) return 0;
    if (o->logits_out && !cli_check_output(o->logits_out)) return 0;
    return 1;
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct {
    FILE *logits;
    int failed;
} run_state;

static int on_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return interrupted;
}

static int on_token(mb_token id, const float *logits, int n_vocab, void *user) {
    run_state *rs = user;
    if (rs->logits && fwrite(logits, sizeof(float), (size_t)n_vocab, rs->logits) != (size_t)n_vocab)
        rs->failed = 1;
    return interrupted;
}

static char *load_prompt(const run_opts *o, size_t *len) {
    if (o->prompt_file) return cli_read_all(o->prompt_file, len);
    if (o->prompt) {
        *len = strlen(o->prompt);
        return strdup(o->prompt);
    }
    if (!isatty(STDIN_FILENO)) return cli_read_all("-", len);
    *len = 0;
    return strdup("");
}

/* The logits file is written to a temporary name and renamed at the end, so
 * an interrupted run leaves no partial file under the requested name. */
static FILE *open_logits(const char *path, char **tmp) {
    int fd = mb_outfile_create(path, tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd < 0) {
            cli_fail(NULL);
        } else {
            cli_fail("%s: cannot write a temporary file next to it", path);
            close(fd);
        }
        mb_outfile_discard(*tmp);
        *tmp = NULL;
    }
    return f;
}

static int generate(const run_opts *o, mb_model *model, const char *prompt, size_t len) {
    mb_session_params ssp = o->c.sp;
    ssp.verbose = 1; /* the KV-cache size is printed before it is allocated */
    mb_session *session = NULL, *draft = NULL;
    mb_model *draft_model = NULL;
    mb_speculative_params spec;
    mb_sampler *sampler = NULL;
    mb_grammar *grammar = NULL;
    mb_token *ids = NULL;
    size_t n_ids = 0;
    char *chat_text = NULL;
    if (o->chat) {
        char *user = strndup(prompt, len);
        ids = user ? cli_chat_prompt(model, o->c.chat_template, o->system, user, &n_ids, &chat_text)
                   : NULL;
        free(user);
        if (!ids) return 1;
        prompt = chat_text, len = strlen(chat_text);
    } else {
        if (mb_tokenize(model, prompt, len, 1, 1, NULL, 0, &n_ids) != MB_OK && n_ids == 0)
            return cli_fail(NULL);
        ids = malloc((n_ids + 1) * sizeof *ids);
        if (!ids) return cli_fail("out of memory");
        if (mb_tokenize(model, prompt, len, 1, 1, ids, n_ids, &n_ids) != MB_OK) {
            free(ids);
            return cli_fail(NULL);
        }
    }
    int rc = 1;
    run_state rs = {0};
    char *tmp = NULL;
    if (mb_session_new(model, &ssp, &session) != MB_OK ||
        mb_sampler_new(&o->c.sampling, mb_model_n_vocab(model), &sampler) != MB_OK) {
        cli_fail(NULL);
        goto done;
    }
    if (!cli_opts_speculative(&o->c, &draft_model, &draft, &spec)) goto done;
    if (!cli_opts_grammar(&o->c, &grammar)) goto done;
    if (grammar && mb_sampler_set_grammar(sampler, model, grammar) != MB_OK) {
        cli_fail(NULL);
        goto done;
    }
    if (o->logits_out && !(rs.logits = open_logits(o->logits_out, &tmp))) goto done;
    const char *stop[17];
    for (int i = 0; i < o->n_stop; i++)
        stop[i] = o->stop[i];
    stop[o->n_stop] = NULL;
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = (int)o->n_predict;
    gp.stop = stop;
    gp.on_text = on_text;
    gp.on_token = on_token;
    gp.user = &rs;
    gp.speculative = &spec;
    if (o->display_prompt) {
        fwrite(prompt, 1, len, stdout);
        fflush(stdout);
    }
    mb_generate_stats st;
    void (*prev)(int) = signal(SIGINT, on_sigint);
    mb_status status = mb_generate(session, sampler, ids, n_ids, &gp, &st);
    signal(SIGINT, prev == SIG_ERR ? SIG_DFL : prev);
    fputc('\n', stdout);
    if (status != MB_OK) {
        cli_fail(NULL);
        goto done;
    }
    if (rs.logits) {
        int bad = rs.failed | (fflush(rs.logits) != 0) | (fsync(fileno(rs.logits)) != 0);
        bad |= fclose(rs.logits) != 0;
        rs.logits = NULL;
        char *done_tmp = tmp;
        tmp = NULL;
        if (bad) {
            mb_outfile_discard(done_tmp);
            cli_fail("%s: writing the logits failed", o->logits_out);
            goto done;
        }
        if (mb_outfile_commit(done_tmp, o->logits_out) != MB_OK) {
            cli_fail(NULL);
            goto done;
        }
    }
    fprintf(stderr,
            "\nprefill: %d tokens in %.3f s (%.1f tok/s) | decode: %d tokens in %.3f s "
            "(%.1f tok/s) | %d threads\n",
            st.n_prompt, st.prefill_seconds, st.n_prompt / (st.prefill_seconds + 1e-12),
            st.n_generated, st.decode_seconds,
            st.n_generated > 1 ? st.n_generated / (st.decode_seconds + 1e-12) : 0.0,
            mb_session_n_threads(session));
    cli_print_speculative(stderr, &st);
    cli_print_stream(stderr, model);
    /* The figure matchbox fit predicts (docs/USER_GUIDE.md). */
    const uint64_t peak = cli_proc_status_bytes("VmHWM");
    if (peak) fprintf(stderr, "peak memory: %.1f MiB (VmHWM)\n", (double)peak / (1 << 20));
    rc = 0;
done:
    if (rs.logits) fclose(rs.logits);
    mb_outfile_discard(tmp);
    mb_sampler_free(sampler);
    mb_grammar_free(grammar);
    mb_session_free(session);
    mb_session_free(draft);
    mb_model_free(draft_model);
    free(ids);
    free(chat_text);
    return rc;
}

int cmd_run(int argc, char **argv) {
    run_opts o = {.n_predict = -1, .display_prompt = 1};
    cli_opts_init(&o.c);
    int rc;
    if (!parse(argc, argv, &o, &rc)) return rc;
    cli_opts_seed(&o.c, 1);
    size_t len = 0;
    char *prompt = load_prompt(&o, &len);
    if (!prompt) return 1;
    mb_model *model = NULL;
    if (!cli_opts_load_model(&o.c, &model)) {
        free(prompt);
        return 1;
    }
    mb_stream_stats ss;
    mb_model_stream_stats(model, &ss);
    if (ss.budget)
        fprintf(stderr,
                "weights: %.1f MiB resident, %.1f MiB read per forward pass (--mem-budget)\n",
                (double)ss.resident_bytes / (1 << 20), (double)ss.streamed_bytes / (1 << 20));
    else
        fprintf(stderr, "weights: %s\n",
                mb_model_uses_mmap(model) ? "mmap (page cache)" : "anonymous memory (huge pages)");
    rc = generate(&o, model, prompt, len);
    mb_model_free(model);
    free(prompt);
    return rc;
}
