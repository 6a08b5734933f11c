/* The learned router: logistic regression over the guardian's standardized
 * features (score.h). p(escalate) = sigmoid(bias + sum w_i (x_i - mean_i) /
 * scale_i); the request is escalated when p >= threshold. Fitted by
 * `matchbox agent --calibrate SET --router-out FILE` (agent_calibrate.c),
 * loaded by `matchbox agent --router FILE` and `matchbox serve --router
 * FILE` from a JSON file (docs/AGENT.md, "The router file"). */
#ifndef MB_AGENT_ROUTER_LR_H
#define MB_AGENT_ROUTER_LR_H

#include <stddef.h>

#include <matchbox.h>

#include "agent/score.h"

typedef struct mb_router_lr_s {
    double mean[MB_N_FEAT], scale[MB_N_FEAT], w[MB_N_FEAT];
    double bias, threshold;
    double l2, target_recall; /* how it was fitted (reported, not used) */
    int n_draft;              /* the draft length the features were measured with */
    float low_p;
} mb_router_lr;

double mb_router_lr_prob(const mb_router_lr *r, const double *x);

/* Load a router file; MB_ERR_FORMAT naming the field at fault. */
mb_status mb_router_lr_load(const char *path, mb_router_lr *r);
/* The same from TEXT (LEN bytes); WHAT names it in errors. */
mb_status mb_router_lr_parse(const char *text, size_t len, const char *what, mb_router_lr *r);
/* Write R to PATH as JSON, with MODEL (a label) and NOTE (may be NULL). */
mb_status mb_router_lr_save(const char *path, const mb_router_lr *r, const char *model,
                            const char *note);

/* Fit on N rows of X (N x MB_N_FEAT) with labels Y (1: escalate): the
 * scaling from X, then weights by Newton's method with an L2 penalty of
 * L2 on the weights (not the bias). The threshold is left as it was. */
void mb_router_lr_fit(const double *x, const int *y, int n, double l2, mb_router_lr *r);

/* k-fold cross-validation: the L2 from GRID (N_GRID values) with the best
 * out-of-fold log-likelihood, then the threshold: of those whose
 * out-of-fold escalation recall is >= TARGET, the one with the best
 * out-of-fold precision (ties: the higher recall). Folds are rows i % K. Fits R
 * on all N rows with them and writes the out-of-fold probabilities to OOF
 * (N doubles, may be NULL). */
void mb_router_lr_cv(const double *x, const int *y, int n, int k, const double *grid, int n_grid,
                     double target, mb_router_lr *r, double *oof);

/* AUC of X (N values) for Y: the chance an escalate row scores above a keep
 * row (ties count half). */
double mb_auc(const double *x, const int *y, int n);

/* After scoring: 1 to escalate, 0 to keep, with REASON. ROUTER (may be
 * NULL: the thresholds T on the draft's confidence decide) is the learned
 * router; the CLI and the server both decide here. */
int mb_router_decide(const mb_agent_features *f, const mb_router_lr *router,
                     const mb_router_thresholds *t, char *reason, size_t cap);

#endif
