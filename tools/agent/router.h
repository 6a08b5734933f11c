/* The router's decision: does the guardian (the local model) answer, or is
 * the request escalated to the oracle? Pure functions of numbers, so they
 * are tested without a model or a network (tests/test_agent_router.c).
 *
 * Confidence comes from the guardian's own draft: the mean log-probability
 * of the tokens it chose, the mean entropy of its next-token distributions,
 * and the share of chosen tokens whose probability was below low_p. A model
 * off its domain spreads its probability mass, so all three move together;
 * docs/AGENT.md has the measured separation and how to calibrate. */
#ifndef MB_AGENT_ROUTER_H
#define MB_AGENT_ROUTER_H

#include <stddef.h>

#include <matchbox.h>

typedef struct {
    double sum_logprob, sum_entropy;
    int n, n_low;
    float low_p;
} mb_confidence_acc;

typedef struct {
    int n_tokens;
    double mean_logprob; /* nats, <= 0 */
    double mean_entropy; /* nats, >= 0 */
    double low_share;    /* in [0, 1] */
} mb_confidence;

void mb_confidence_init(mb_confidence_acc *a, float low_p);
/* Add one drafted token ID sampled from LOGITS (N_VOCAB raw scores). */
void mb_confidence_add(mb_confidence_acc *a, const float *logits, int n_vocab, mb_token id);
/* Add one token whose log-probability and entropy are already known. */
void mb_confidence_add_lp(mb_confidence_acc *a, double logprob, double entropy);
mb_confidence mb_confidence_get(const mb_confidence_acc *a);
/* log p(ID) and the entropy (nats) of softmax(LOGITS). */
void mb_logits_stats(const float *logits, int n_vocab, mb_token id, double *logprob,
                     double *entropy);

typedef struct {
    float low_p;             /* a chosen token with p below this counts as low */
    double min_mean_logprob; /* escalate when the mean log-prob is below; -1e30: off */
    double max_mean_entropy; /* escalate when the mean entropy is above; 1e30: off */
    double max_low_share;    /* escalate when the low share is above; >= 1: off */
} mb_router_thresholds;

/* The thresholds calibrated on stories260K (docs/AGENT.md). */
mb_router_thresholds mb_router_default_thresholds(void);

typedef struct {
    int has_oracle;
    int is_private;       /* marked private: never leaves the device */
    int hard;             /* marked hard */
    long n_prompt, n_ctx; /* the input's tokens and the guardian's context */
} mb_route_input;

typedef enum {
    MB_ROUTE_GUARDIAN, /* answer locally, no confidence check */
    MB_ROUTE_DRAFT,    /* draft locally, then mb_route_after decides */
    MB_ROUTE_ORACLE    /* escalate without a draft */
} mb_route;

/* The decision before any generation; REASON (CAP bytes) says why. */
mb_route mb_route_before(const mb_route_input *in, char *reason, size_t cap);
/* After the draft: 1 to escalate, with REASON naming the feature at fault;
 * 0 to keep, with REASON "confident". */
int mb_route_after(const mb_confidence *c, const mb_router_thresholds *t, char *reason, size_t cap);

#endif
