/* LoRA adapters at run time: the GGUF LoRA layout of the reference
 * implementation (general.type "adapter", adapter.type "lora",
 * adapter.lora.alpha; "<base tensor>.lora_a" with ne [in, r] and
 * ".lora_b" with ne [r, out]), checked against the loaded model and kept
 * in float32. Each adapted projection adds scale * (alpha / r) B (A x). */
#ifndef MB_MODEL_LORA_H
#define MB_MODEL_LORA_H

#include "kernels/matmul.h"
#include "matchbox/gguf.h"
#include "model/model.h"

typedef struct {
    const uint8_t *key; /* the base matrix's data: how project() finds it */
    char name[96];      /* the base tensor's name */
    int in, out, rank;
    float scale;    /* user scale x alpha / rank */
    const float *a; /* [rank][in] */
    const float *b; /* [out][rank] */
} mb_lora_weight;

typedef struct mb_lora {
    int n, max_rank;
    mb_lora_weight *w;
    float *data;
} mb_lora;

/* Read the adapter at PATH and check it against M: architecture, tensor
 * names (each must name an attention or FFN projection, or output.weight,
 * of M), pairs, shapes. SCALE multiplies alpha / r. */
mb_status mb_lora_load(const mb_model *m, const char *path, float scale, mb_lora **out);
void mb_lora_free(mb_lora *l);
/* The adapter of the matrix W, or NULL. */
const mb_lora_weight *mb_lora_find(const mb_lora *l, const mb_matrix *w);
/* OUT[n][out] += scale B (A X[n][in]); TMP holds N x rank floats. */
void mb_lora_apply(const mb_lora_weight *lw, const float *x, int n, float *out, float *tmp);

/* mb_lora_merge: include/matchbox/gguf.h. */

#endif
