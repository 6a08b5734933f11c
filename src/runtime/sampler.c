/* Token sampling: penalties, then top-k, top-p and min-p truncation, then
 * temperature, then a draw from a seeded generator, in the order llama.cpp's
 * default chain applies them, so settings carry over. Temperature <= 0 is
 * greedy (argmax after penalties). All buffers are sized at creation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/params.h"
#include "matchbox.h"
#include "runtime/grammar.h"
#include "runtime/sampler.h"

typedef struct {
    float logit, p;
    mb_token id;
} candidate;

struct mb_sampler {
    mb_sampler_params p;
    int n_vocab;
    candidate *cand;
    mb_token *recent; /* ring of the last repeat_last_n accepted tokens */
    int n_recent, recent_head;
    int *counts; /* occurrences of each token in the ring */
    uint64_t rng;
    /* mb_sampler_set_grammar: the grammar's state, the logits with the
     * forbidden tokens at -inf, and which tokens are allowed. */
    mb_gstate *grammar;
    float *masked;
    uint8_t *allowed;
};

mb_sampler_params mb_sampler_default_params(void) {
    return (mb_sampler_params){.struct_size = sizeof(mb_sampler_params),
                               .temperature = 0.8f,
                               .top_k = 40,
                               .top_p = 0.95f,
                               .min_p = 0.05f,
                               .repeat_penalty = 1.0f,
                               .presence_penalty = 0.0f,
                               .frequency_penalty = 0.0f,
                               .repeat_last_n = 64,
                               .seed = 0};
}

mb_status mb_sampler_new(const mb_sampler_params *params, int n_vocab, mb_sampler **out) {
    *out = NULL;
    mb_sampler_params p = mb_sampler_default_params();
    mb_status st = mb_params_merge(
        &p, params, sizeof p, MB_PARAMS_SIZE_UPTO(mb_sampler_params, seed), "mb_sampler_params");
    if (st) return st;
    if (n_vocab <= 0) return mb_errorf(MB_ERR_INVALID_ARG, "vocabulary size %d", n_vocab);
    if (!(p.repeat_penalty > 0) || isnan(p.temperature) || isnan(p.top_p) || isnan(p.min_p) ||
        p.repeat_last_n < 0 || p.repeat_last_n > (1 << 20))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "sampler settings out of range (repeat penalty %g must be > 0, "
                         "repeat-last-n %d must be 0..1048576)",
                         p.repeat_penalty, p.repeat_last_n);
    mb_sampler *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    s->p = p;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->recent = malloc(((size_t)p.repeat_last_n + 1) * sizeof *s->recent);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    if (!s->cand || !s->recent || !s->counts) {
        mb_sampler_free(s);
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    }
    s->rng = p.seed ^ 0x853c49e6748fea9bULL;
    *out = s;
    return MB_OK;
}

void mb_sampler_free(mb_sampler *s) {
    if (!s) return;
    mb_gstate_free(s->grammar);
    free(s->masked);
    free(s->allowed);
    free(s->cand);
    free(s->recent);
    free(s->counts);
    free(s);
}

void mb_sampler_accept(mb_sampler *s, mb_token id) {
    int cap = s->p.repeat_last_n;
    if (cap == 0 || id < 0 || id >= s->n_vocab) return;
    if (s->n_recent == cap) {
        s->counts[s->recent[s->recent_head]]--;
        s->n_recent--;
    }
    s->recent[s->recent_head] = id;
    s->recent_head = (s->recent_head + 1) % cap;
    s->n_recent++;
    s->counts[id]++;
}

/* splitmix64: small, fast, and the same sequence on every platform. */
static double next_uniform(mb_sampler *s) {
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* True if X sorts before Y: higher logit first; ties: lower id first, so
 * runs are reproducible. A total order, so any correct sort agrees. */
static int goes_first(const candidate *x, const candidate *y) {
    if (x->logit != y->logit) return x->logit > y->logit;
    return x->id < y->id;
}

/* Restore the heap below I (the first candidate in order at the root). */
static void sift_down(candidate *c, int n, int i) {
    for (;;) {
        int best = i, l = 2 * i + 1, r = l + 1;
        if (l < n && goes_first(&c[l], &c[best])) best = l;
        if (r < n && goes_first(&c[r], &c[best])) best = r;
        if (best == i) return;
        candidate t = c[i];
        c[i] = c[best];
        c[best] = t;
        i = best;
    }
}

/* Put the K first candidates in order at the front of C. A heap selection,
 * in place: glibc's qsort allocates a merge buffer for arrays over 1 KiB,
 * and the decode loop must not allocate. O(n + k log n). */
static void sort_first(candidate *c, int n, int k) {
    for (int i = n / 2 - 1; i >= 0; i--)
        sift_down(c, n, i);
    /* Each pop moves the next candidate in order to the end of the array. */
    for (int m = n; m > n - k; m--) {
        candidate t = c[0];
        c[0] = c[m - 1];
        c[m - 1] = t;
        sift_down(c, m - 1, 0);
    }
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        candidate t = c[i];
        c[i] = c[j];
        c[j] = t;
    }
}

static void apply_penalties(const mb_sampler *s, candidate *c) {
    const mb_sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0 && p->frequency_penalty == 0) return;
    for (int i = 0; i < s->n_vocab; i++) {
        int n = s->counts[c[i].id];
        if (n == 0) continue;
        /* Divide positive logits and multiply negative ones, so the penalty
         * always lowers the token's probability. */
        if (c[i].logit > 0)
            c[i].logit /= p->repeat_penalty;
        else
            c[i].logit *= p->repeat_penalty;
        c[i].logit -= (float)n * p->frequency_penalty + p->presence_penalty;
    }
}

