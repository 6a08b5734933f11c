/* Chunked perplexity and KL divergence; the method is described in
 * matchbox/eval.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/kld.h"
#include "matchbox/eval.h"
#include "runtime/chunks.h"
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

/* What scoring a chunk needs (run through mb_chunks_run); BASE_W / BASE_R
 * are the base file when writing or reading one. */
typedef struct {
    const mb_perplexity_params *p;
    int n_vocab, n_chunks;
    mb_kld_file *base_w, *base_r;
    float *logp, *base;
    accum *a;
    mb_perplexity_result *r;
} scorer;

/* Score the second half of one chunk (its whole logits: one piece). */
static mb_status score_chunk(void *user, int c, int pos, int n, const mb_token *chunk,
                             const float *logits) {
    scorer *sc = user;
    const int n_vocab = sc->n_vocab;
    mb_status st = MB_OK;
    for (int j = n / 2; !st && j < n - 1; j++) {
        const float *lj = logits + (size_t)j * (size_t)n_vocab;
        if (sc->base_w) {
            mb_log_softmax(lj, n_vocab, sc->logp);
            st = mb_kld_put(sc->base_w, sc->logp);
        }
        if (!st && sc->base_r) st = mb_kld_get(sc->base_r, sc->base);
        if (!st)
            score(sc->a, lj, n_vocab, chunk[pos + j + 1], sc->base_r ? sc->base : NULL, sc->logp);
    }
    if (!st && sc->p->progress) {
        double mean, err;
        mean_err(sc->a->nll, sc->a->nll2, sc->a->n, &mean, &err);
        sc->p->progress(c + 1, sc->n_chunks, exp(mean), sc->p->progress_user);
    }
    if (!st) sc->r->n_chunks = c + 1;
    return st;
}

mb_perplexity_params mb_perplexity_default_params(void) {
    return (mb_perplexity_params){
        .n_ctx = 512, .kv_type_k = MB_KV_TYPE_F16, .kv_type_v = MB_KV_TYPE_F16};
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
    /* Each chunk starts from BOS, as the reference evaluates it (when the
     * vocabulary adds BOS). */
    mb_chunks ch;
    mb_status st = mb_chunks_make(m, text, len, n_ctx, p->n_chunks, 2 * n_ctx, "the text", &ch);
    r->n_tokens = ch.n_tokens;
    if (st) return st;
    mb_kld_file *bw = NULL, *br = NULL;
    const int n_vocab = mb_model_n_vocab(m);
    if (p->kld_base_read) {
        int base_chunks = 0;
        /* The base decides the chunks; --chunks may only lower it. */
        st = mb_kld_open(p->kld_base_read, n_ctx, n_vocab, ch.ids, ch.n_all * n_ctx, &base_chunks,
                         &br);
        if (!st && base_chunks < ch.n_chunks) ch.n_chunks = base_chunks;
        r->has_kld = 1;
    } else if (p->kld_base_write) {
        st = mb_kld_create(p->kld_base_write, n_ctx, n_vocab, ch.n_chunks, ch.ids, &bw);
    }
    mb_session *s = NULL;
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_threads = p->n_threads;
    sp.swa_full = p->swa_full;
    sp.kv_type_k = p->kv_type_k;
    sp.kv_type_v = p->kv_type_v;
    if (!st) st = mb_session_new(m, &sp, &s);
    accum a = {0};
    const uint64_t n_score = (uint64_t)ch.n_chunks * (uint64_t)(n_ctx - 1 - n_ctx / 2);
    if (!st && br &&
        (!(a.klds = malloc(n_score * sizeof *a.klds)) ||
         !(a.dps = malloc(n_score * sizeof *a.dps))))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %llu scores",
                       (unsigned long long)n_score);
    scorer sc = {.p = &prm,
                 .n_vocab = n_vocab,
                 .n_chunks = ch.n_chunks,
                 .base_w = bw,
                 .base_r = br,
                 .a = &a,
                 .r = r};
    float *logits = NULL;
    if (!st && (!(logits = malloc((size_t)n_ctx * (size_t)n_vocab * sizeof *logits)) ||
                !(sc.logp = malloc((size_t)n_vocab * sizeof *sc.logp)) ||
                !(sc.base = malloc((size_t)n_vocab * sizeof *sc.base))))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %d x %d logits", n_ctx, n_vocab);
    if (!st) st = mb_chunks_run(s, &ch, n_ctx, logits, score_chunk, &sc);
    free(logits);
    free(sc.logp);
    free(sc.base);
    if (!st && bw) st = mb_kld_commit(bw);
    if (!st) finish(&a, r);
    free(a.klds);
    free(a.dps);
    mb_session_free(s);
    mb_kld_close(bw);
    mb_kld_close(br);
    mb_chunks_free(&ch);
    return st;
}
