/* Confidence scoring and the routing rules (router.h). */
#include "agent/router.h"

#include <math.h>
#include <stdio.h>

void mb_confidence_init(mb_confidence_acc *a, float low_p) {
    *a = (mb_confidence_acc){.low_p = low_p};
}

void mb_logits_stats(const float *logits, int n_vocab, mb_token id, double *logprob,
                     double *entropy) {
    float mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    /* H = log Z - sum p_i x_i, with x_i = logit_i - max and Z = sum e^x_i. */
    double z = 0, zx = 0;
    for (int i = 0; i < n_vocab; i++) {
        double x = (double)logits[i] - mx, e = exp(x);
        z += e;
        zx += e * x;
    }
    double lz = log(z);
    *logprob = (id >= 0 && id < n_vocab) ? (double)logits[id] - mx - lz : -INFINITY;
    double h = lz - zx / z;
    *entropy = h > 0 ? h : 0;
}

void mb_confidence_add_lp(mb_confidence_acc *a, double logprob, double entropy) {
    if (!isfinite(logprob)) logprob = -100; /* a token the scores gave no mass */
    a->sum_logprob += logprob;
    a->sum_entropy += entropy;
    a->n++;
    if (logprob < log((double)a->low_p)) a->n_low++;
}

void mb_confidence_add(mb_confidence_acc *a, const float *logits, int n_vocab, mb_token id) {
    double lp, h;
    mb_logits_stats(logits, n_vocab, id, &lp, &h);
    mb_confidence_add_lp(a, lp, h);
}

mb_confidence mb_confidence_get(const mb_confidence_acc *a) {
    mb_confidence c = {.n_tokens = a->n};
    if (a->n > 0) {
        c.mean_logprob = a->sum_logprob / a->n;
        c.mean_entropy = a->sum_entropy / a->n;
        c.low_share = (double)a->n_low / a->n;
    }
    return c;
}

mb_router_thresholds mb_router_default_thresholds(void) {
    /* From `matchbox agent stories260K.gguf --calibrate tests/data/agent_router.tsv
     * -n 32` (docs/AGENT.md): the mean log-prob separates best (F1 0.80);
     * the other two are off. */
    return (mb_router_thresholds){
        .low_p = 0.1f, .min_mean_logprob = -0.682, .max_mean_entropy = 1e30, .max_low_share = 1.0};
}

mb_route mb_route_before(const mb_route_input *in, char *reason, size_t cap) {
    if (in->is_private) {
        snprintf(reason, cap, "private");
        return MB_ROUTE_GUARDIAN;
    }
    if (!in->has_oracle) {
        snprintf(reason, cap, "no oracle");
        return MB_ROUTE_GUARDIAN;
    }
    if (in->n_ctx > 0 && in->n_prompt >= in->n_ctx) {
        snprintf(reason, cap, "input of %ld tokens is longer than the guardian's context of %ld",
                 in->n_prompt, in->n_ctx);
        return MB_ROUTE_ORACLE;
    }
    if (in->hard) {
        snprintf(reason, cap, "marked hard");
        return MB_ROUTE_ORACLE;
    }
    snprintf(reason, cap, "draft");
    return MB_ROUTE_DRAFT;
}

int mb_route_after(const mb_confidence *c, const mb_router_thresholds *t, char *reason,
                   size_t cap) {
    if (c->n_tokens == 0) {
        snprintf(reason, cap, "low confidence: empty draft");
        return 1;
    }
    if (c->mean_logprob < t->min_mean_logprob) {
        snprintf(reason, cap, "low confidence: mean log-prob %.3f < %.3f", c->mean_logprob,
                 t->min_mean_logprob);
        return 1;
    }
    if (c->mean_entropy > t->max_mean_entropy) {
        snprintf(reason, cap, "low confidence: mean entropy %.3f > %.3f", c->mean_entropy,
                 t->max_mean_entropy);
        return 1;
    }
    if (t->max_low_share < 1 && c->low_share > t->max_low_share) {
        snprintf(reason, cap, "low confidence: %.0f%% of tokens below p %.2f > %.0f%%",
                 100 * c->low_share, t->low_p, 100 * t->max_low_share);
        return 1;
    }
    snprintf(reason, cap, "confident (mean entropy %.3f, mean log-prob %.3f)", c->mean_entropy,
             c->mean_logprob);
    return 0;
}
