/* `matchbox serve --oracle URL ...` (agent_serve.h). The budget of a server
 * lives in memory: it starts at 0 when the server does (docs/AGENT.md). */
#include "agent_serve.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/tool_error.h"

const char agent_serve_help[] =
    "\n"
    "The agent (docs/AGENT.md): with --oracle, each completion is drafted by this model\n"
    "and escalated to the oracle when unsure, marked hard, or too long for its context;\n"
    "private requests never leave. Responses say who answered in \"matchbox\" and in the\n"
    "header X-Matchbox-Answered-By.\n"
    "  --oracle URL            OpenAI-compatible base URL, e.g. https://api.openai.com/v1\n"
    "  --oracle-model NAME     the \"model\" of oracle requests (default \"default\")\n"
    "  --oracle-key-env VAR    read the oracle's API key from $VAR (never logged)\n"
    "  --oracle-budget N       oracle tokens per day, counted in memory (default: no limit)\n"
    "  --oracle-timeout S      total seconds per oracle call (default 120)\n"
    "  --oracle-retries N      retries on connection errors, 429 and 5xx (default 3)\n"
    "  --audit-log FILE        append one JSON line per routed request\n"
    "  --private-by-default    every request is private (never leaves the device)\n"
    "  --private-if-pii        a request with personal data is private\n"
    "  --router FILE           route with a learned router (matchbox agent --calibrate\n"
    "                          --router-out FILE; assets/router-*.json)\n"
    "  --max-entropy X, --min-logprob X, --max-low-share X, --low-p P\n"
    "                          the thresholds used without --router\n";

void agent_serve_init(agent_serve_opts *o, mb_server_params *sp) {
    memset(o, 0, sizeof *o);
    o->retries = -1;
    sp->thresholds = mb_router_default_thresholds();
}

int agent_serve_flag(int argc, char **argv, int *i, agent_serve_opts *o, mb_server_params *sp) {
    const char *a = argv[*i], *v = NULL;
    double d;
#define VALUE() ((v = cli_value(argc, argv, i)) != NULL)
    if (!strcmp(a, "--oracle")) {
        if (!VALUE()) return -1;
        o->url = v;
    } else if (!strcmp(a, "--oracle-model")) {
        if (!VALUE()) return -1;
        o->model = v;
    } else if (!strcmp(a, "--oracle-key-env")) {
        if (!VALUE()) return -1;
        o->key_env = v;
    } else if (!strcmp(a, "--oracle-budget")) {
        if (!VALUE() || !cli_int(a, v, 0, 1L << 40, &o->budget)) return -1;
    } else if (!strcmp(a, "--oracle-timeout")) {
        if (!VALUE() || !cli_float(a, v, &o->timeout)) return -1;
    } else if (!strcmp(a, "--oracle-retries")) {
        if (!VALUE() || !cli_int(a, v, 0, 20, &o->retries)) return -1;
    } else if (!strcmp(a, "--audit-log")) {
        if (!VALUE()) return -1;
        o->audit = v;
    } else if (!strcmp(a, "--router")) {
        if (!VALUE()) return -1;
        if (mb_router_lr_load(v, &o->router) != MB_OK) return cli_fail("%s", tool_last_error()), -1;
        sp->router = &o->router;
    } else if (!strcmp(a, "--private-by-default")) {
        sp->private_by_default = 1;
    } else if (!strcmp(a, "--private-if-pii")) {
        sp->private_if_pii = 1;
    } else if (!strcmp(a, "--max-entropy")) {
        if (!VALUE() || !cli_float(a, v, &sp->thresholds.max_mean_entropy)) return -1;
    } else if (!strcmp(a, "--min-logprob")) {
        if (!VALUE() || !cli_float(a, v, &sp->thresholds.min_mean_logprob)) return -1;
    } else if (!strcmp(a, "--max-low-share")) {
        if (!VALUE() || !cli_float(a, v, &sp->thresholds.max_low_share)) return -1;
    } else if (!strcmp(a, "--low-p")) {
        if (!VALUE() || !cli_float(a, v, &d)) return -1;
        if (d <= 0 || d >= 1) return cli_fail("--low-p must be between 0 and 1"), -1;
        sp->thresholds.low_p = (float)d;
    } else {
        return 0;
    }
#undef VALUE
    return 1;
}

int agent_serve_open(agent_serve_opts *o, mb_server_params *sp) {
    if (!o->url) {
        if (o->key_env || o->budget || o->audit || o->model)
            return cli_fail("--oracle-* and --audit-log need --oracle URL"), 0;
        return 1;
    }
    const char *key = NULL;
    if (o->key_env && (!(key = getenv(o->key_env)) || !*key))
        return cli_fail("--oracle-key-env %s: the variable is not set", o->key_env), 0;
    mb_oracle_config oc = {.base_url = o->url,
                           .model = o->model,
                           .api_key = key,
                           .timeout_s = o->timeout,
                           .max_retries = (int)o->retries};
    if (mb_oracle_new(&oc, &o->ao.oracle) != MB_OK) return cli_fail("%s", tool_last_error()), 0;
    o->ao.url = o->url;
    o->ao.model = o->model ? o->model : "default";
    if (o->budget > 0 && mb_budget_new(o->budget, NULL, &o->ao.budget) != MB_OK)
        return cli_fail("%s", tool_last_error()), 0;
    if (o->audit && mb_audit_open(o->audit, &o->ao.audit) != MB_OK)
        return cli_fail("%s", tool_last_error()), 0;
    sp->oracle = &o->ao;
    return 1;
}

void agent_serve_close(agent_serve_opts *o) {
    mb_oracle_free(o->ao.oracle);
    mb_budget_free(o->ao.budget);
    mb_audit_close(o->ao.audit);
    memset(&o->ao, 0, sizeof o->ao);
}