/* Softmax over the first N candidates (sorted descending) at temperature T. */
static void softmax_candidates(candidate *c, int n, float t) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - c[0].logit) / t);
        sum += c[i].p;
    }
    for (int i = 0; i < n; i++)
        c[i].p = (float)(c[i].p / sum);
}

/* The sampler's chain up to the draw: C[0..*n) are the candidates left, with
 * their final probabilities. Greedy (temperature <= 0) returns the argmax
 * after penalties and leaves *n 0. */
static mb_token prepare(mb_sampler *s, const float *logits, int *n_out) {
    const mb_sampler_params *p = &s->p;
    candidate *c = s->cand;
    *n_out = 0;
    for (int i = 0; i < s->n_vocab; i++)
        c[i] = (candidate){logits[i], 0, i};
    apply_penalties(s, c);
    if (p->temperature <= 0) {
        int best = 0;
        for (int i = 1; i < s->n_vocab; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }
    int n = s->n_vocab;
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    sort_first(c, n, k);
    n = k;
    softmax_candidates(c, n, 1.0f);
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        float floor_p = c[0].p * p->min_p;
        int keep = 1;
        while (keep < n && c[keep].p >= floor_p)
            keep++;
        n = keep;
    }
    softmax_candidates(c, n, p->temperature);
    *n_out = n;
    return c[0].id;
}

static mb_token sample_plain(mb_sampler *s, const float *logits) {
    int n;
    mb_token best = prepare(s, logits, &n);
    if (n == 0) return best;
    const candidate *c = s->cand;
    double r = next_uniform(s), cum = 0;
    for (int i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}

/* Under a grammar: draw as usual and keep the token when the grammar
 * allows it (the common case once a model follows the format: one token's
 * text checked); otherwise mask what it forbids and draw again. Either way
 * the token comes from the allowed ones with probabilities in proportion
 * to the sampler's distribution. */
static mb_token sample_grammar(mb_sampler *s, const float *logits) {
    mb_gstate *g = s->grammar;
    if (g->failed || mb_gstate_ended(g)) return mb_gstate_eog(g);
    mb_token t = sample_plain(s, logits);
    if (!mb_gstate_allows(g, t)) {
        if (!mb_gstate_mask(g, s->allowed)) {
            /* Nothing fits (or a cap was reached: g->failed says so): the
             * end, as mb_sampler_grammar_state reports. */
            g->set.n = 0, g->pending.need = 0;
            return mb_gstate_eog(g);
        }
        int best = -1;
        for (int i = 0; i < s->n_vocab; i++) {
            s->masked[i] = s->allowed[i] ? logits[i] : -INFINITY;
            if (s->allowed[i] && (best < 0 || logits[i] > logits[best])) best = i;
        }
        t = sample_plain(s, s->masked);
        if (t < 0 || t >= s->n_vocab || !s->allowed[t]) t = best;
    }
    mb_gstate_accept(g, t);
    return t;
}

mb_token mb_sampler_sample(mb_sampler *s, const float *logits) {
    return s->grammar ? sample_grammar(s, logits) : sample_plain(s, logits);
}

mb_status mb_sampler_set_grammar(mb_sampler *s, const mb_model *model, const mb_grammar *g) {
    if (!s) return mb_errorf(MB_ERR_INVALID_ARG, "mb_sampler_set_grammar: no sampler");
    mb_gstate_free(s->grammar);
    s->grammar = NULL;
    if (!g) return MB_OK;
    if (!model || mb_model_n_vocab(model) != s->n_vocab)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "mb_sampler_set_grammar: the model's vocabulary (%d) is not the "
                         "sampler's (%d)",
                         model ? mb_model_n_vocab(model) : 0, s->n_vocab);
    if (!s->masked) s->masked = malloc((size_t)s->n_vocab * sizeof *s->masked);
    if (!s->allowed) s->allowed = malloc((size_t)s->n_vocab);
    if (!s->masked || !s->allowed) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    return mb_gstate_new(model, g, &s->grammar);
}

int mb_sampler_grammar_state(const mb_sampler *s) {
    if (!s->grammar) return MB_GRAMMAR_NONE;
    if (s->grammar->failed) return MB_GRAMMAR_FAILED;
    return mb_gstate_ended(s->grammar) ? MB_GRAMMAR_ENDED : MB_GRAMMAR_RUNNING;
}

int mb_sampler_is_greedy(const mb_sampler *s) {
    return s->p.temperature <= 0;
}

mb_sampler_params mb_sampler_get_params(const mb_sampler *s) {
    return s->p;
}

mb_token mb_sampler_dist(mb_sampler *s, const float *logits, float *probs) {
    int n;
    mb_token best = prepare(s, logits, &n);
    memset(probs, 0, (size_t)s->n_vocab * sizeof *probs);
    if (n == 0) {
        probs[best] = 1.0f;
        return best;
    }
    for (int i = 0; i < n; i++)
        probs[s->cand[i].id] = s->cand[i].p;
    return best;
}

double mb_sampler_uniform(mb_sampler *s) {
    return next_uniform(s);
}

mb_token mb_sampler_draw(mb_sampler *s, const float *probs) {
    double sum = 0;
    int last = -1;
    for (int i = 0; i < s->n_vocab; i++)
        if (probs[i] > 0) sum += probs[i], last = i;
    if (last < 0) return -1;
    double r = next_uniform(s) * sum, cum = 0;
    for (int i = 0; i < s->n_vocab; i++) {
        cum += probs[i] > 0 ? probs[i] : 0;
        if (r < cum) return i;
    }
    return last;
}
