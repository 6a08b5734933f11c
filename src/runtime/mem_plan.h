/* The memory model: what a configuration of a model holds resident at its
 * peak, part by part. One place that `matchbox fit` (mb_fit), session
 * creation and the engine's slots all read, so that their numbers agree. The
 * forward pass's and the expert buffers' sizes come from the tables their
 * allocations use (mb_forward_buffer_bytes, mb_moe_work_bytes). */
#ifndef MB_RUNTIME_MEM_PLAN_H
#define MB_RUNTIME_MEM_PLAN_H

#include <stdint.h>

#include "format/gguf.h"
#include "matchbox/fit.h"
#include "model/model.h"

/* Distinct matrix shapes whose packed panels the plan sizes (beyond: the
 * largest panels kept). */
#define MB_MEM_PACK_SHAPES 16

/* What the plan needs of a model: from its metadata and tensor table. */
typedef struct {
    mb_hparams hp; /* n_vocab set */
    uint64_t file_bytes, data_offset, weight_bytes;
    uint64_t embd_bytes;      /* token_embd.weight: decode reads only looked-up rows ... */
    int tied;                 /* ... unless the output projection shares it */
    uint64_t layer_bytes_max; /* the largest blk.N's tensors */
    uint64_t nonlayer_bytes;  /* tensors outside the blocks (embeddings, output, norms) */
    uint64_t expert_bytes;    /* the experts' tensors (MoE), read n_expert_used / n_expert */
    uint64_t converted_bytes; /* norm vectors stored in non-F32 types, converted at load */
    uint64_t vocab_bytes;     /* the tokenizer's tables and the metadata's index */
    /* The packed batch products' panels (0 shapes: nothing packs): per
     * distinct matrix shape, the bytes of one panel and the panels in the
     * matrix; a thread packs a tile of its share of the panels. */
    struct {
        uint64_t panel_bytes, panels;
    } pack[MB_MEM_PACK_SHAPES];
    int n_pack;
    double act_bytes_per_value; /* the widest activation type the matrices convert rows to */
    int lora_rank;              /* a LoRA adapter's largest rank; 0: none */
} mb_mem_model;

/* Read M from G's header and tensor table. HP: hyper-parameters already read
 * (a loaded model's), or NULL to read them (and n_vocab) here. */
mb_status mb_mem_model_read(const mb_gguf *g, const mb_hparams *hp, mb_mem_model *m);

/* The context a session makes for a requested N_CTX (0: min(4096, trained)),
 * and its prefill chunk (at most 512, at most the context). */
int mb_mem_n_ctx(const mb_hparams *hp, int n_ctx);
int mb_mem_n_batch(int n_ctx);

/* KV cache bytes for N_CTX positions with K and V stored in TYPE_K/TYPE_V
 * (GGUF type ids: F16, Q8_0, Q4_0), windowed layers' rings included. */
uint64_t mb_mem_kv_bytes(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full, int type_k,
                         int type_v);

/* The plan of P (merged, ram resolved to a number) for M into R: every part,
 * the total, whether it fits, the largest context and slot count that fit,
 * and the decode speed when P has a bandwidth. */
void mb_mem_plan(const mb_mem_model *m, const mb_fit_params *p, mb_fit_result *r);

/* "needs 1.20 GiB (weights 1.00 GiB, KV 128.0 MiB for 2048 positions F16,
 * ...) but 900.0 MiB are available" for an error message. */
void mb_mem_describe(const mb_fit_result *r, char *buf, size_t cap);

/* The bytes a session adds once the model is loaded (its own parts, and
 * the mapped weights' pages it will read), and the plan's bytes already
 * resident after the load (the program, the tokenizer, weights read into
 * memory). */
uint64_t mb_mem_session_bytes(const mb_fit_result *r);
uint64_t mb_mem_loaded_bytes(const mb_fit_result *r);

/* Refuse P for a loaded MODEL when its plan does not fit in MemAvailable plus
 * what the load already made resident: MB_ERR_NO_MEMORY, "WHAT needs ...
 * (the parts) but ... are available; try -c N, or ..." (mb_fit_suggest). */
mb_status mb_mem_check(const mb_model *model, const mb_fit_params *p, const char *what);

/* The program's own resident bytes before a model is loaded, when the caller
 * does not say (mb_fit_params.base_bytes 0), and what running a model adds
 * to it (kernel code, conversion tables). Measured on x86-64 Linux. */
enum { MB_MEM_BASE_BYTES = 9 << 20, MB_MEM_RUN_EXTRA_BYTES = 3 << 19 };

#endif
