/* Rotary position embeddings with the scalings GGUF metadata names: plain,
 * linear (position interpolation), YaRN, and Llama 3's per-frequency
 * divisors (rope_freqs.weight). Pair i turns by the same angle in both
 * layouts; only which two values form it differs: adjacent (x[2i], x[2i+1])
 * for NORM (llama files), or (x[i], x[i + n_rot/2]) for NEOX (qwen2). */
#ifndef MB_MODEL_ROPE_H
#define MB_MODEL_ROPE_H

#include "model/model.h"

typedef struct {
    int n_rot;
    mb_rope_mode mode;
    double inv_freq[512]; /* base^(-2i/n_rot) / freq_factor[i], i < n_rot/2 */
    double freq_scale, ext_factor, mscale;
    double corr_low, corr_high;
} mb_rope;

mb_status mb_rope_init(mb_rope *r, const mb_hparams *hp, const float *freq_factors);
/* As mb_rope_init, with a cos/sin scale MSCALE (1, or LongRoPE's
 * rope.scaling.attn_factor) and, for WINDOWED layers, their own base
 * (rope_base_swa) and scaling (none unless rope_scale_swa). */
mb_status mb_rope_init_ex(mb_rope *r, const mb_hparams *hp, const float *freq_factors, float mscale,
                          int windowed);
/* The n_rot/2 cosines and sines (times mscale) at POS: computed once per
 * token and shared by Q and K (the trigonometry costs more than the turn). */
void mb_rope_angles(const mb_rope *r, int pos, float *c, float *s);
/* Turn the first n_rot values of each of N_HEADS heads (HD apart) by the
 * angles of mb_rope_angles. */
void mb_rope_rotate(const mb_rope *r, const float *c, const float *s, float *x, int n_heads,
                    int hd);
/* Rotate the first n_rot values of each of N_HEADS heads (HD apart) at POS. */
void mb_rope_apply(const mb_rope *r, float *x, int n_heads, int hd, int pos);

#endif
