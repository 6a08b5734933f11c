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

/* The prompt's tokens (malloc'ed), rendered as the guardian reads it. */
static mb_token *prompt_ids(agent_guardian *g, const char *prompt, size_t *n) {
    char *text = NULL;
    size_t len = strlen(prompt);
    int add_special = 1, parse_special = 0;
    if (g->tmpl) {
        mb_chat_message m = {"user", prompt};
        size_t need = 0;
        mb_chat_apply(g->model, g->tmpl, &m, 1, 1, NULL, 0, &need);
        if (!(text = malloc(need + 1)) ||
            mb_chat_apply(g->model, g->tmpl, &m, 1, 1, text, need + 1, &len) != MB_OK) {
            free(text);
            return NULL;
        }
        add_special = mb_chat_add_special(g->model, text, len);
        parse_special = 1;
    }
    const char *src = text ? text : prompt;
    size_t need = 0;
    mb_tokenize(g->model, src, len, add_special, parse_special, NULL, 0, &need);
    mb_token *ids = malloc((need + 1) * sizeof *ids);
    if (ids && mb_tokenize(g->model, src, len, add_special, parse_special, ids, need, n) != MB_OK) {
        free(ids);
        ids = NULL;
    }
    free(text);
    return ids;
}

long agent_prompt_tokens(agent_guardian *g, const char *prompt) {
    size_t n = 0;
    mb_token *ids = prompt_ids(g, prompt, &n);
    free(ids);
    return ids ? (long)n : -1;
}

typedef struct {
    agent_draft *d;
    mb_confidence_acc acc;
    const mb_model *model;
    size_t cap;
} draft_state;

static int on_token(mb_token id, const float *logits, int n_vocab, void *user) {
    draft_state *s = user;
    if (!mb_token_is_eog(s->model, id)) mb_confidence_add(&s->acc, logits, n_vocab, id);
    return 0;
}

static int on_text(const char *text, size_t len, void *user) {
    draft_state *s = user;
    agent_draft *d = s->d;
    if (d->len + len + 1 > s->cap) {
        size_t cap = (d->len + len + 1) * 2;
        char *t = realloc(d->text, cap);
        if (!t) return 1;
        d->text = t;
        s->cap = cap;
    }
    memcpy(d->text + d->len, text, len);
    d->len += len;
    d->text[d->len] = '\0';
    return 0;
}

mb_status agent_draft_run(agent_guardian *g, const char *prompt, agent_draft *d) {
    memset(d, 0, sizeof *d);
    size_t n = 0;
    mb_token *ids = prompt_ids(g, prompt, &n);
    if (!ids) return tool_errorf(MB_ERR_NO_MEMORY, "guardian: the prompt could not be tokenized");
    d->n_prompt = (long)n;
    int n_ctx = mb_session_n_ctx(g->session);
    int room = g->n_predict > 0 && g->n_predict < n_ctx / 2 ? g->n_predict : n_ctx / 2;
    size_t first = 0;
    if (n + (size_t)room > (size_t)n_ctx) { /* keep the end, which holds the question */
        first = n - (size_t)(n_ctx - room);
        d->cut = 1;
    }
    draft_state s = {.d = d, .model = g->model};
    mb_confidence_init(&s.acc, g->low_p);
    mb_sampler *sampler = NULL;
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = room;
    gp.on_text = on_text;
    gp.on_token = on_token;
    gp.user = &s;
    mb_generate_stats st;
    mb_status status = mb_session_rewind(g->session, 0);
    if (!status) status = mb_sampler_new(&g->sp, mb_model_n_vocab(g->model), &sampler);
    if (!status) status = mb_generate(g->session, sampler, ids + first, n - first, &gp, &st);
    mb_sampler_free(sampler);
    free(ids);
    if (!d->text && !(d->text = calloc(1, 1))) status = MB_ERR_NO_MEMORY;
    d->conf = mb_confidence_get(&s.acc);
    if (status) {
        free(d->text);
        d->text = NULL;
    }
    return status;
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
