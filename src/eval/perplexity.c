/* Chunked perplexity and KL divergence; the method is described in
 * matchbox/eval.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/kld.h"
#include "matchbox/eval.h"
#include "runtime/log_softmax.h"

const double mb_perplexity_pct[MB_PERPLEXITY_N_PCT] = {100, 99.9, 99, 95, 90,  75, 50,
                                                       25,  10,   5,  1,  0.1, 0};

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentiles (nearest rank over the sorted values). */
static void percentiles(double *v, uint64_t n, double *out) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    for (int i = 0; i < MB_PERPLEXITY_N_PCT; i++) {
        double rank = mb_perplexity_pct[i] / 100.0 * (double)(n - 1);
        out[i] = n ? v[(uint64_t)llround(rank)] : 0.0;
    }
}

/* Mean and standard error of the mean from sum and sum of squares. */
static void mean_err(double sum, double sum2, uint64_t n, double *mean, double *err) {
    *mean = sum / (double)n;
    double var = sum2 / (double)n - *mean * *mean;
    *err = n > 1 && var > 0 ? sqrt(var / (double)(n - 1)) : 0.0;
}

typedef struct {
    double nll, nll2, nll_base, nll_base2, kld, kld2, dp, dp2;
    double dl, dl2; /* per token NLL(model) - NLL(base): the paired difference */
    uint64_t n, same_top;
    double *klds, *dps; /* per scored token, for the percentiles */
} accum;

/* Score one position: LOGITS predict TOK. BASE is the base model's log
 * probabilities (NULL when not comparing). */
static void score(accum *a, const float *logits, int n_vocab, mb_token tok, const float *base,
                  float *logp) {
    const double log_z = mb_log_softmax(logits, n_vocab, base ? logp : NULL);
    const double nll = log_z - logits[tok];
    a->nll += nll;
    a->nll2 += nll * nll;
    if (base) {
        double kld = 0;
        for (int v = 0; v < n_vocab; v++) {
            const double pb = exp((double)base[v]);
            kld += pb * ((double)base[v] - (double)logp[v]);
        }
        const double dp = exp((double)logp[tok]) - exp((double)base[tok]);
        a->nll_base -= base[tok];
        a->nll_base2 += (double)base[tok] * base[tok];
        const double dl = nll + (double)base[tok];
        a->dl += dl;
        a->dl2 += dl * dl;
        a->kld += kld;
        a->kld2 += kld * kld;
        a->dp += dp;
        a->dp2 += dp * dp;
        a->same_top += argmax(logp, n_vocab) == argmax(base, n_vocab);
        a->klds[a->n] = kld;
        a->dps[a->n] = dp;
    }
    a->n++;
}

static void finish(accum *a, mb_perplexity_result *r) {
    double mean, err;
    mean_err(a->nll, a->nll2, a->n, &mean, &err);
    r->ppl = exp(mean);
    r->ppl_err = err * r->ppl;
    r->n_scored = a->n;
    if (!r->has_kld) return;
    mean_err(a->nll_base, a->nll_base2, a->n, &mean, &err);
    r->ppl_base = exp(mean);
    r->ppl_base_err = err * r->ppl_base;
    /* The paired statistic: both models scored the same tokens, so the
     * error of the mean difference is far below either PPL's error. */
    mean_err(a->dl, a->dl2, a->n, &r->ln_ratio, &r->ln_ratio_err);
    mean_err(a->kld, a->kld2, a->n, &r->kld, &r->kld_err);
    mean_err(a->dp, a->dp2, a->n, &r->dp_mean, &r->dp_err);
    r->dp_rms = sqrt(a->dp2 / (double)a->n);
    r->top1 = (double)a->same_top / (double)a->n;
    r->top1_err = a->n > 1 ? sqrt(r->top1 * (1 - r->top1) / (double)(a->n - 1)) : 0.0;
    percentiles(a->klds, a->n, r->kld_pct);
    percentiles(a->dps, a->n, r->dp_pct);
}

static mb_status tokenize_all(mb_model *m, const char *text, size_t len, mb_token **ids, int *n) {
    size_t need = 0;
    if (len == 0) return mb_errorf(MB_ERR_INVALID_ARG, "the text is empty");
    mb_tokenize(m, text, len, 1, 0, NULL, 0, &need);
    if (need > (size_t)INT32_MAX)
        return mb_errorf(MB_ERR_INVALID_ARG, "the text has too many tokens (%zu)", need);
    *ids = malloc((need ? need : 1) * sizeof **ids);
    if (!*ids) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %zu tokens", need);
    mb_status st = mb_tokenize(m, text, len, 1, 0, *ids, need, &need);
    *n = (int)need;
    return st;
}

/* Evaluate every chunk; BASE_W / BASE_R are the base file when writing or
 * reading one. */
