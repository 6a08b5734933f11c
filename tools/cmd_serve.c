/* matchbox serve MODEL: an OpenAI-compatible HTTP server (docs/SERVER.md).
 *
 * SIGINT and SIGTERM are blocked in every thread and taken here with
 * sigwait(), so the shutdown runs on this thread in ordinary code: stop
 * accepting, let the requests in flight finish, exit 0. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <matchbox.h>

#include "agent_serve.h"
#include "cli.h"
#include "commands.h"
#include "options.h"
#include "common/tool_error.h"
#include "server/server.h"

/* The shared flags serve takes (options.h); -t is its own (per slot). */
#define SERVE_FLAGS                                                                                \
    (CLI_MODEL | CLI_LORA | CLI_CONTEXT | CLI_CACHE | CLI_CHAT | CLI_VERBOSE | CLI_SPECULATIVE)

static void serve_usage(FILE *f) {
    fputs("usage: matchbox serve [MODEL] [options]\n"
          "\n"
          "Serve the model over HTTP with the OpenAI API: POST /v1/chat/completions,\n"
          "POST /v1/completions, POST /v1/embeddings, GET /v1/models, /health and\n"
          "/metrics (docs/SERVER.md).\n"
          "\n"
          "  --host ADDR             address to listen on (default 127.0.0.1: this machine\n"
          "                          only; 0.0.0.0 for every interface)\n"
          "  --port N                port (default 8080; 0: any free port, printed)\n"
          "  --slots N               requests generated at once, each with its own KV\n"
          "                          cache (default 4)\n"
          "  --queue N               requests that may wait for a slot; past that the answer\n"
          "                          is 503 with Retry-After (default 64)\n"
          "  --queue-timeout S       a request still waiting after S seconds for a slot or\n"
          "                          KV cache blocks gets 503 with Retry-After (default 60;\n"
          "                          0: no limit)\n"
          "  --kv-budget SIZE        bytes of the KV cache the slots share, in blocks of 64\n"
          "                          positions (e.g. 512M; default: a full context per\n"
          "                          slot). Requests are admitted when their blocks can be\n"
          "                          promised; a common prefix (system prompt, earlier\n"
          "                          turns) is held once for all of them\n"
          "  --no-kv-share           each slot its own whole-context KV cache instead\n"
          "  --api-key KEY           require 'Authorization: Bearer KEY' (default: none;\n"
          "                          $MATCHBOX_API_KEY is read too)\n"
          "  --max-body BYTES        largest request body (default 1048576)\n"
          "  --allowed-origins LIST  browser origins that may call the server, comma-\n"
          "                          separated ('http://localhost:3000'), or '*' (default:\n"
          "                          none: a request with an Origin header gets 403)\n"
          "  --header-timeout SEC    seconds a client has to send a request's headers\n"
          "                          (default 10)\n"
          "  --verbose-prompt        log each chat request's prompt token ids to stderr\n"
          "  --alias NAME            the model name /v1/models lists and answers carry\n"
          "                          (default: the file's name without .gguf); requests may\n"
          "                          name the alias, the file, or any model\n"
          "  --strict-model-name     a request naming a model other than the alias or the\n"
          "                          file's name (with or without .gguf) gets 404\n"
          "                          model_not_found (default: any name is this model)\n"
          "  -t, --threads N         threads per slot's prefill (default: physical cores /\n"
          "                          slots, at least 1); the batched decode step uses every core\n"
          "  --no-batch              decode each slot alone on its own threads instead of\n"
          "                          one batched pass over the weights for all slots\n"
          "  (-c is each slot's context; -v logs each request too)\n",
          f);
    cli_opts_help(f, SERVE_FLAGS);
    fputs(agent_serve_help, f);
}

typedef struct {
    cli_opts c;
    const char *alias;
    long port, slots, queue, max_body, n_threads, header_timeout;
    double queue_timeout;
    unsigned long long kv_budget;
    int no_kv_share;
    mb_server_params sp;
    agent_serve_opts agent;
} serve_opts;

