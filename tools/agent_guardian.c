/* The guardian's draft: generate an answer on the local model and score its
 * confidence from the logits of each chosen token (router.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "common/tool_error.h"

int agent_guardian_open(agent_guardian *g, mb_model *model, long n_ctx, long n_threads) {
    g->model = model;
    mb_session_params ssp = mb_session_default_params();
    ssp.n_ctx = (int)n_ctx;
    ssp.n_threads = (int)n_threads;
    if (mb_session_new(model, &ssp, &g->session) != MB_OK) return 0;
    /* A model without a chat template (stories260K) continues text: the
     * ChatML stand-in would only feed it tokens it never saw. */
    int fallback = 1;
    if (mb_chat_template_name(model, NULL, &g->tmpl, &fallback) != MB_OK || fallback)
        g->tmpl = NULL;
    return 1;
}

void agent_guardian_close(agent_guardian *g) {
    mb_session_free(g->session);
    g->session = NULL;
}

/* The prompt's tokens (malloc'ed), rendered as the guardian reads it: the
 * one rendering path the server's endpoints use too (score.h). */
static mb_token *prompt_ids(agent_guardian *g, const char *prompt, size_t *n) {
    mb_chat_message m = {"user", prompt};
    return mb_agent_render(g->model, g->tmpl, &m, 1, 1, n);
}

long agent_prompt_tokens(agent_guardian *g, const char *prompt) {
    size_t n = 0;
    mb_token *ids = prompt_ids(g, prompt, &n);
    free(ids);
    return ids ? (long)n : -1;
}

mb_status agent_draft_run(agent_guardian *g, const char *prompt, agent_draft *d) {
    memset(d, 0, sizeof *d);
    size_t n = 0;
    mb_token *ids = prompt_ids(g, prompt, &n);
    if (!ids) return tool_errorf(MB_ERR_NO_MEMORY, "guardian: the prompt could not be tokenized");
    int n_draft = g->router ? g->router->n_draft : g->n_predict;
    float low_p = g->router ? g->router->low_p : g->low_p;
    mb_status st =
        mb_agent_score(g->model, g->session, ids, n, n_draft, low_p, &d->feat, &d->text, &d->len);
    free(ids);
    d->conf = d->feat.conf;
    d->n_prompt = d->feat.n_prompt;
    d->cut = d->feat.cut;
    return st;
}

double agent_self_check(agent_guardian *g, const char *prompt, const char *draft) {
    static const char question[] = "\nIs the answer above correct and complete? Answer yes or no:";
    size_t np = strlen(prompt), nd = strlen(draft), nq = sizeof question - 1;
    char *text = malloc(np + nd + nq + 16);
    if (!text) return -1;
    snprintf(text, np + nd + nq + 16, "%s\n%s%s", prompt, draft, question);
    size_t n = 0;
    mb_token *ids = prompt_ids(g, text, &n);
    free(text);
    /* " yes" and " no" as the model spells them mid-text; their tokens may
     * share a prefix (a lone space), which is fed after the question. */
    mb_token yes[16], no[16];
    size_t ny = 0, nn = 0, k = 0;
    int ok = ids && mb_tokenize(g->model, " yes", 4, 0, 0, yes, 16, &ny) == MB_OK &&
             mb_tokenize(g->model, " no", 3, 0, 0, no, 16, &nn) == MB_OK;
    while (ok && k < ny && k < nn && yes[k] == no[k])
        k++;
    ok = ok && k < ny && k < nn;
    mb_token *all = ok ? realloc(ids, (n + k + 1) * sizeof *ids) : NULL;
    double p = -1;
    if (all) {
        ids = all;
        memcpy(ids + n, yes, k * sizeof *ids);
        n += k;
        int n_ctx = mb_session_n_ctx(g->session);
        size_t first = n > (size_t)n_ctx - 1 ? n - ((size_t)n_ctx - 1) : 0;
        if (mb_session_rewind(g->session, 0) == MB_OK &&
            mb_session_eval(g->session, ids + first, n - first) == MB_OK) {
            const float *l = mb_session_logits(g->session);
            p = 1 / (1 + exp((double)l[no[k]] - (double)l[yes[k]]));
        }
    }
    free(ids);
    return p;
}
