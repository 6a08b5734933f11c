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

/* The feed-forward gate's activation: SwiGLU (llama, qwen, phi3) or GeGLU
 * with the tanh form of GELU (gemma). */
typedef enum { MB_FFN_SILU, MB_FFN_GELU } mb_ffn_act;

enum { MB_MAX_LAYERS = 512 };

typedef struct {
    char arch[32];
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int n_rot; /* dimensions of each head that RoPE rotates */
    mb_rope_mode rope_mode;
    int qkv_bias;                /* 1: attn_q/k/v.bias are required (qwen2) */
    int qk_norm;                 /* 1: RMS norm of each Q and K head (qwen3, gemma3) */
    int post_norm;               /* 1: norms on the attention and FFN outputs (gemma) */
    mb_ffn_act ffn_act;          /* gate activation */
    int n_expert, n_expert_used; /* mixture of experts; 0 for dense models */
    int n_ff_exp;                /* each expert's hidden size (n_ff unless the file says) */
    float embd_scale;            /* token embeddings times this (gemma: sqrt(n_embd)); 1 else */
    /* Attention scores: q . k times attn_scale; q_prescale: Q is multiplied
     * by it before its F16 rounding (gemma, phi3, as the reference computes),
     * else the scores are. Soft caps: c tanh(x / c) of the scores and of the
     * final logits where > 0 (gemma2). */
    float attn_scale;
    int q_prescale;
    float attn_softcap, final_softcap;
    /* Windowed attention: a layer with swa_layer[il] set sees only the last
     * sliding_window positions (its own included); 0: no windowed layers. */
    int sliding_window;
    unsigned char swa_layer[MB_MAX_LAYERS];
    float rope_base, rms_eps;
    float rope_base_swa; /* RoPE base of windowed layers (gemma3: 10000 by default) */
    int rope_scale_swa;  /* 1: linear scaling applies to windowed layers too */
    mb_rope_scaling rope_scaling;
    float rope_freq_scale;  /* 1 / scaling factor */
    float rope_attn_factor; /* rope.scaling.attn_factor: cos/sin scale (LongRoPE, YaRN) */
    int yarn_orig_ctx;
    float yarn_attn_factor, yarn_beta_fast, yarn_beta_slow;
} mb_hparams;

typedef struct {
    const float *attn_norm, *ffn_norm;
    const float *q_norm, *k_norm;                /* [head_dim] each, or NULL */
    const float *post_attn_norm, *post_ffn_norm; /* [n_embd] each, or NULL */
    /* Phi-3's fused attn_qkv and gate+up ffn_up are bound as row ranges of
     * one tensor: the views below point into it, so nothing changes
     * downstream. */
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
    /* Phi-3 LongRoPE divisors: long past rope.scaling.original_context_length
     * positions of context, short within it; NULL when the file has none. */
    const float *rope_factors_long, *rope_factors_short;
    mb_layer *layers;
    mb_matrix *expert_mats; /* [layer][gate, up, down][expert] */
    float *owned_vectors;   /* norm weights stored in non-F32 types, converted */
    char *chat_template;    /* mb_model_set_chat_template's text, or NULL */
    size_t max_piece;       /* the longest token's text (render_special off), bytes */
    _Atomic int n_users;    /* sessions and batches made from it: LoRA must come first */
    size_t chat_template_len;
    uint64_t weight_bytes;
    int is_mmap;
    int vocab_only;       /* loaded with mb_model_params.vocab_only: no weights, no sessions */
    struct mb_lora *lora; /* a LoRA adapter (model/lora.h), or NULL */
    /* Weights under a memory budget (model/stream.h): the streamed layers,
     * embedding rows and experts; NULL when every weight is resident. */
    struct mb_stream *stream;
    uint64_t ram_weight_bytes; /* what the weights hold in RAM (the plan's, or all) */
    void *resident_block;      /* the resident weights of a streamed model (anonymous memory) */
    size_t resident_size;
    char desc[224];
    /* The grammar's sorted vocabulary (runtime/grammar_vocab.c), built by
     * the first grammar state that needs it and read by every later one;
     * NULL until then. Its first member is its destructor (mb_model_free
     * calls it), so this layer needs no knowledge of its type. */
    _Atomic(void *) grammar_vocab;
};

/* What a derived object shared through the model starts with. */
typedef void (*mb_model_shared_free_fn)(void *obj);

/* The grammar vocabulary published for M, or NULL. */
void *mb_model_grammar_vocab(const mb_model *m);
/* Publish OBJ (whose first member is an mb_model_shared_free_fn) as M's
 * grammar vocabulary unless another thread published one first: returns
 * the one kept. When that is not OBJ the caller frees OBJ. */
void *mb_model_publish_grammar_vocab(const mb_model *m, void *obj);

/* Reorder the Q4_0 weight matrices of a model whose weights are in memory
 * into 16-row groups where the CPU's kernels gain from it (repack.c). */
void mb_model_repack(mb_model *m, int verbose);

/* Read and validate hyper-parameters. */
mb_status mb_hparams_read(const mb_gguf *g, mb_hparams *hp);
/* Bind and shape-check every tensor the architecture needs. */
mb_status mb_model_bind_weights(mb_model *m);

/* The number of windowed layers. */
int mb_hparams_n_swa_layers(const mb_hparams *hp);

#endif