/* Returns 1 to continue, 0 to exit with *rc. */
static int parse(int argc, char **argv, serve_opts *o, int *rc) {
    *rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
#define VALUE() ((v = cli_value(argc, argv, &i)) != NULL)
        int af = agent_serve_flag(argc, argv, &i, &o->agent, &o->sp);
        if (af < 0) return 0;
        if (af > 0) continue;
        int r = cli_opts_flag(&o->c, SERVE_FLAGS, argc, argv, &i);
        if (r < 0) return 0;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            *rc = 0;
            return 0;
        } else if (!strcmp(a, "--host")) {
            if (!VALUE()) return 0;
            o->sp.host = v;
        } else if (!strcmp(a, "--port")) {
            if (!VALUE() || !cli_int(a, v, 0, 65535, &o->port)) return 0;
        } else if (!strcmp(a, "--slots")) {
            if (!VALUE() || !cli_int(a, v, 1, 256, &o->slots)) return 0;
        } else if (!strcmp(a, "--queue")) {
            if (!VALUE() || !cli_int(a, v, 0, 65536, &o->queue)) return 0;
        } else if (!strcmp(a, "--queue-timeout")) {
            if (!VALUE() || !cli_float_in(a, v, 0, 86400, 0, "0..86400", &o->queue_timeout))
                return 0;
        } else if (!strcmp(a, "--kv-budget")) {
            if (!VALUE() || !cli_size(a, v, &o->kv_budget)) return 0;
            if (o->kv_budget == 0) return cli_fail("--kv-budget must be more than 0"), 0;
        } else if (!strcmp(a, "--no-kv-share")) {
            o->no_kv_share = 1;
        } else if (!strcmp(a, "--api-key")) {
            if (!VALUE()) return 0;
            o->sp.api_key = v;
        } else if (!strcmp(a, "--allowed-origins")) {
            if (!VALUE()) return 0;
            o->sp.allowed_origins = v;
        } else if (!strcmp(a, "--header-timeout")) {
            if (!VALUE() || !cli_int(a, v, 1, 3600, &o->header_timeout)) return 0;
        } else if (!strcmp(a, "--max-body")) {
            if (!VALUE() || !cli_int(a, v, 64, 1L << 30, &o->max_body)) return 0;
        } else if (!strcmp(a, "--verbose-prompt")) {
            o->sp.verbose_prompt = 1;
        } else if (!strcmp(a, "--alias")) {
            if (!VALUE()) return 0;
            if (!*v) return cli_fail("--alias is empty"), 0;
            o->alias = v;
        } else if (!strcmp(a, "--strict-model-name")) {
            o->sp.strict_model_name = 1;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!VALUE() || !cli_int(a, v, 1, 1024, &o->n_threads)) return 0;
        } else if (!strcmp(a, "--no-batch")) {
            o->sp.batch = 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_fail("unknown option '%s' (see matchbox serve --help)", a), 0;
        } else if (!o->c.model) {
            o->c.model = a;
        } else {
            return cli_fail("unexpected argument '%s'", a), 0;
        }
#undef VALUE
    }
    if (!o->c.model && !(o->c.model = cli_default_model())) return 0;
    return 1;
}

/* The model's name for clients: the file's base name without ".gguf". */
static char *model_id(const char *path, const char *alias) {
    if (alias) return strdup(alias);
    const char *base = strrchr(path, '/');
    char *id = strdup(base ? base + 1 : path);
    size_t n = id ? strlen(id) : 0;
    if (n > 5 && !strcmp(id + n - 5, ".gguf")) id[n - 5] = '\0';
    return id;
}

/* Never runs: the signals stay blocked and are taken by sigwait(). */
static void on_stop_signal(int sig) {
    (void)sig;
}

