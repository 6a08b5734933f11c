/* A loaded model: hyper-parameters from the metadata, weights bound to the
 * tensors of the GGUF (zero-copy), and the vocabulary. */
#ifndef MB_MODEL_H
#define MB_MODEL_H

#include "format/gguf.h"
#include "kernels/matmul.h"
#include "matchbox.h"
#include "tokenizer/vocab.h"

typedef enum { MB_ROPE_SCALING_NONE, MB_ROPE_SCALING_LINEAR, MB_ROPE_SCALING_YARN } mb_rope_scaling;

typedef struct {
    char arch[32];
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int n_rot; /* dimensions of each head that RoPE rotates */
    float rope_base, rms_eps;
    mb_rope_scaling rope_scaling;
    float rope_freq_scale; /* 1 / scaling factor */
    int yarn_orig_ctx;
    float yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
} mb_hparams;

typedef struct {
    const float *attn_norm, *ffn_norm;
    mb_matrix wq, wk, wv, wo;
    mb_matrix w_gate, w_up, w_down;
} mb_layer;

struct mb_model {
    mb_gguf *gguf;
    mb_vocab *vocab;
    mb_hparams hp;
    mb_matrix tok_embd, output;
    const float *output_norm;
    const float *rope_freqs; /* Llama 3 per-frequency divisors, or NULL */
    mb_layer *layers;
    float *owned_vectors; /* norm weights stored in non-F32 types, converted */
    uint64_t weight_bytes;
    int is_mmap;
    char desc[160];
};

/* Read and validate hyper-parameters. */
mb_status mb_hparams_read(const mb_gguf *g, mb_hparams *hp);
/* Bind and shape-check every tensor the architecture needs. */
mb_status mb_model_bind_weights(mb_model *m);

#endif
