/* matchbox agent MODEL --oracle URL: the guardian (MODEL) answers on the
 * device and escalates to the oracle when its own draft is unsure, when the
 * input is longer than its context, or when the request is marked hard;
 * private requests never leave (docs/AGENT.md). Who answered and why goes
 * to stderr; the answer to stdout. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "agent/escalate.h"
#include "agent/redact.h"
#include "cli.h"
#include "commands.h"
#include "options.h"
#include "common/tool_clock.h"
#include "common/tool_error.h"

static void agent_usage(FILE *f) {
    fputs("usage: matchbox agent MODEL [PROMPT] --oracle URL [options]\n"
          "\n"
          "Answer with the local model (the guardian) and escalate to an OpenAI-compatible\n"
          "oracle when the guardian is unsure, the input is longer than its context, or the\n"
          "prompt is marked --hard. Personal data is redacted before anything is sent.\n"
          "Without PROMPT, each line of stdin is one prompt. See docs/AGENT.md.\n"
          "\n"
          "  --oracle URL            the oracle's base URL, e.g. https://api.openai.com/v1\n"
          "  --oracle-model NAME     the \"model\" of oracle requests (default: \"default\")\n"
          "  --oracle-key-env VAR    read the oracle's API key from $VAR (never logged)\n"
          "  --oracle-budget N       oracle tokens per day (default: unlimited)\n"
          "  --budget-state FILE     where the day's count is kept between runs (default:\n"
          "                          ~/.cache/matchbox/oracle-budget.json)\n"
          "  --oracle-timeout S      total seconds per oracle call (default 120)\n"
          "  --oracle-retries N      retries on connection errors, 429 and 5xx (default 3)\n"
          "  --audit-log FILE        append a JSON line per request: what was sent, where\n"
          "  --private               this prompt never leaves the device\n"
          "  --private-by-default    every prompt is private\n"
          "  --private-if-pii        a prompt with personal data stays on the device\n"
          "                          (default: it is sent redacted)\n"
          "  --hard                  escalate without a draft\n"
          "  --calibrate FILE        run the guardian on a labeled TSV (label [TAB split] TAB\n"
          "                          prompt; labels keep, escalate, private; split train or\n"
          "                          test): features, their AUC, a router fitted on train\n"
          "  --router FILE           route with a learned router (JSON from --router-out);\n"
          "                          with --calibrate, evaluate it instead of fitting\n"
          "  --router-out FILE       --calibrate writes the fitted router to FILE\n"
          "  --target-recall X       the escalation recall the fitted threshold keeps\n"
          "                          (cross-validated; default 0.9)\n"
          "  --max-entropy X         escalate when the draft's mean entropy (nats) is above\n"
          "  --min-logprob X         escalate when its mean token log-prob is below\n"
          "  --max-low-share X       escalate when more than this share of its tokens had\n"
          "                          p < --low-p (default 0.1)\n"
          "  --self-check P          also ask the guardian whether its draft is right, and\n"
          "                          escalate when its p(yes) is below P (default: off)\n"
          "  -n, --n-predict N       tokens of the guardian's draft (default 32)\n"
          "  --max-tokens N          tokens the oracle may answer with (default 512)\n"
          "  --chat-template-file F  the guardian renders the Jinja template in F\n"
          "  -c, --ctx-size N        the guardian's context (default: min(4096, trained))\n"
          "  -t, --threads N         threads (default: physical cores)\n",
          f);
    cli_opts_help(f, CLI_SAMPLING);
    fputs("                          (the guardian drafts greedily unless --temp is given)\n", f);
}

typedef struct {
    const char *model, *prompt, *oracle, *oracle_model, *key_env, *budget_state, *audit, *calibrate;
    const char *template_file;       /* --chat-template-file */
    const char *router, *router_out; /* --router, --router-out */
    double target_recall;
    long budget, retries, n_predict, max_tokens, n_ctx, n_threads;
    double timeout, self_check;
    int is_private, private_default, private_if_pii, hard;
    mb_router_thresholds th;
    mb_sampler_params sp;
} agent_opts;

