/* matchbox chat MODEL: an interactive, multi-turn conversation in the
 * model's chat template.
 *
 * The KV cache keeps the conversation: each turn feeds only the text the
 * template adds for it (the close of the previous answer, the user's turn
 * and the opening of the next answer), found by rendering the conversation
 * with a placeholder answer with and without the new message and taking the
 * difference. The answer's own tokens are in the cache as generated. When
 * the conversation outgrows the context, the policy (drop the oldest turns,
 * or refuse) is applied and reported. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat_state.h"
#include "cli.h"
#include "commands.h"

/* The shared flags chat takes (options.h). */
#define CHAT_FLAGS (CLI_RUNNING | CLI_SAMPLING | CLI_CHAT | CLI_SPECULATIVE | CLI_GRAMMAR)

static void chat_usage(FILE *f) {
    fputs("usage: matchbox chat [MODEL] [options]\n"
          "\n"
          "Talk with a model in its chat template. Lines from stdin are user messages;\n"
          "Ctrl-C stops an answer, /exit or end of input quits, /clear starts over,\n"
          "/save FILE writes the conversation as JSON. -v reports the tokens fed and\n"
          "the context used per turn.\n"
          "\n"
          "  --system TEXT           system prompt\n"
          "  --verbose-prompt        print each turn's prompt token ids (all of the\n"
          "                          conversation's, from position 0) to stderr\n"
          "  --context-policy P      when the conversation outgrows the context: drop (the\n"
          "                          oldest turns, keeping the system prompt; default) or error\n"
          "  -n, --n-predict N       max tokens per answer (-1: until the end of the turn)\n",
          f);
    cli_opts_help(f, CHAT_FLAGS);
}

/* Returns 1 to continue, 0 to exit with *rc. */
static int parse(int argc, char **argv, chat_opts *o, int *rc) {
    *rc = 1;
    const char *positional = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = cli_opts_flag(&o->c, CHAT_FLAGS, argc, argv, &i);
        if (r < 0) return 0;
        if (r > 0) continue;
#define VALUE() ((v = cli_value(argc, argv, &i)) != NULL)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            chat_usage(stdout);
            *rc = 0;
            return 0;
        } else if (!strcmp(a, "--system")) {
            if (!VALUE()) return 0;
            o->system = v;
        } else if (!strcmp(a, "--verbose-prompt")) {
            o->verbose_prompt = 1;
        } else if (!strcmp(a, "--context-policy")) {
            if (!VALUE()) return 0;
            if (strcmp(v, "drop") && strcmp(v, "error"))
                return cli_fail("--context-policy is drop or error, got '%s'", v), 0;
            o->policy_error = !strcmp(v, "error");
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!VALUE() || !cli_int(a, v, -1, 1 << 30, &o->n_predict)) return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_fail("unknown option '%s' (see matchbox chat --help)", a), 0;
        } else if (!positional && !o->c.model) {
            positional = a;
        } else {
            return cli_fail("unexpected argument '%s'", a), 0;
        }
#undef VALUE
    }
    if (positional) o->c.model = positional;
    if (!o->c.model && !(o->c.model = cli_default_model())) return 0;
    return 1;
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

int chat_interrupted(void) {
    return interrupted;
}

/* SIGINT without SA_RESTART: Ctrl-C at the prompt interrupts the read, so
 * the program can say how to quit instead of ignoring the key. */
static void catch_sigint(int on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* One line from stdin without its newline; NULL at end of input. */
static char *read_line(char **line, size_t *cap, int tty) {
    for (;;) {
        if (tty) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        interrupted = 0;
        errno = 0;
        ssize_t n = getline(line, cap, stdin);
        if (n < 0) {
            if (errno == EINTR || interrupted) {
                clearerr(stdin);
                fputs("\n(Ctrl-C stops an answer; /exit or Ctrl-D quits)\n", stderr);
                continue;
            }
            return NULL;
        }
        while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r'))
            (*line)[--n] = '\0';
        return *line;
    }
}

static int command(chat_state *c, const char *line, int *quit) {
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) {
        *quit = 1;
        return 0;
    }
    if (!strcmp(line, "/clear")) {
        if (chat_clear(c)) return 1;
        fputs("[conversation cleared]\n", stderr);
        return 0;
    }
    if (!strncmp(line, "/save", 5) && (line[5] == ' ' || line[5] == '\0')) {
        const char *path = line + 5;
        while (*path == ' ')
            path++;
        if (!*path) return cli_fail("/save needs a file name: /save FILE"), 0;
        if (chat_save(c, path) == 0) fprintf(stderr, "[saved to %s]\n", path);
        return 0;
    }
    fprintf(stderr, "unknown command '%s': /exit, /clear and /save FILE are known\n", line);
    return 0;
}

static int loop(chat_state *c) {
    int tty = isatty(STDIN_FILENO), quit = 0, rc = 0;
    if (tty) fputs("(/exit or Ctrl-D quits, /clear starts over, /save FILE saves)\n", stderr);
    char *line = NULL;
    size_t cap = 0;
    catch_sigint(1);
    while (!quit && read_line(&line, &cap, tty)) {
        if (line[0] == '\0') continue;
        if (line[0] == '/') {
            if (command(c, line, &quit)) {
                rc = 1;
                break;
            }
            continue;
        }
        interrupted = 0;
        if (chat_turn(c, line) != 0) {
            rc = 1;
            break;
        }
    }
    catch_sigint(0);
    free(line);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    chat_opts o = {.n_predict = -1};
    cli_opts_init(&o.c);
    int rc;
    if (!parse(argc, argv, &o, &rc)) return rc;
    cli_opts_seed(&o.c, 0);
    mb_model *model = NULL;
    if (!cli_opts_load_model(&o.c, &model)) return 1;
    chat_state *c = NULL;
    rc = chat_open(&o, model, &c);
    if (rc == 0) rc = loop(c);
    chat_close(c);
    mb_model_free(model);
    return rc;
}
