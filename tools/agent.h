/* `matchbox agent`: the guardian's draft (agent_guardian.c), the terminal
 * front end (cmd_agent.c) and the router calibration (agent_calibrate.c). */
#ifndef MB_TOOLS_AGENT_H
#define MB_TOOLS_AGENT_H

#include <stddef.h>

#include <matchbox.h>

#include "agent/router.h"
#include "agent/router_lr.h"
#include "agent/score.h"

typedef struct {
    mb_model *model;
    mb_session *session;
    mb_sampler_params sp;
    const char *tmpl; /* chat template family; NULL: the prompt is fed as plain text */
    int n_predict;    /* the draft's tokens (a router file sets its own) */
    float low_p;
    const mb_router_lr *router; /* NULL: the thresholds decide */
    const char *model_path;     /* named in a fitted router file */
} agent_guardian;

typedef struct {
    char *text; /* the draft (free()) */
    size_t len;
    mb_confidence conf;
    mb_agent_features feat; /* what the router reads (score.h) */
    long n_prompt;          /* the prompt's tokens, before any cut */
    int cut;                /* the prompt was longer than the context: only its end was read */
} agent_draft;

/* Open a session on MODEL (N_CTX 0: the default) and pick the prompt format:
 * the model's chat template, or plain text when the file has none. */
int agent_guardian_open(agent_guardian *g, mb_model *model, long n_ctx, long n_threads);
void agent_guardian_close(agent_guardian *g);
/* The prompt's length in tokens, as the guardian would read it. */
long agent_prompt_tokens(agent_guardian *g, const char *prompt);
/* Draft an answer to PROMPT (greedy) and score it (mb_agent_score).
 * Returns an mb_status. */
mb_status agent_draft_run(agent_guardian *g, const char *prompt, agent_draft *d);

/* The self-check: the guardian reads its prompt and draft followed by a
 * yes/no question about the draft; returns p(yes) / (p(yes) + p(no)) of its
 * next token, or -1 on failure. */
double agent_self_check(agent_guardian *g, const char *prompt, const char *draft);

/* --calibrate TSV: the features of a labeled set, their AUC, and a router
 * fitted on its train part (written to ROUTER_OUT when not NULL), or the
 * router G->router evaluated. */
int agent_calibrate(agent_guardian *g, const char *tsv, const mb_router_thresholds *t,
                    const char *router_out, double target_recall);

#endif
