/* quantize --target-bpw: choose each weight matrix's type so that the file
 * meets a size in bits per weight with the least estimated damage.
 *
 * The damage of a tensor at a type is measured, not guessed from its name:
 * a calibration pass records the float model's next-token distributions;
 * then, one tensor at a time, the tensor is replaced by its round trip
 * through a probe type and the pass repeated, giving that tensor's KL
 * divergence from the float model (alloc.c). Its KLD at the other
 * candidate types is scaled from the probe's by the ratio of their
 * importance-weighted squared errors (sum_c E[x_c^2] (w - q(w))^2, the
 * expected squared output error; KLD is quadratic in small output errors).
 * The per-tensor KLDs are then taken as additive and the types chosen by
 * a greedy walk down each tensor's convex hull of (bits, KLD), the
 * Lagrangian optimum of a knapsack (alloc_solve.c). */
#ifndef MB_QUANTIZE_ALLOC_H
#define MB_QUANTIZE_ALLOC_H

#include <stdint.h>
#include <stdio.h>

#include "quantize/quantize.h"

enum { MB_ALLOC_MAX_CAND = 8 };

/* One tensor's candidates: their sizes in bits and estimated costs. */
typedef struct {
    int n_cand;
    uint64_t bits[MB_ALLOC_MAX_CAND];
    double cost[MB_ALLOC_MAX_CAND];
} mb_alloc_item;

/* CHOICE[i] for every item, minimizing the summed cost with the summed
 * bits at most BUDGET. Returns 0, or -1 if even the smallest choices
 * exceed BUDGET (CHOICE then holds the smallest). */
int mb_alloc_solve(const mb_alloc_item *items, int n, uint64_t budget, int *choice);

typedef struct {
    const char *model_path, *calib_path;
    int calib_chunks, calib_ctx, n_threads;
    double target_bpw;       /* over every tensor's elements, as quantize reports */
    mb_progress_fn progress; /* pass notices; NULL: quiet */
    void *progress_user;
} mb_alloc_params;

typedef struct mb_alloc mb_alloc;

mb_status mb_alloc_new(const mb_alloc_params *p, mb_alloc **out);
/* The planner to pass to mb_quantize_file (quantize.h). */
void mb_alloc_planner(mb_alloc *a, mb_quant_planner *out);
/* After planning: the estimated KLD of the plan (sum over tensors). */
double mb_alloc_predicted_kld(const mb_alloc *a);
void mb_alloc_free(mb_alloc *a);

#endif