static int parse(int argc, char **argv, agent_opts *o, int *rc) {
    *rc = 1;
    int seed_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        double d;
#define VALUE() ((v = cli_value(argc, argv, &i)) != NULL)
        int sf = cli_sampling_flag(argc, argv, &i, &o->sp, &seed_given);
        if (sf < 0) return 0;
        if (sf > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            agent_usage(stdout);
            *rc = 0;
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!VALUE()) return 0;
            o->model = v;
        } else if (!strcmp(a, "--chat-template-file")) {
            if (!VALUE()) return 0;
            o->template_file = v;
        } else if (!strcmp(a, "--oracle")) {
            if (!VALUE()) return 0;
            o->oracle = v;
        } else if (!strcmp(a, "--oracle-model")) {
            if (!VALUE()) return 0;
            o->oracle_model = v;
        } else if (!strcmp(a, "--oracle-key-env")) {
            if (!VALUE()) return 0;
            o->key_env = v;
        } else if (!strcmp(a, "--oracle-budget")) {
            if (!VALUE() || !cli_int(a, v, 0, 1L << 40, &o->budget)) return 0;
        } else if (!strcmp(a, "--budget-state")) {
            if (!VALUE()) return 0;
            o->budget_state = v;
        } else if (!strcmp(a, "--oracle-timeout")) {
            if (!VALUE() || !cli_float(a, v, &o->timeout)) return 0;
        } else if (!strcmp(a, "--oracle-retries")) {
            if (!VALUE() || !cli_int(a, v, 0, 20, &o->retries)) return 0;
        } else if (!strcmp(a, "--audit-log")) {
            if (!VALUE()) return 0;
            o->audit = v;
        } else if (!strcmp(a, "--private")) {
            o->is_private = 1;
        } else if (!strcmp(a, "--private-by-default")) {
            o->private_default = 1;
        } else if (!strcmp(a, "--private-if-pii")) {
            o->private_if_pii = 1;
        } else if (!strcmp(a, "--hard")) {
            o->hard = 1;
        } else if (!strcmp(a, "--calibrate")) {
            if (!VALUE()) return 0;
            o->calibrate = v;
        } else if (!strcmp(a, "--router")) {
            if (!VALUE()) return 0;
            o->router = v;
        } else if (!strcmp(a, "--router-out")) {
            if (!VALUE()) return 0;
            o->router_out = v;
        } else if (!strcmp(a, "--target-recall")) {
            if (!VALUE() || !cli_float(a, v, &o->target_recall)) return 0;
            if (o->target_recall <= 0 || o->target_recall > 1)
                return cli_fail("--target-recall must be in (0, 1]"), 0;
        } else if (!strcmp(a, "--self-check")) {
            if (!VALUE() || !cli_float(a, v, &o->self_check)) return 0;
        } else if (!strcmp(a, "--max-entropy")) {
            if (!VALUE() || !cli_float(a, v, &o->th.max_mean_entropy)) return 0;
        } else if (!strcmp(a, "--min-logprob")) {
            if (!VALUE() || !cli_float(a, v, &o->th.min_mean_logprob)) return 0;
        } else if (!strcmp(a, "--max-low-share")) {
            if (!VALUE() || !cli_float(a, v, &o->th.max_low_share)) return 0;
        } else if (!strcmp(a, "--low-p")) {
            if (!VALUE() || !cli_float(a, v, &d)) return 0;
            if (d <= 0 || d >= 1) return cli_fail("--low-p must be between 0 and 1"), 0;
            o->th.low_p = (float)d;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (!VALUE() || !cli_int(a, v, 1, 1 << 20, &o->n_predict)) return 0;
        } else if (!strcmp(a, "--max-tokens")) {
            if (!VALUE() || !cli_int(a, v, 1, 1 << 20, &o->max_tokens)) return 0;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!VALUE() || !cli_int(a, v, 0, 1 << 24, &o->n_ctx)) return 0;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!VALUE() || !cli_int(a, v, 1, 1024, &o->n_threads)) return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_fail("unknown option '%s' (see matchbox agent --help)", a), 0;
        } else if (!o->model && cli_looks_like_model(a)) {
            o->model = a;
        } else if (!o->prompt) {
            o->prompt = a;
        } else {
            return cli_fail("unexpected argument '%s'", a), 0;
        }