int cmd_serve(int argc, char **argv) {
    serve_opts o = {.port = 8080,
                    .slots = 4,
                    .queue = 64,
                    .max_body = 1 << 20,
                    .header_timeout = 10,
                    .queue_timeout = 60};
    cli_opts_init(&o.c);
    o.sp = mb_server_default_params();
    agent_serve_init(&o.agent, &o.sp);
    o.sp.api_key = getenv("MATCHBOX_API_KEY");
    if (o.sp.api_key && !*o.sp.api_key) o.sp.api_key = NULL;
    int rc;
    if (!parse(argc, argv, &o, &rc)) return rc;
    if (o.sp.api_key && !*o.sp.api_key) return cli_fail("--api-key is empty");
    if (!agent_serve_open(&o.agent, &o.sp)) return agent_serve_close(&o.agent), 1;
    o.sp.port = (int)o.port;
    o.sp.n_slots = (int)o.slots;
    o.sp.n_queue = (int)o.queue;
    o.sp.queue_timeout_ms = (int)(o.queue_timeout * 1000 + 0.5);
    o.sp.kv_budget = o.no_kv_share ? -1 : (long long)o.kv_budget;
    o.sp.max_body = (size_t)o.max_body;
    o.sp.header_timeout = (int)o.header_timeout;
    o.sp.session.n_ctx = o.c.sp.n_ctx;
    o.sp.session.swa_full = o.c.sp.swa_full;
    o.sp.session.kv_type_k = o.c.sp.kv_type_k;
    o.sp.session.kv_type_v = o.c.sp.kv_type_v;
    o.sp.session.n_threads = (int)o.n_threads; /* 0: the engine shares the cores out */
    o.sp.verbose = o.c.verbose;
    o.sp.chat_template = o.c.chat_template;
    o.sp.draft_max = o.c.spec.draft_max;
    o.sp.draft_min = o.c.spec.draft_min;
    o.sp.lookup_n = o.c.spec.lookup_n;
    char *id = model_id(o.c.model, o.alias), *file = model_id(o.c.model, NULL);
    if (!id || !file) return free(id), free(file), cli_fail("out of memory");
    o.sp.model_id = id;
    o.sp.model_file = file;

    /* Block the stop signals before any thread starts, so all inherit it.
     * A handler first: an ignored signal (SIGINT of a background job) is
     * dropped before sigwait() could see it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    mb_model *model = NULL, *draft = NULL;
    mb_server *server = NULL;
    o.c.verbose = 0; /* serve's -v logs requests, not the load */
    int loaded = cli_opts_load_model(&o.c, &model) && cli_opts_load_draft(&o.c, &draft);
    o.sp.draft_model = draft;
    if (!loaded || mb_server_start(model, &o.sp, &server) != MB_OK) {
        /* A load failure was printed; a start failure is the server's. */
        rc = loaded && tool_last_error()[0] ? cli_fail("%s", tool_last_error()) : 1;
        mb_model_free(draft);
        mb_model_free(model);
        agent_serve_close(&o.agent);
        free(id);
        free(file);
        return rc;
    }
    int ipv6 = strchr(o.sp.host, ':') != NULL;
    fprintf(stderr,
            "matchbox serve: '%s' on http://%s%s%s:%d/v1 (%d slots x %d threads, context %d, "
            "queue %d, decode steps %s%s)\n",
            id, ipv6 ? "[" : "", o.sp.host, ipv6 ? "]" : "", mb_server_port(server), o.sp.n_slots,
            mb_server_n_threads(server), mb_server_n_ctx(server), o.sp.n_queue,
            o.sp.batch && o.sp.n_slots > 1 ? "batched" : "per slot",
            o.sp.api_key ? ", API key required" : "");
    mb_engine_kv_stats kv;
    mb_server_kv_stats(server, &kv);
    if (kv.paged)
        fprintf(stderr,
                "matchbox serve: KV cache shared by the slots: %d blocks of %d positions, %.1f "
                "MiB (--kv-budget)\n",
                kv.n_blocks, kv.block_positions,
                (double)kv.n_blocks * (double)kv.block_bytes / (1 << 20));
    if (o.sp.oracle) fprintf(stderr, "matchbox serve: routing to the oracle %s\n", o.agent.url);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "matchbox serve: %s: finishing the requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    mb_server_stop(server);
    mb_model_free(draft);
    mb_model_free(model);
    agent_serve_close(&o.agent);
    free(id);
    free(file);
    fputs("matchbox serve: stopped\n", stderr);
    return 0;
}
