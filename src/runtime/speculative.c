/* Speculative decoding: draft up to K tokens after the pending one (the
 * token chosen last, not yet fed), feed the pending token and the drafts in
 * one batched forward pass, which gives the target's logits after each,
 * and keep the drafts the target agrees with. The positions of the rejected
 * ones are dropped with mb_session_rewind (cheap for windowed layers too:
 * K is far inside a ring's margin).
 *
 * Exactness. Greedy: a draft is kept when it is the argmax the plain loop
 * would pick, so the tokens are the plain loop's. Sampling: draft x, drawn
 * from the drafter's distribution q, is kept with probability
 * min(1, p(x)/q(x)), where p is the target's sampling distribution at that
 * position (mb_sampler_dist: penalties from the tokens accepted so far, in
 * order, then top-k/top-p/min-p/temperature); on rejection the token is
 * drawn from max(0, p - q) normalized, and after K kept drafts a bonus
 * token is sampled from the last logits. Each token is then distributed as
 * p, whatever q is (Leviathan et al. 2023; Chen et al. 2023). Prompt
 * lookup proposes tokens without a distribution: q is one-hot. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/params.h"
#include "runtime/draft.h"
#include "runtime/generate.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

enum { DRAFT_MAX_LIMIT = 256 };

mb_speculative_params mb_speculative_default_params(void) {
    return (mb_speculative_params){.struct_size = sizeof(mb_speculative_params),
                                   .draft = NULL,
                                   .draft_max = 6,
                                   .draft_min = 1,
                                   .lookup_n = 0};
}

int mb_speculative_on(const mb_speculative_params *sp) {
    return sp && (sp->draft || sp->lookup_n > 0);
}

/* The same vocabulary: size, and the text of the first tokens (specials
 * and bytes) and of every stride-th one after. */
static mb_status check_vocab(const mb_model *t, const mb_model *d) {
    int n = mb_model_n_vocab(t), nd = mb_model_n_vocab(d);
    if (n != nd)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "the draft model has %d tokens and the model %d: a draft needs the same "
                         "vocabulary",
                         nd, n);
    int stride = n > 4096 ? n / 1024 : 1;
    for (int id = 0; id < n; id += id < 512 ? 1 : stride) {
        char a[256], b[256];
        size_t na = 0, nb = 0;
        mb_status sa = mb_token_to_piece(t, id, 1, a, sizeof a, &na);
        mb_status sb = mb_token_to_piece(d, id, 1, b, sizeof b, &nb);
        if (sa != sb || na != nb || (sa == MB_OK && memcmp(a, b, na)))
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "token %d is '%.*s' in the model but '%.*s' in the draft model: a "
                             "draft needs the same vocabulary",
                             id, sa ? 0 : (int)na, a, sb ? 0 : (int)nb, b);
    }
    if (mb_token_bos(t) != mb_token_bos(d) || mb_token_eos(t) != mb_token_eos(d))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "the draft model's BOS/EOS tokens (%d/%d) are not the model's (%d/%d)",
                         mb_token_bos(d), mb_token_eos(d), mb_token_bos(t), mb_token_eos(t));
    return MB_OK;
}

mb_status mb_speculative_check(const mb_session *s, const mb_speculative_params *user,
                               mb_speculative_params *out) {
    mb_speculative_params local, *sp_out = out ? out : &local;
    *sp_out = mb_speculative_default_params();
    mb_status st = mb_params_merge(sp_out, user, sizeof *sp_out,
                                   MB_PARAMS_SIZE_UPTO(mb_speculative_params, lookup_n),
                                   "mb_speculative_params");
    if (st) return st;
    const mb_speculative_params sp = *sp_out;
    if (sp.draft_max < 1 || sp.draft_max > DRAFT_MAX_LIMIT || sp.draft_min < 0 || sp.lookup_n < 0 ||
        sp.lookup_n > 64)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "speculative settings out of range (draft_max %d must be 1..%d, "
                         "draft_min %d at least 0, lookup_n %d 0..64)",
                         sp.draft_max, DRAFT_MAX_LIMIT, sp.draft_min, sp.lookup_n);
    if (sp.draft == s)
        return mb_errorf(MB_ERR_INVALID_ARG, "the draft session is the session itself");
    if (sp.draft) return check_vocab(s->model, sp.draft->model);
    return MB_OK;
}

