/* log-softmax of a row of logits, in double where it sums: perplexity,
 * KL divergence and the quantizer's damage probes all read it. */
#ifndef MB_RUNTIME_LOG_SOFTMAX_H
#define MB_RUNTIME_LOG_SOFTMAX_H

/* Writes log p_i = z_i - log sum_j exp z_j to OUT (unless OUT is NULL) and
 * returns the log of the normalizer. */
double mb_log_softmax(const float *z, int n, float *out);

#endif