#undef VALUE
    }
    if (!o->model && !(o->model = cli_default_model())) return 0;
    return 1;
}

typedef struct {
    agent_opts *o;
    agent_guardian g;
    mb_agent_oracle ao;
} agent_state;

static bool print_piece(void *user, const char *piece, size_t len) {
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return true;
}

/* Answer one prompt; 0 on success. */
static int answer(agent_state *as, const char *prompt) {
    agent_opts *o = as->o;
    double t0 = tool_now();
    char reason[512], why[400];
    mb_route_input in = {.has_oracle = as->ao.oracle != NULL,
                         .is_private =
                             o->is_private || o->private_default ||
                             (o->private_if_pii && mb_text_has_pii(prompt, strlen(prompt))),
                         .hard = o->hard,
                         .n_prompt = agent_prompt_tokens(&as->g, prompt),
                         .n_ctx = mb_session_n_ctx(as->g.session)};
    mb_route route = mb_route_before(&in, why, sizeof why);
    agent_draft d = {0};
    if (route != MB_ROUTE_ORACLE) {
        if (agent_draft_run(&as->g, prompt, &d) != MB_OK) return cli_fail("%s", tool_last_error());
        char fj[512];
        mb_agent_features_json(&d.feat, fj, sizeof fj);
        fprintf(stderr,
                "agent: draft of %d tokens: mean log-prob %.3f, mean entropy %.3f, "
                "low-p share %.2f\nagent: features %s\n",
                d.conf.n_tokens, d.conf.mean_logprob, d.conf.mean_entropy, d.conf.low_share, fj);
        if (route == MB_ROUTE_DRAFT) {
            if (mb_router_decide(&d.feat, as->g.router, &o->th, why, sizeof why))
                route = MB_ROUTE_ORACLE;
            fprintf(stderr, "agent: decision %s (%s)\n",
                    route == MB_ROUTE_ORACLE ? "escalate" : "keep", why);
        }
        if (route == MB_ROUTE_DRAFT && o->self_check > 0) {
            double p = agent_self_check(&as->g, prompt, d.text);
            fprintf(stderr, "agent: self-check p(yes) %.3f\n", p);
            if (p >= 0 && p < o->self_check) {
                snprintf(why, sizeof why, "self-check: p(yes) %.3f < %.3f", p, o->self_check);
                route = MB_ROUTE_ORACLE;
            }
        }
    }
    if (route == MB_ROUTE_ORACLE) {
        mb_oracle_msg m = {"user", prompt};
        mb_escalation e;
        if (mb_agent_escalate(&as->ao, &m, 1, (int)o->max_tokens, o->sp.temperature, why,
                              print_piece, NULL, &e, reason, sizeof reason) == MB_OK) {
            fputc('\n', stdout);
            fprintf(stderr, "agent: answered by oracle (%s; %d redactions; %d+%d tokens)\n", reason,
                    e.redactions, e.prompt_tokens, e.completion_tokens);
            mb_escalation_free(&e);
            free(d.text);
            return 0;
        }
        fprintf(stderr, "agent: the oracle did not answer: %s\n", tool_last_error());
        if (!d.text && agent_draft_run(&as->g, prompt, &d) != MB_OK)
            return cli_fail("%s", tool_last_error());
    } else {
        snprintf(reason, sizeof reason, "%s", why);
        mb_agent_audit_local(&as->ao, reason, tool_now() - t0);
    }
    fwrite(d.text, 1, d.len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    fprintf(stderr, "agent: answered by guardian (%s%s)\n", reason,
            d.cut ? "; the input was cut to the context" : "");
    free(d.text);
    return 0;
}

/* One prompt per line of stdin, however long the line; 0 if all answered. */
static int answer_lines(agent_state *as) {
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (ssize_t n; (n = getline(&line, &cap, stdin)) >= 0;) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0) continue;
        if (answer(as, line)) rc = 1;
    }
    if (ferror(stdin)) rc = cli_fail("reading stdin: %s", strerror(errno));
    free(line);
    return rc;
}