typedef struct {
    mb_speculative_params sp;
    mb_gen *g;
    mb_token *tokens;     /* [k_max + 1]: the pending token, then the drafts */
    float *logits;        /* [(k_max + 1) x n_vocab]: the target's after each */
    float *p;             /* [n_vocab]: the target's distribution at one position */
    float *q;             /* [k_max x n_vocab]: the draft model's distributions (sampling) */
    mb_token *ctx;        /* [n_ctx + 1]: the tokens so far, for prompt lookup */
    mb_sampler *dsampler; /* the draft model's draws (sampling) */
} spec;

static void spec_free(spec *x) {
    free(x->tokens);
    free(x->logits);
    free(x->p);
    free(x->q);
    free(x->ctx);
    mb_sampler_free(x->dsampler);
}

static mb_status spec_init(spec *x, mb_gen *g, const mb_speculative_params *sp) {
    memset(x, 0, sizeof *x);
    x->sp = *sp;
    x->g = g;
    const size_t k = (size_t)x->sp.draft_max, v = (size_t)g->n_vocab;
    const int sampling = !mb_sampler_is_greedy(g->sampler);
    x->tokens = malloc((k + 1) * sizeof *x->tokens);
    x->logits = malloc((k + 1) * v * sizeof *x->logits);
    x->p = malloc(v * sizeof *x->p);
    if (x->sp.draft && sampling) x->q = malloc(k * v * sizeof *x->q);
    if (!x->sp.draft) x->ctx = malloc(((size_t)g->n_ctx + 1) * sizeof *x->ctx);
    mb_status st = MB_OK;
    if (!x->tokens || !x->logits || !x->p || (x->sp.draft && sampling && !x->q) ||
        (!x->sp.draft && !x->ctx))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (!st && x->sp.draft && sampling) {
        /* The draft's own generator, so the target's draws stay its own;
         * no penalties (q may be any distribution the drafts come from). */
        mb_sampler_params dp = mb_sampler_get_params(g->sampler);
        dp.repeat_penalty = 1.0f;
        dp.presence_penalty = dp.frequency_penalty = 0;
        dp.seed ^= 0x9e3779b97f4a7c15ULL;
        st = mb_sampler_new(&dp, g->n_vocab, &x->dsampler);
    }
    if (st) spec_free(x);
    return st;
}

/* Up to K drafts after PENDING into x->tokens + 1. */
static int draft(spec *x, mb_token pending, int k) {
    mb_session *s = x->g->s;
    if (x->sp.draft)
        return mb_draft_model(x->sp.draft, s, pending, k, x->dsampler, x->q, x->tokens + 1);
    memcpy(x->ctx, s->history, (size_t)s->n_past * sizeof *x->ctx);
    x->ctx[s->n_past] = pending;
    return mb_draft_lookup(x->ctx, s->n_past + 1, x->sp.lookup_n, k, x->tokens + 1);
}

/* The target's choice at a position whose logits are ROW, given draft D
 * (drafted as the I-th, 0-based); *kept tells whether it is D. */
static mb_token verify(spec *x, const float *row, mb_token d, int i, int *kept) {
    mb_sampler *smp = x->g->sampler;
    if (mb_sampler_is_greedy(smp)) {
        mb_token t = mb_sampler_sample(smp, row);
        *kept = t == d;
        return t;
    }
    const int n_vocab = x->g->n_vocab;
    float *p = x->p;
    mb_sampler_dist(smp, row, p);
    const float *q = x->q ? x->q + (size_t)i * n_vocab : NULL;
    float qd = q ? q[d] : 1.0f;
    /* Keep D with probability min(1, p(d) / q(d)). */
    if (qd > 0 && mb_sampler_uniform(smp) * qd < p[d]) {
        *kept = 1;
        return d;
    }
    *kept = 0;
    /* Rejected: draw from max(0, p - q), normalized by the draw. */
    if (q)
        for (int v = 0; v < n_vocab; v++)
            p[v] = p[v] > q[v] ? p[v] - q[v] : 0;
    else
        p[d] = 0;
    mb_token t = mb_sampler_draw(smp, p);
    /* p == q leaves nothing (then a rejection has probability 0): p itself. */
    return t >= 0 ? t : mb_sampler_sample(smp, row);
}

