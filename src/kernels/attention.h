/* Causal attention of one query head over a KV cache stored as F16. */
#ifndef MB_KERNELS_ATTENTION_H
#define MB_KERNELS_ATTENTION_H

#include <stdint.h>

/* The F16 -> F32 table (65536 entries), built on first use. */
const float *mb_fp16_table(void);

/* out[0..hd) = softmax(scale * q . K[j]) . V[j] over j in [0, n_kv).
 * K[j] = k + j * stride (F16), likewise V. SCORES has room for n_kv floats.
 * hd <= 1024. */
void mb_attention_head(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                       int n_kv, int hd, float scale, float *scores, float *out);

#endif