static char *default_state_path(void) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%.4000s", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%.4000s/.cache", home);
    else
        return NULL;
    mkdir(dir, 0700);
    strcat(dir, "/matchbox");
    mkdir(dir, 0700); /* an existing one is fine; a failure shows at the first save */
    char *p = malloc(strlen(dir) + 32);
    if (p) sprintf(p, "%s/oracle-budget.json", dir);
    return p;
}

static int open_oracle(agent_opts *o, agent_state *as, char **state) {
    if (!o->oracle) return 1;
    const char *key = NULL;
    if (o->key_env) {
        key = getenv(o->key_env);
        if (!key || !*key)
            return cli_fail("--oracle-key-env %s: the variable is not set", o->key_env), 0;
    }
    mb_oracle_config oc = {.base_url = o->oracle,
                           .model = o->oracle_model,
                           .api_key = key,
                           .timeout_s = o->timeout,
                           .max_retries = (int)o->retries};
    if (mb_oracle_new(&oc, &as->ao.oracle) != MB_OK) return cli_fail("%s", tool_last_error()), 0;
    as->ao.url = o->oracle;
    as->ao.model = o->oracle_model ? o->oracle_model : "default";
    if (o->budget > 0) {
        const char *path = o->budget_state;
        if (!path) path = *state = default_state_path();
        if (mb_budget_new(o->budget, path, &as->ao.budget) != MB_OK)
            return cli_fail("%s", tool_last_error()), 0;
    }
    if (o->audit && mb_audit_open(o->audit, &as->ao.audit) != MB_OK)
        return cli_fail("%s", tool_last_error()), 0;
    return 1;
}

int cmd_agent(int argc, char **argv) {
    agent_opts o = {.retries = -1, .n_predict = 32, .max_tokens = 512, .target_recall = 0.9};
    o.th = mb_router_default_thresholds();
    o.sp = mb_sampler_default_params();
    o.sp.temperature = 0;
    int rc;
    if (!parse(argc, argv, &o, &rc)) return rc;
    if (!o.oracle && !o.calibrate)
        return cli_fail("--oracle URL is needed (or --calibrate FILE; see matchbox agent --help)");
    agent_state as = {.o = &o};
    mb_router_lr router;
    if (o.router) {
        if (mb_router_lr_load(o.router, &router) != MB_OK) return cli_fail("%s", tool_last_error());
        as.g.router = &router;
    }
    char *state = NULL;
    mb_model *model = NULL;
    mb_model_params mp = mb_model_default_params();
    mp.repack = 1; /* it only runs the model */
    rc = 1;
    if (mb_model_load(o.model, &mp, &model) != MB_OK) {
        cli_fail("%s", tool_last_error());
        goto done;
    }
    if (!cli_chat_template_file(model, o.template_file)) goto done;
    as.g.sp = o.sp;
    as.g.model_path = o.model;
    as.g.n_predict = (int)o.n_predict;
    as.g.low_p = o.th.low_p;
    if (!agent_guardian_open(&as.g, model, o.n_ctx, o.n_threads)) {
        cli_fail("%s", tool_last_error());
        goto done;
    }
    if (o.calibrate) {
        rc = agent_calibrate(&as.g, o.calibrate, &o.th, o.router_out, o.target_recall);
        goto done;
    }
    if (!open_oracle(&o, &as, &state)) goto done;
    if (o.prompt) {
        rc = answer(&as, o.prompt);
        goto done;
    }
    rc = answer_lines(&as);
done:
    agent_guardian_close(&as.g);
    mb_oracle_free(as.ao.oracle);
    mb_budget_free(as.ao.budget);
    mb_audit_close(as.ao.audit);
    mb_model_free(model);
    free(state);
    return rc;
}