/* Finish with the target holding N_KEEP positions (the tokens plain
 * generation would have fed) and, as plain generation leaves it, the
 * logits of the last of them: ROW. */
static mb_status settle(mb_session *s, int n_keep, const float *row, int n_vocab) {
    if (s->n_past > n_keep) {
        mb_status st = mb_session_rewind(s, n_keep);
        if (st) return st;
    }
    if (row) memcpy(s->fwd->logits, row, (size_t)n_vocab * sizeof(float));
    return MB_OK;
}

/* One step: PENDING and its drafts through the target. Returns 0 to go on
 * with *pending, 1 when generation stops, -1 on error (*err). */
static int step(spec *x, mb_token *pending, mb_status *err) {
    mb_gen *g = x->g;
    mb_session *s = g->s;
    mb_generate_stats *st = g->st;
    const int n = s->n_past, n_vocab = g->n_vocab;
    /* Room: the pending token and K drafts must fit in the context, and
     * more than the tokens still wanted is wasted work. */
    int k = x->sp.draft_max;
    if (k > g->n_ctx - n - 1) k = g->n_ctx - n - 1;
    if (g->params->n_predict >= 0 && k > g->params->n_predict - st->n_generated - 1)
        k = g->params->n_predict - st->n_generated - 1;
    int nd = k > 0 ? draft(x, *pending, k) : 0;
    mb_status status;
    if (nd == 0 || nd < x->sp.draft_min) {
        /* A plain step. */
        status = mb_session_eval(s, pending, 1);
        if (status == MB_ERR_ABORTED) return st->stop_reason = MB_STOP_ABORTED, 1;
        if (status) return *err = status, -1;
        st->n_forwards++;
        const float *logits = mb_session_logits(s);
        *pending = mb_sampler_sample(g->sampler, logits);
        int r = mb_gen_emit(g, *pending, logits, s->n_past);
        if (r < 0) *err = g->err;
        return r;
    }
    x->tokens[0] = *pending;
    status = mb_session_eval_all(s, x->tokens, (size_t)nd + 1, x->logits);
    if (status == MB_ERR_ABORTED) return st->stop_reason = MB_STOP_ABORTED, 1;
    if (status) return *err = status, -1;
    st->n_forwards++;
    st->n_drafted += nd;
    for (int i = 0; i <= nd; i++) {
        const float *row = x->logits + (size_t)i * n_vocab;
        int kept = 0;
        mb_token t = i < nd ? verify(x, row, x->tokens[i + 1], i, &kept)
                            : mb_sampler_sample(g->sampler, row);
        st->n_accepted += kept;
        /* Plain generation would have fed the pending token and the i
         * drafts before T. */
        int r = mb_gen_emit(g, t, row, n + 1 + i);
        if (r) {
            mb_status rs = settle(s, n + 1 + i, row, n_vocab);
            if (r < 0) return *err = g->err, -1;
            if (rs) return *err = rs, -1;
            return 1;
        }
        if (!kept) {
            *pending = t;
            if ((status = settle(s, n + 1 + i, NULL, n_vocab))) return *err = status, -1;
            return 0;
        }
    }
    return -1; /* not reached: the bonus token is never "kept" */
}

mb_status mb_speculative_generate(mb_gen *g, const mb_speculative_params *sp) {
    if (g->params->n_predict == 0) return MB_OK;
    spec x;
    mb_status status = spec_init(&x, g, sp);
    if (status) return status;
    /* The first token comes from the prefill's logits, as in plain
     * generation. */
    mb_session *s = g->s;
    const float *logits = mb_session_logits(s);
    mb_token pending = mb_sampler_sample(g->sampler, logits);
    int r = mb_gen_emit(g, pending, logits, s->n_past);
    if (r < 0) status = g->err;
    while (r == 0)
        r = step(&x, &pending, &status);
    spec_free(&x);
    return r < 0 ? status : MB_OK;
}