static mb_status run_chunks(mb_session *s, mb_model *m, mb_token *ids,
                            const mb_perplexity_params *p, int n_chunks, mb_kld_file *base_w,
                            mb_kld_file *base_r, accum *a, mb_perplexity_result *r) {
    const int n_ctx = p->n_ctx, n_vocab = mb_model_n_vocab(m), first = n_ctx / 2;
    float *logits = malloc((size_t)n_ctx * (size_t)n_vocab * sizeof *logits);
    float *logp = malloc((size_t)n_vocab * sizeof *logp);
    float *base = malloc((size_t)n_vocab * sizeof *base);
    mb_status st = MB_OK;
    if (!logits || !logp || !base)
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %d x %d logits", n_ctx, n_vocab);
    for (int c = 0; !st && c < n_chunks; c++) {
        const mb_token *chunk = ids + (size_t)c * (size_t)n_ctx;
        st = mb_session_rewind(s, 0);
        if (!st) st = mb_session_eval_all(s, chunk, (size_t)n_ctx, logits);
        for (int j = first; !st && j < n_ctx - 1; j++) {
            const float *lj = logits + (size_t)j * (size_t)n_vocab;
            if (base_w) {
                mb_log_softmax(lj, n_vocab, logp);
                st = mb_kld_put(base_w, logp);
            }
            if (!st && base_r) st = mb_kld_get(base_r, base);
            if (!st) score(a, lj, n_vocab, chunk[j + 1], base_r ? base : NULL, logp);
        }
        if (!st && p->progress) {
            double mean, err;
            mean_err(a->nll, a->nll2, a->n, &mean, &err);
            p->progress(c + 1, n_chunks, exp(mean), p->progress_user);
        }
        r->n_chunks = c + 1;
    }
    free(logits);
    free(logp);
    free(base);
    return st;
}

mb_perplexity_params mb_perplexity_default_params(void) {
    return (mb_perplexity_params){.n_ctx = 512};
}

mb_status mb_perplexity(mb_model *m, const char *text, size_t len,
                        const mb_perplexity_params *params, mb_perplexity_result *r) {
    memset(r, 0, sizeof *r);
    const mb_perplexity_params defaults = mb_perplexity_default_params();
    const mb_perplexity_params *p = params ? params : &defaults;
    const int n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
    mb_perplexity_params prm = *p;
    prm.n_ctx = n_ctx;
    if (n_ctx < 4) return mb_errorf(MB_ERR_INVALID_ARG, "context %d is too small to score", n_ctx);
    mb_token *ids = NULL;
    int n_tok = 0;
    mb_status st = tokenize_all(m, text, len, &ids, &n_tok);
    r->n_tokens = n_tok;
    if (!st && n_tok < 2 * n_ctx)
        st = mb_errorf(MB_ERR_INVALID_ARG,
                       "the text has %d tokens; perplexity with -c %d needs at least %d", n_tok,
                       n_ctx, 2 * n_ctx);
    if (st) {
        free(ids);
        return st;
    }
    /* Each chunk starts from BOS, as the reference evaluates it (when the
     * vocabulary adds BOS; the tokenizer put one at the start if so). */
    const int all_chunks = n_tok / n_ctx;
    int n_chunks = all_chunks;
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    if (ids[0] == mb_token_bos(m))
        for (int c = 0; c < all_chunks; c++)
            ids[(size_t)c * (size_t)n_ctx] = ids[0];
    mb_kld_file *bw = NULL, *br = NULL;
    const int n_vocab = mb_model_n_vocab(m);
    if (p->kld_base_read) {
        int base_chunks = 0;
        /* The base decides the chunks; --chunks may only lower it. */
        st = mb_kld_open(p->kld_base_read, n_ctx, n_vocab, ids, all_chunks * n_ctx, &base_chunks,
                         &br);
        if (!st && base_chunks < n_chunks) n_chunks = base_chunks;
        r->has_kld = 1;
    } else if (p->kld_base_write) {
        st = mb_kld_create(p->kld_base_write, n_ctx, n_vocab, n_chunks, ids, &bw);
    }
    mb_session *s = NULL;
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_threads = p->n_threads;
    sp.swa_full = p->swa_full;
    if (!st) st = mb_session_new(m, &sp, &s);
    accum a = {0};
    const uint64_t n_score = (uint64_t)n_chunks * (uint64_t)(n_ctx - 1 - n_ctx / 2);
    if (!st && br &&
        (!(a.klds = malloc(n_score * sizeof *a.klds)) ||
         !(a.dps = malloc(n_score * sizeof *a.dps))))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %llu scores",
                       (unsigned long long)n_score);
    if (!st) st = run_chunks(s, m, ids, &prm, n_chunks, bw, br, &a, r);
    if (!st && bw) st = mb_kld_commit(bw);
    if (!st) finish(&a, r);
    free(a.klds);
    free(a.dps);
    mb_session_free(s);
    mb_kld_close(bw);
    mb_kld_close(br);
    free(ids);
    return st;
}
