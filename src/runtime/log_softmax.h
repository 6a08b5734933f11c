/* log-softmax of a row of logits, in double where it sums: the one
 * implementation that perplexity, KL divergence, the quantizer's damage
 * probes and the trainer's loss heads (cross-entropy, distillation) read. */
#ifndef MB_RUNTIME_LOG_SOFTMAX_H
#define MB_RUNTIME_LOG_SOFTMAX_H

/* log sum_i exp(SCALE * z_i), shifted by the maximum so that no exp
 * overflows (SCALE is 1/T for a softmax at temperature T). */
double mb_log_sum_exp(const float *z, int n, float scale);

/* Writes log p_i = z_i - log sum_j exp z_j to OUT (unless OUT is NULL; OUT
 * may be Z itself) and returns the log of the normalizer. */
double mb_log_softmax(const float *z, int n, float *out);

#endif
