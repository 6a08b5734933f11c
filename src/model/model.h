/* A loaded model: hyper-parameters from the metadata, weights bound to the
 * tensors of the GGUF (zero-copy), and the vocabulary. */
#ifndef MB_MODEL_H
#define MB_MODEL_H

#include "format/gguf.h"
#include "kernels/matmul.h"
#include "matchbox.h"
#include "tokenizer/vocab.h"

typedef enum { MB_ROPE_SCALING_NONE, MB_ROPE_SCALING_LINEAR, MB_ROPE_SCALING_YARN } mb_rope_scaling;

/* Which dimensions RoPE pairs: NORM rotates adjacent pairs (x[2i], x[2i+1]),
 * NEOX rotates (x[i], x[i + n_rot/2]). The architecture decides (hparams.c). */
typedef enum { MB_ROPE_NORM, MB_ROPE_NEOX } mb_rope_mode;

typedef struct {
    char arch[32];
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int n_rot; /* dimensions of each head that RoPE rotates */
    mb_rope_mode rope_mode;
    int qkv_bias;                /* 1: attn_q/k/v.bias are required (qwen2) */
    int n_expert, n_expert_used; /* mixture of experts; 0 for dense models */
    int sliding_window;          /* attention window from the metadata; 0: none */
    float rope_base, rms_eps;
    mb_rope_scaling rope_scaling;
    float rope_freq_scale; /* 1 / scaling factor */
    int yarn_orig_ctx;
    float yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
} mb_hparams;

typedef struct {
    const float *attn_norm, *ffn_norm;
    mb_matrix wq, wk, wv, wo;
    const float *bq, *bk, *bv; /* projection biases, or NULL */
    mb_matrix w_gate, w_up, w_down;
    /* Mixture of experts: the router and one 2-D slice per expert of the
     * 3-D ffn_*_exps tensors (n_expert entries each, into m->expert_mats). */
    mb_matrix gate_inp;
    const mb_matrix *gate_exps, *up_exps, *down_exps;
} mb_layer;

struct mb_model {
    mb_gguf *gguf;
    mb_vocab *vocab;
    mb_hparams hp;
    mb_matrix tok_embd, output;
    const float *output_norm;
    const float *rope_freqs; /* Llama 3 per-frequency divisors, or NULL */
    mb_layer *layers;
    mb_matrix *expert_mats; /* [layer][gate, up, down][expert] */
    float *owned_vectors;   /* norm weights stored in non-F32 types, converted */
    uint64_t weight_bytes;
    int is_mmap;
    int vocab_only;       /* loaded with mb_model_params.vocab_only: no weights, no sessions */
    struct mb_lora *lora; /* a LoRA adapter (model/lora.h), or NULL */
    char desc[224];
};

/* Read and validate hyper-parameters. */
mb_status mb_hparams_read(const mb_gguf *g, mb_hparams *hp);
/* Bind and shape-check every tensor the architecture needs. */
mb_status mb_model_bind_weights(mb_model *m);

/* If a session of N_CTX positions exceeds the model's sliding window, write
 * the notice that windowed attention is not implemented (attention covers the
 * whole context) to BUF and return 1; else return 0. */
int mb_sliding_window_notice(const mb_hparams *hp, int n_ctx, char *buf, size_t cap);

#endif
